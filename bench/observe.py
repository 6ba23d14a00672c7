"""What watching the server costs per request, measured so that a few percent shows.

    python bench/observe.py --quick
    python bench/observe.py --dsn postgresql://... --event 1 --rounds 15 --requests 400

Three servers on the same data, one process each, all up at once: as deployed
(metrics on), with metrics off (GQL_SERVER_METRICS=false), and with every request
traced (100 % sampled, exported over OTLP/HTTP to a local sink that drops them).
Each round sends --requests requests of each workload to each server in turn, one
at a time on one keep-alive connection (no load generator competing for the cores
with the server), and reads the server's CPU from /proc around them. A round's
figure is each server's CPU per request over metrics off's in the same round; the
result is the median of those ratios over the rounds, with their spread.

Workloads: the sessions page (the first 100 sessions with every field, as
bench/peer.py's identical workload), and a recordWatch batch of 100 heartbeats
moving forward (as bench/ingest.py's players; each server has its own player).
bench/peer.py --observe and bench/ingest.py --observe measure the same three
configurations under their own loads (concurrency, the host's reads).
"""

import asyncio
import itertools
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack

import orjson
from common import (
    OBSERVE,
    RawClient,
    cpu_seconds,
    login,
    machine,
    observe_env,
    otlp_sink,
    server_process,
)
from generate import HOST_EMAIL, PASSWORD, event_parser, parse_event_args, quick_or_given
from ingest import LIVE_REACH, RECORD, sign_up_player
from peer import OURS

from gql_server.db import create_pool
from gql_server.repo.sessions import ANALYTICS_CONDITION
from gql_server.telemetry.metrics import Metrics

BATCH = 100


class Workloads:
    """One server's bodies: the page (always the same), and the next batch of its player."""

    def __init__(self, event_id: int, sessions: list[str], host: str, player: str) -> None:
        page = {"query": OURS, "variables": {"e": str(event_id), "first": 100}}
        self.page = orjson.dumps(page)
        self.host = {"Authorization": f"Bearer {host}"}
        self.player = {"Authorization": f"Bearer {player}"}
        # Round and round: a pass over a session again re-covers seconds its player
        # watched (a rewatch), costing the same in every configuration.
        self.sessions = itertools.cycle(sessions)
        self.session = next(self.sessions)
        self.position = 0

    def page_body(self) -> bytes:
        return self.page

    def batch(self) -> bytes:
        if self.position + 10 * BATCH + 15 > LIVE_REACH:
            self.session, self.position = next(self.sessions), 0
        segments = []
        for _ in range(BATCH):
            start = self.position
            segments.append(
                {"sessionId": self.session, "mode": "LIVE", "startSecond": start,
                 "endSecond": start + 15}
            )  # fmt: skip
            self.position += 10
        return orjson.dumps({"query": RECORD, "variables": {"s": segments}})


async def cpu_per_request(url: str, pid: int, bodies: Callable[[], bytes], headers: dict[str, str],
                          count: int) -> float:  # fmt: skip
    """Server CPU in ms per request over `count` requests, one at a time."""
    client = RawClient(url)
    status, _ = await client.post("/graphql", bodies(), headers)  # warm the connection
    assert status == 200
    before = cpu_seconds(pid)
    for _ in range(count):
        status, answer = await client.post("/graphql", bodies(), headers)
        if status != 200 or b'"errors"' in answer:
            raise SystemExit(f"{url}: {status} {answer[:300]!r}")
    spent = cpu_seconds(pid) - before
    await client.close()
    return spent * 1000 / count


async def sessions_for_players(dsn: str, event_id: int) -> list[str]:
    pool = await create_pool(dsn, min_size=1, max_size=1)
    rows = await pool.fetch(
        "SELECT s.id FROM sessions s WHERE s.event_id = $1 AND s.video_duration IS NULL"
        f" AND {ANALYTICS_CONDITION} ORDER BY s.id",
        event_id,
    )
    await pool.close()
    return [str(r["id"]) for r in rows]


def instrumentation_cost(statements: int, repeat: int = 100_000) -> float:
    """Microseconds of CPU the metrics' own calls take for one request with `statements`
    statements, timed in this process (what the A/B above sees through the noise)."""
    metrics = Metrics()
    timed = metrics.statement_seconds.labels("ok")
    began = time.process_time()
    for _ in range(repeat):
        metrics.observe_request(operation="EventSessions", operation_type="query", errors=[],
                                seconds=0.002, cost=1500)  # fmt: skip
        metrics.observe_http("/graphql", "POST", 200, 0.002)
        for _ in range(statements):
            metrics.pool_wait.observe(0.00001)
            timed.observe(0.001)
    return (time.process_time() - began) * 1e6 / repeat


def main() -> None:
    parser = event_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=300, help="per workload and round")
    args = parse_event_args(parser, quick_seconds=0.0, seconds=0.0)
    with ExitStack() as stack:
        dsn, event_id = quick_or_given(stack, args)
        sessions = asyncio.run(sessions_for_players(dsn, event_id))
        if len(sessions) < 3:
            raise SystemExit("the event needs sessions with analytics and an unknown duration")
        sink = stack.enter_context(otlp_sink())
        servers = {}
        for index, config in enumerate(OBSERVE):
            url, process = stack.enter_context(
                server_process(dsn, extra_env=observe_env(config, sink))
            )
            host = login(url, HOST_EMAIL, PASSWORD)
            player = asyncio.run(sign_up_player(url, index))
            # Each player its own sessions: the servers' batches never meet.
            mine = sessions[index :: len(OBSERVE)]
            servers[config] = (url, process.pid, Workloads(event_id, mine, host, player))
        ratios: dict[tuple[str, str], list[float]] = {}
        absolute: dict[tuple[str, str], list[float]] = {}
        for round_ in range(1, args.rounds + 1):
            line = []
            for workload in ("page", "recordWatch"):
                spent = {}
                for config, (url, pid, bodies) in servers.items():
                    made: Callable[[], bytes] = bodies.batch
                    headers = bodies.player
                    if workload == "page":
                        made, headers = bodies.page_body, bodies.host
                    spent[config] = asyncio.run(
                        cpu_per_request(url, pid, made, headers, args.requests)
                    )
                    absolute.setdefault((workload, config), []).append(spent[config])
                for config in ("metrics", "traced"):
                    ratio = spent[config] / spent["no-metrics"]
                    ratios.setdefault((workload, config), []).append(ratio)
                line.append(f"{workload} " + " ".join(f"{c}={v:.3f}" for c, v in spent.items()))
            print(f"  round {round_}: " + "; ".join(line) + " (ms CPU per request)")
    print(f"machine: {machine()}; {args.rounds} rounds of {args.requests} requests a workload")
    for statements in (1, 3):
        print(f"instrumentation_us_{statements}_statements={instrumentation_cost(statements):.1f}"
              " (the metrics' own calls for one request, timed in-process)")  # fmt: skip
    for (workload, config), values in ratios.items():
        off = statistics.median(absolute[(workload, "no-metrics")])
        on = statistics.median(absolute[(workload, config)])
        quartiles = statistics.quantiles(values, n=4)
        print(f"observe_{workload}_{config}: cpu_ratio={statistics.median(values):.3f}"
              f" (quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}; {on:.3f} vs {off:.3f} ms"
              f" per request, metrics off)")  # fmt: skip


if __name__ == "__main__":
    main()
