"""Players reporting heartbeats while hosts read: throughput, ack latency, freshness, exactness.

    python bench/ingest.py --quick
    python bench/ingest.py --quick --shape collector --players 4
    python bench/ingest.py --dsn postgresql://... --event 1 --players 50 --seconds 30

Each simulated player signs up, picks a session with analytics and an unknown
duration (so nothing is clipped and the expected numbers are simple), and
sends recordWatch batches of --batch overlapping 15 s heartbeats moving
forward 10 s each, back to back. A host reads the whole event (every session's
watch time, pages of 1000) every --read-interval seconds: for each
read it notes the acks that were complete before it started, and checks
that every one of them is visible (the freshness lag is from the newest such
ack to the end of the read). At the end, every session's live watch time must
equal what was there before plus what the players covered, and the rollups
must equal a recount from the raw segments.

--shape collector: what a server-side collector sends instead. Each player's
batches hold --batch segments (1000 unless given) spread over up to --spread
sessions (200) with analytics, known duration or not, and both modes: per
(session, mode) the next few heartbeats of that player's contiguous run, so
the expected seconds are the run clipped to the duration. Lock waits are
sampled from pg_stat_activity every 20 ms, and deadlocks counted from
pg_stat_database, during the run.

--observe N: N rounds of the same run against the server with metrics on (as
deployed), metrics off, and every request traced (OTLP to a local sink), in turn;
the last lines are the medians' ratios against metrics off.
"""

import asyncio
import random
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import orjson
from common import (
    OBSERVE,
    RawClient,
    cpu_seconds,
    login,
    machine,
    median,
    observe_env,
    otlp_sink,
    percentile,
    server_process,
)
from generate import HOST_EMAIL, PASSWORD, event_parser, parse_event_args, quick_or_given

from gql_server.db import create_pool
from gql_server.repo.sessions import ANALYTICS_CONDITION
from gql_server.repo.verify import find_rollup_mismatches

RECORD = "mutation($s: [WatchSegmentInput!]!) { recordWatch(segments: $s) { accepted } }"
SESSIONS = """
query($e: ID!, $after: String) { event(id: $e) { sessions(first: 1000, after: $after) {
  pageInfo { hasNextPage endCursor } nodes { id watchTime { live recording } } } } }
"""
SIGN_UP = """
mutation($e: String!, $p: String!) { signUp(email: $e, password: $p, name: "Player") { id } }
"""


Key = tuple[str, str]  # (session id, mode)


@dataclass
class Totals:
    """What the server must show: seconds per (session, mode), known client-side."""

    expected: dict[Key, int]
    acked_at: list[float] = field(default_factory=list)
    ack_latency: list[float] = field(default_factory=list)
    segments: int = 0


async def gql(client: RawClient, query: str, variables: dict[str, Any], token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = orjson.dumps({"query": query, "variables": variables})
    status, raw = await client.post("/graphql", body, headers)
    answer = orjson.loads(raw)
    if status != 200 or "errors" in answer:
        raise SystemExit(f"request failed: {raw[:300]!r}")
    return answer["data"]


async def watched_seconds(client: RawClient, token: str, event_id: int) -> dict[Key, int]:
    """Every session's watch time per mode, read as a host would (pages of 1000)."""
    seen: dict[Key, int] = {}
    after = None
    while True:
        data = await gql(client, SESSIONS, {"e": event_id, "after": after}, token)
        page = data["event"]["sessions"]
        for n in page["nodes"]:
            if n["watchTime"]:
                seen[(n["id"], "LIVE")] = n["watchTime"]["live"]
                seen[(n["id"], "RECORDING")] = n["watchTime"]["recording"]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def sign_up_player(url: str, index: int) -> str:
    client = RawClient(url)
    email = f"player{index}-{time.time_ns()}@bench.example"
    await gql(client, SIGN_UP, {"e": email, "p": PASSWORD}, None)
    await client.close()
    return login(url, email, PASSWORD)


# recordWatch refuses LIVE positions past a session's scheduled length plus 6 h
# (docs/security.md); a player moves on to a session it has not watched before
# it gets there, so its union on each session stays one contiguous run.
LIVE_REACH = 6 * 3600


async def player(url: str, index: int, token: str, sessions: list[str], totals: Totals,
                 args: Any, deadline: float) -> None:  # fmt: skip
    client = RawClient(url)
    rotation = iter(sessions[index % len(sessions) :] + sessions[: index % len(sessions)])
    session = next(rotation)
    start = random.Random(index).randrange(0, 600)
    position = start
    while time.perf_counter() < deadline:
        if position + 10 * args.batch + 15 > LIVE_REACH:
            session = next(rotation)  # StopIteration: the event is too small for the run
            start = position = random.Random(index).randrange(0, 600)
        batch = []
        for _ in range(args.batch):
            batch.append({"sessionId": session, "mode": "LIVE",
                          "startSecond": position, "endSecond": position + 15})  # fmt: skip
            position += 10
        began = time.perf_counter()
        await gql(client, RECORD, {"s": batch}, token)
        acked = time.perf_counter()
        # This player's union is [start, position + 5): contiguous, never clipped.
        first = position - 10 * args.batch == start
        totals.expected[(session, "LIVE")] += 10 * args.batch + (5 if first else 0)
        totals.ack_latency.append((acked - began) * 1000)
        totals.acked_at.append(acked)
        totals.segments += len(batch)
    await client.close()


@dataclass
class Run:
    """A collector's contiguous heartbeats for one (session, mode): [start, position + 5)."""

    session: str
    mode: str
    duration: int | None
    start: int
    position: int

    def covered(self) -> int:
        """Seconds of the run so far, clipped to the duration."""
        end = self.position + 5 if self.position > self.start else self.start
        if self.duration is not None:
            return max(0, min(end, self.duration) - min(self.start, self.duration))
        return end - self.start


async def collector(url: str, index: int, token: str, sessions: dict[str, int | None],
                    totals: Totals, args: Any, deadline: float) -> None:  # fmt: skip
    """Batches of --batch segments over --spread sessions and both modes."""
    client = RawClient(url)
    rng = random.Random(index)
    chosen = rng.sample(sorted(sessions), min(args.spread, len(sessions)))
    runs = [Run(s, mode, sessions[s], start, start)
            for s in chosen for mode in ("LIVE", "RECORDING")
            for start in [rng.randrange(0, 600)]]  # fmt: skip
    while time.perf_counter() < deadline:
        before = {id(r): r.covered() for r in runs}
        batch = []
        for i in range(args.batch):
            run = runs[i % len(runs)]
            batch.append({"sessionId": run.session, "mode": run.mode, "startSecond": run.position,
                          "endSecond": run.position + 15})  # fmt: skip
            run.position += 10
        rng.shuffle(batch)  # a collector's batch is in no particular order
        began = time.perf_counter()
        await gql(client, RECORD, {"s": batch}, token)
        acked = time.perf_counter()
        for run in runs:
            totals.expected[(run.session, run.mode)] += run.covered() - before[id(run)]
        totals.ack_latency.append((acked - began) * 1000)
        totals.acked_at.append(acked)
        totals.segments += len(batch)
    await client.close()


async def lock_sampler(pool: Any, deadline: float, waits: list[int]) -> None:
    """How many backends wait for a lock, every 20 ms."""
    while time.perf_counter() < deadline:
        waits.append(await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))  # fmt: skip
        await asyncio.sleep(0.02)


async def deadlocks(pool: Any) -> int:
    count: int = await pool.fetchval(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    )
    return count


async def reader(url: str, token: str, event_id: int, totals: Totals, deadline: float,
                 lags: list[float], stale: list[Key], args_interval: float) -> None:  # fmt: skip
    client = RawClient(url)
    while time.perf_counter() < deadline:
        acks_before = len(totals.acked_at)
        newest_ack = totals.acked_at[-1] if acks_before else None
        expected = dict(totals.expected)
        seen = await watched_seconds(client, token, event_id)
        done = time.perf_counter()
        stale += [s for s, value in expected.items() if seen.get(s, 0) < value]
        if newest_ack is not None:
            lags.append((done - newest_ack) * 1000)
        await asyncio.sleep(args_interval)
    await client.close()


async def run(dsn: str, url: str, server_pid: int, event_id: int, args: Any) -> dict[str, float]:
    # No statement limit: the final recount of 10M raw segments takes ~30 s.
    pool = await create_pool(dsn, min_size=1, max_size=3, command_timeout=None)
    token = login(url, HOST_EMAIL, PASSWORD)
    heartbeats = args.shape == "heartbeats"
    # Heartbeats: only sessions of unknown duration (nothing clipped); a
    # collector's runs are clipped client-side, so any session with analytics.
    rows = await pool.fetch(
        "SELECT s.id, s.video_duration FROM sessions s WHERE s.event_id = $1"
        f" AND ($2 OR s.video_duration IS NULL) AND {ANALYTICS_CONDITION} ORDER BY s.id",
        event_id, not heartbeats)  # fmt: skip
    sessions = {str(r["id"]): r["video_duration"] for r in rows}
    targets = list(sessions)
    if not targets:
        raise SystemExit("the event has no session with analytics and an unknown duration")
    baseline = await watched_seconds(RawClient(url), token, event_id)
    totals = Totals(expected={k: baseline[k] for k in baseline if k[0] in sessions})
    lags: list[float] = []
    stale: list[Key] = []
    waits: list[int] = []
    tokens = [await sign_up_player(url, i) for i in range(args.players)]
    deadlocks_before = await deadlocks(pool)
    began = time.perf_counter()
    server_cpu = cpu_seconds(server_pid)
    client_cpu = time.process_time()
    deadline = began + args.seconds
    if heartbeats:
        players = [player(url, i, tokens[i], targets, totals, args, deadline)
                   for i in range(args.players)]  # fmt: skip
    else:
        players = [collector(url, i, tokens[i], sessions, totals, args, deadline)
                   for i in range(args.players)]  # fmt: skip
    await asyncio.gather(
        *players,
        reader(url, token, event_id, totals, deadline, lags, stale, args.read_interval),
        lock_sampler(pool, deadline, waits),
    )  # fmt: skip
    elapsed = time.perf_counter() - began
    server_cpu = cpu_seconds(server_pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    new_deadlocks = await deadlocks(pool) - deadlocks_before
    final = await watched_seconds(RawClient(url), token, event_id)
    exact = all(final[k] == totals.expected[k] for k in totals.expected)
    mismatches = await find_rollup_mismatches(pool, event_id)
    await pool.close()
    rate = totals.segments / elapsed
    waiting = sum(1 for w in waits if w) / max(1, len(waits))
    spread = f" over {min(args.spread, len(sessions))} sessions" if not heartbeats else ""
    print(f"machine: {machine()}; {args.players} players, {args.shape}, batches of {args.batch}"
          f"{spread}, {elapsed:.1f} s")  # fmt: skip
    print(f"  accepted {totals.segments} segments in {len(totals.ack_latency)} acks:"
          f" {rate:.0f} segments/s")  # fmt: skip
    print(f"  ack latency p50 {median(totals.ack_latency):.1f} ms,"
          f" p99 {percentile(totals.ack_latency, 0.99):.1f} ms")  # fmt: skip
    print(f"  freshness lag p50 {median(lags):.1f} ms, p99 {percentile(lags, 0.99):.1f} ms,"
          f" reads {len(lags)}, stale reads {len(stale)}")  # fmt: skip
    print(f"  lock waits: a backend waiting in {waiting:.0%} of {len(waits)} samples"
          f" (at most {max(waits, default=0)} at once); deadlocks {new_deadlocks}")  # fmt: skip
    # Less noisy than segments/s when the load generator shares the cores.
    cpu_per_batch = server_cpu * 1000 / max(1, len(totals.ack_latency))
    print(f"  server CPU {server_cpu:.1f} s ({server_cpu / elapsed:.0%} of a core),"
          f" {cpu_per_batch:.2f} ms per batch incl. the host's reads;"
          f" load generator CPU {client_cpu:.1f} s")  # fmt: skip
    print(f"  exact: API = expected {exact}; rollups = raw recount {not mismatches}")
    print(f"segments_per_s={rate:.0f} acks={len(totals.ack_latency)}"
          f" ack_p50_ms={median(totals.ack_latency):.1f}"
          f" ack_p99_ms={percentile(totals.ack_latency, 0.99):.1f}"
          f" freshness_p50_ms={median(lags):.1f} freshness_p99_ms={percentile(lags, 0.99):.1f}"
          f" server_cpu_ms_per_batch={cpu_per_batch:.2f}"
          f" lock_wait_share={waiting:.3f} deadlocks={new_deadlocks}"
          f" stale_reads={len(stale)} exact={str(exact and not mismatches).lower()}")  # fmt: skip
    return {
        "segments_per_s": rate,
        "cpu_ms_per_batch": cpu_per_batch,
        "ack_p50_ms": median(totals.ack_latency),
        "exact": float(exact and not mismatches),
    }


def main() -> None:
    parser = event_parser(__doc__)
    parser.add_argument("--players", type=int, default=20)
    parser.add_argument("--shape", choices=["heartbeats", "collector"], default="heartbeats")
    parser.add_argument("--batch", type=int, help="segments per recordWatch (100; collector 1000)")
    parser.add_argument("--spread", type=int, default=200,
                        help="collector: sessions one player's batches cover")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--plain", action="store_true",
                        help="the server with GQL_SERVER_FAST_PATHS=false")  # fmt: skip
    parser.add_argument("--read-interval", type=float, default=0.25,
                        help="seconds between the host's reads of the whole event")  # fmt: skip
    parser.add_argument("--observe", type=int, metavar="ROUNDS", default=0,
                        help="rounds of: metrics on, off, every request traced")  # fmt: skip
    args = parse_event_args(parser, quick_seconds=10.0, seconds=30.0)
    if args.batch is None:
        args.batch = 100 if args.shape == "heartbeats" else 1000
    with ExitStack() as stack:
        dsn, event_id = quick_or_given(stack, args)
        if args.observe:
            observe(stack, dsn, event_id, args)
            return
        url, process = stack.enter_context(
            server_process(dsn, workers=args.workers, fast_paths=not args.plain)
        )
        asyncio.run(run(dsn, url, process.pid, event_id, args))


def observe(stack: ExitStack, dsn: str, event_id: int, args: Any) -> None:
    """What watching costs: each configuration of common.OBSERVE in turn, --observe
    rounds, on the same data; medians against metrics off."""
    sink = stack.enter_context(otlp_sink())
    results: dict[str, list[dict[str, float]]] = {config: [] for config in OBSERVE}
    for round_ in range(1, args.observe + 1):
        for config in OBSERVE:
            print(f"round {round_}, {config}:")
            extra_env = observe_env(config, sink)
            fast = not args.plain
            with server_process(
                dsn, workers=args.workers, fast_paths=fast, extra_env=extra_env
            ) as (url, process):
                results[config].append(asyncio.run(run(dsn, url, process.pid, event_id, args)))
    off = {k: median([r[k] for r in results["no-metrics"]]) for k in results["no-metrics"][0]}
    for config in ("metrics", "traced"):
        on = {k: median([r[k] for r in results[config]]) for k in off}
        cpu = on["cpu_ms_per_batch"] / off["cpu_ms_per_batch"]
        print(f"observe_{config}: cpu_per_batch={cpu:.3f}"
              f" segments_per_s={on['segments_per_s'] / off['segments_per_s']:.3f}"
              f" ack_p50={on['ack_p50_ms'] / off['ack_p50_ms']:.3f} (/ metrics off;"
              f" {on['cpu_ms_per_batch']:.2f} vs {off['cpu_ms_per_batch']:.2f} ms per batch)"
              f" exact={all(r['exact'] for r in results[config])}")  # fmt: skip


if __name__ == "__main__":
    main()
