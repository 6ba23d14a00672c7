"""A mixed load for a fixed time: reads, heartbeats, sign-ins and bad requests.

    python bench/mixed.py --quick
    python bench/mixed.py --dsn postgresql://... --event 1 --seconds 60

Starts `gql-server serve` on loopback and runs, side by side for --seconds:
hosts reloading a page of 100 sessions with every analytics field, players
sending recordWatch batches, a sign-in client (right passwords, wrong ones for
unknown addresses, and wrong ones for one address until it is locked), and a
client sending every kind of bad request (not JSON, bad syntax, unknown
fields, too deep, too many aliases, too large, GET mutations, wrong media
type, bad tokens, missing events, not a host, invalid segments). Prints
requests served, error counts by code, p50/p99 per kind and overall, and the
server process's peak resident memory. Any 5xx other than 503 is a bug.
"""

import asyncio
import itertools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from functools import partial
from typing import Any

import orjson
import psutil
from common import RawClient, login, machine, median, percentile, server_process
from generate import HOST_EMAIL, PASSWORD, event_parser, parse_event_args, quick_or_given
from ingest import SIGN_UP
from read import WITH_WATCH

from gql_server.db import create_pool

RECORD = "mutation($s: [WatchSegmentInput!]!) { recordWatch(segments: $s) { accepted } }"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
Request = tuple[str, str, bytes, dict[str, str], str]  # method, path, body, headers, media


def gql(query: str, variables: dict[str, Any] | None = None, token: str | None = None,
        method: str = "POST") -> Request:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = orjson.dumps({"query": query, "variables": variables or {}})
    return method, "/graphql", body, headers, "application/json"


class Tally:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.codes: Counter[str] = Counter()

    async def send(self, client: RawClient, kind: str, request: Request) -> Any:
        method, path, body, headers, media = request
        began = time.perf_counter()
        status, raw = await client.request(method, path, body, headers, media)
        self.latency[kind].append((time.perf_counter() - began) * 1000)
        answer = orjson.loads(raw) if raw else {}
        errors = answer.get("errors", []) if isinstance(answer, dict) else []
        if errors:
            self.codes.update(str(e.get("extensions", {}).get("code", "none")) for e in errors)
        elif status != 200:
            self.codes[f"http {status} without errors"] += 1
        if status >= 500 and status != 503:
            self.codes[f"http {status}"] += 1
        return answer


async def loop(deadline: float, work: Callable[[], Awaitable[Any]]) -> None:
    while time.perf_counter() < deadline:
        await work()


def doubling_fragments(levels: int) -> str:
    fragments = ["fragment F0 on Query { __typename }"]
    fragments += [
        f"fragment F{k} on Query {{ ...F{k - 1} ...F{k - 1} }}" for k in range(1, levels)
    ]
    return f"{{ ...F{levels - 1} }} " + " ".join(fragments)


def costly_page(host: str, event_id: int) -> Request:
    """A host's page of 1,000 sessions with viewers, retention and 25 concurrency curves."""
    concurrency = " ".join(f"c{i}: concurrency {{ points {{ viewers }} }}" for i in range(25))
    query = (
        "query($e: ID!) { event(id: $e) { sessions(first: 1000) { nodes {"
        " viewers(first: 100) { nodes { user { name } liveWatchedSeconds } }"
        f" retention(mode: LIVE) {{ points {{ percent }} }} {concurrency} }} }} }} }}"
    )
    return gql(query, {"e": event_id}, host)


def bad_requests(event_id: int, session: str, player: str, host: str) -> list[tuple[str, Request]]:
    too_deep = "query { " + "event(id: 1) { sessions { nodes { " * 3 + "id" + " } } }" * 3 + " }"
    aliases = "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }"
    method, path, _, headers, media = gql("{ me { id } }")
    new_session = "mutation($e: ID!, $i: CreateSessionInput!) { createSession(eventId: $e, input: $i) { id } }"  # noqa: E501
    year_one = {"title": "t", "startTime": "0001-01-01T00:30:00+01:00", "format": "OTHER",
                "endTime": "2026-12-01T10:00:00+00:00"}  # fmt: skip
    return [
        # Found by the outside security probe (issue 17): each was slow or a 500.
        ("fragments x2^20", gql(doubling_fragments(20))),
        ("495 fields", gql("{ " + " ".join("me { id }" for _ in range(495)) + " }")),
        ("costly page", costly_page(host, event_id)),
        ("two operations", gql("query A { __typename } query B { me { id } }")),
        ("900 KB email", gql(LOGIN, {"e": "x" * 900_000 + "@example.com", "p": "wrong-pass"})),
        ("year 1", gql(new_session, {"e": event_id, "i": year_one}, host)),
        ("not json", ("POST", "/graphql", b"{not json", {}, "application/json")),
        ("syntax", gql("{ me { id ")),
        ("unknown field", gql("{ nope }")),
        ("too deep", gql(too_deep)),
        ("aliases", gql(aliases)),
        ("too large", (method, path, b" " * 1_100_000, headers, media)),
        ("GET mutation", ("GET", "/graphql?query=mutation%7Blogout%7D", b"", {}, media)),
        ("media type", ("POST", "/graphql", b"query", {}, "text/plain")),
        ("bad token", gql("{ me { id } }", token="not-a-token")),
        ("no event", gql(WITH_WATCH, {"e": 987654321, "first": 1}, player)),
        ("not host", gql(WITH_WATCH, {"e": event_id, "first": 1}, player)),
        ("bad segment", gql(RECORD, {"s": [{"sessionId": session, "mode": "LIVE",
                                            "startSecond": 5, "endSecond": 1}]}, player)),
    ]  # fmt: skip


async def run(dsn: str, url: str, event_id: int, pid: int, args: Any) -> dict[str, Any]:
    pool = await create_pool(dsn, min_size=1, max_size=1)
    sessions = [str(r["id"]) for r in await pool.fetch(
        "SELECT id FROM sessions WHERE event_id = $1 AND format NOT IN ('WORKSHOP', 'MEET_UP')"
        " AND stream_provider IN ('YOUTUBE', 'VIMEO', 'VOXEET', 'TOKBOX', 'DIRECT_UPLOAD')",
        event_id)]  # fmt: skip
    await pool.close()
    host = login(url, HOST_EMAIL, PASSWORD)
    tally = Tally()
    setup = RawClient(url)
    stamp = time.time_ns()
    emails = [f"mixed{i}-{stamp}@bench.example" for i in range(args.players + 1)]
    for email in emails:
        await tally.send(setup, "setup", gql(SIGN_UP, {"e": email, "p": PASSWORD}))
    await setup.close()
    tokens = [login(url, email, PASSWORD) for email in emails[1:]]
    tally.latency.pop("setup")

    deadline = time.perf_counter() + args.seconds
    works: list[Callable[[], Awaitable[Any]]] = []
    page = gql(WITH_WATCH, {"e": event_id, "first": 100}, host)
    works += [partial(tally.send, RawClient(url), "read", page) for _ in range(args.readers)]
    for index, token in enumerate(tokens):
        client, position = RawClient(url), itertools.count(0, 10)
        session = sessions[index % len(sessions)]

        def heartbeat(c: RawClient = client, t: str = token, s: str = session,
                      pos: Any = position) -> Awaitable[Any]:  # fmt: skip
            spans = [{"sessionId": s, "mode": "LIVE", "startSecond": (p := next(pos)),
                      "endSecond": p + 15} for _ in range(args.batch)]  # fmt: skip
            return tally.send(c, "watch", gql(RECORD, {"s": spans}, t))

        works.append(heartbeat)
    attempts = itertools.count()

    sign_in_client, abuse_client = RawClient(url), RawClient(url)

    def sign_in(c: RawClient = sign_in_client) -> Awaitable[Any]:
        n = next(attempts)
        email, password = [(emails[0], PASSWORD), (f"nobody{n}@bench.example", "wrong-pass"),
                           ("victim@bench.example", "wrong-pass")][n % 3]  # fmt: skip
        return tally.send(c, "sign-in", gql(LOGIN, {"e": email, "p": password}))

    works.append(sign_in)
    bad = itertools.cycle(bad_requests(event_id, sessions[0], tokens[0], host))
    bad_latency: dict[str, list[float]] = defaultdict(list)

    async def abuse(c: RawClient = abuse_client) -> None:
        name, request = next(bad)
        began = time.perf_counter()
        await tally.send(c, "bad", request)
        bad_latency[name].append((time.perf_counter() - began) * 1000)

    works.append(abuse)

    peak = [0]
    watching = threading.Event()

    def watch_memory() -> None:
        process = psutil.Process(pid)
        while not watching.is_set():
            try:
                rss = process.memory_info().rss + sum(
                    child.memory_info().rss for child in process.children(recursive=True)
                )
            except psutil.Error:
                break
            peak[0] = max(peak[0], rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=watch_memory)
    sampler.start()
    began = time.perf_counter()
    try:
        await asyncio.gather(*(loop(deadline, work) for work in works))
    finally:
        watching.set()
        sampler.join()
    elapsed = time.perf_counter() - began

    everything = [ms for samples in tally.latency.values() for ms in samples]
    print(f"machine: {machine()}; {elapsed:.1f} s; {args.readers} host readers,"
          f" {args.players} players (batches of {args.batch}), 1 sign-in client,"
          f" 1 bad-request client")  # fmt: skip
    for kind, samples in sorted(tally.latency.items()):
        p50, p99 = median(samples), percentile(samples, 0.99)
        print(f"  {kind:8} {len(samples):6} requests {len(samples) / elapsed:7.1f}/s"
              f"  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")  # fmt: skip
    print("  bad requests, slowest first (median ms each; all refused before execution):")
    slowest = sorted(bad_latency.items(), key=lambda item: -median(item[1]))
    print("    " + ", ".join(f"{name} {median(ms):.1f}" for name, ms in slowest))
    print("  error codes: " + ", ".join(f"{code}: {n}" for code, n in sorted(tally.codes.items())))
    server_errors = sum(n for code, n in tally.codes.items() if code.startswith("http 5"))
    server_errors += tally.codes.get("500", 0)
    return {
        "requests": len(everything),
        "rps": round(len(everything) / elapsed, 1),
        "p50_ms": round(median(everything), 1),
        "p99_ms": round(percentile(everything, 0.99), 1),
        "errors": sum(tally.codes.values()),
        "server_errors": server_errors,
        "peak_rss_mib": round(peak[0] / 2**20, 1),
    }


def main() -> None:
    parser = event_parser(__doc__)
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--players", type=int, default=6)
    parser.add_argument("--batch", type=int, default=50, help="segments per recordWatch")
    args = parse_event_args(parser, quick_seconds=10.0, seconds=30.0)
    with ExitStack() as stack:
        dsn, event_id = quick_or_given(stack, args)
        url, process = stack.enter_context(server_process(dsn))
        figures = asyncio.run(run(dsn, url, event_id, process.pid, args))
    print(" ".join(f"{key}={value}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
