"""Read latency of the host's sessions query, against the physical limit in the same run.

    python bench/read.py --quick
    python bench/read.py --dsn postgresql://... --event 1   # an event from generate.py

Starts `gql-server serve` (one worker) on loopback and measures: (a) one
page of 100 sessions with every analytics field, at concurrency 1 for
latency and at --concurrency for requests/s; (b) the whole event in pages of
1000; (c) the page of (a) without watchTime; (d) every page of 100 by its
cursor, in turn (varied bodies). The limit is the same rows
fetched with asyncpg and serialized with orjson in this process. Latencies
are taken interleaved with their limit (a, c and the page limit in turn for
3 x --seconds; b and its limit for 2 x --seconds), so that the ratios do not
depend on which second the machine was slow. The load generator shares the
machine's cores with the server.
"""

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from functools import partial
from typing import Any

import orjson
from common import (
    RawClient,
    cpu_seconds,
    login,
    machine,
    median,
    percentile,
    server_process,
)
from generate import HOST_EMAIL, PASSWORD, event_parser, parse_event_args, quick_or_given

from gql_server.analytics import rules
from gql_server.db import Pool, create_pool
from gql_server.repo import sessions as repo

ANALYTICS = (
    "registeredUserCount attendeeCount analyticsAvailable liveViews recordingViews"
    " avgAttendedDuration"
)
FIELDS = f"id title startTime endTime format streamProvider duration {ANALYTICS}"
PAGE = """
query($e: ID!, $first: Int, $after: String) {
  event(id: $e) { sessions(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { %s } } }
}
"""
WITH_WATCH = PAGE % f"{FIELDS} watchTime {{ live recording total }}"
WITHOUT_WATCH = PAGE % FIELDS


async def timed(work: Callable[[], Awaitable[Any]], seconds: float) -> list[float]:
    """Latencies (ms) of `work` run back to back for `seconds`."""
    (samples,) = await timed_together([work], seconds)
    return samples


async def timed_together(
    works: list[Callable[[], Awaitable[Any]]], seconds: float
) -> list[list[float]]:
    """Latencies (ms) of each of `works`, run in turn for `seconds`.

    Interleaved, so that the machine's slow and fast moments (+-30 % from
    one second to the next here) fall on all of them alike: their ratio is
    steadier than that of back-to-back runs.
    """
    samples: list[list[float]] = [[] for _ in works]
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples[0]) < 5:
        for work, times in zip(works, samples, strict=True):
            began = time.perf_counter()
            await work()
            times.append((time.perf_counter() - began) * 1000)
    return samples


async def throughput(
    works: list[Callable[[], Awaitable[Any]]], seconds: float
) -> tuple[float, int]:
    """Requests per second with one closed loop per element of `works`, and how many."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop(work: Callable[[], Awaitable[Any]]) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await work()
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(loop(work) for work in works))
    return done / (time.perf_counter() - began), done


class Client:
    """One keep-alive connection (see common.RawClient); use one per concurrent worker."""

    def __init__(self, url: str, token: str, event_id: int) -> None:
        self.http, self.event_id = RawClient(url), event_id
        self.headers = {"Authorization": f"Bearer {token}"}

    async def page(self, query: str, first: int, after: str | None = None) -> Any:
        variables = {"e": self.event_id, "first": first, "after": after}
        body = orjson.dumps({"query": query, "variables": variables})
        status, raw = await self.http.post("/graphql", body, self.headers)
        answer = orjson.loads(raw)
        if status != 200 or "errors" in answer:
            raise SystemExit(f"query failed: {raw[:500]!r}")
        return answer["data"]["event"]["sessions"]

    async def whole_event(self) -> int:
        after, count = None, 0
        while True:
            got = await self.page(WITH_WATCH, 1000, after)
            count += len(got["nodes"])
            if not got["pageInfo"]["hasNextPage"]:
                return count
            after = got["pageInfo"]["endCursor"]


def _node(row: Any, stats: Any) -> dict[str, Any]:
    available = rules.analytics_available(row["format"], row["stream_provider"])
    live, recording = stats["live_seconds"], stats["recording_seconds"]
    return {
        "id": str(row["id"]), "title": row["title"],
        "startTime": row["start_time"], "endTime": row["end_time"],
        "format": row["format"], "streamProvider": row["stream_provider"],
        "duration": row["video_duration"] if rules.has_video(row["format"], row["stream_provider"]) else None,  # noqa: E501
        "registeredUserCount": stats["registered_count"], "attendeeCount": stats["attendee_count"],
        "analyticsAvailable": available,
        "liveViews": stats["live_views"] if available else None,
        "recordingViews": stats["recording_views"] if available else None,
        "avgAttendedDuration": rules.average_attended(live, stats["live_viewers"]) if available else None,  # noqa: E501
        "watchTime": {"live": live, "recording": recording, "total": live + recording} if available else None,  # noqa: E501
    }  # fmt: skip


async def limit_pages(pool: Pool, event_id: int, first: int, pages: int,
                      after: Any = None) -> int:  # fmt: skip
    """The limit: the same rows with asyncpg, the same JSON with orjson, no GraphQL, no HTTP."""
    size = 0
    for _ in range(pages):
        # One statement, rows with their counters: as the server reads a page.
        query = repo.PageQuery(event_id=event_id, order="START_TIME_ASC", search=None,
                               after=after, limit=first + 1)  # fmt: skip
        rows = await repo.list_sessions(pool, query, with_stats=True)
        page = rows[:first]
        nodes = [_node(r, r) for r in page]
        size += len(orjson.dumps({"data": {"event": {"sessions": {"nodes": nodes}}}}))
        if len(rows) <= first:
            break
        after = repo.sort_key(page[-1], "START_TIME_ASC")
    return size


async def page_positions(client: Client, pool: Pool, event_id: int) -> tuple[list[Any], list[Any]]:
    """Where each page of 100 starts: the server's cursors and the limit's keys, alike."""
    cursors: list[Any] = [None]
    while True:
        got = await client.page(WITH_WATCH, 100, cursors[-1])
        if not got["pageInfo"]["hasNextPage"]:
            break
        cursors.append(got["pageInfo"]["endCursor"])
    keys: list[Any] = [None]
    while len(keys) < len(cursors):
        query = repo.PageQuery(event_id=event_id, order="START_TIME_ASC", search=None,
                               after=keys[-1], limit=100)  # fmt: skip
        rows = await repo.list_sessions(pool, query, with_stats=False)
        keys.append(repo.sort_key(rows[-1], "START_TIME_ASC"))
    return cursors, keys


async def measure(
    dsn: str, url: str, server_pid: int, event_id: int, seconds: float, concurrency: int
) -> None:
    token = login(url, HOST_EMAIL, PASSWORD)
    pool = await create_pool(dsn, min_size=1, max_size=2)
    total = await pool.fetchval("SELECT count(*) FROM sessions WHERE event_id = $1", event_id)
    segments = await pool.fetchval("SELECT count(*) FROM watch_segments WHERE event_id = $1",
                                   event_id)  # fmt: skip
    client = Client(url, token, event_id)
    await client.page(WITH_WATCH, 100)  # warm up the server's connections and caches
    await limit_pages(pool, event_id, 100, 1)
    event_pages = -(-total // 1000)
    limit, page, nowatch = await timed_together(
        [
            lambda: limit_pages(pool, event_id, 100, 1),
            lambda: client.page(WITH_WATCH, 100),
            lambda: client.page(WITHOUT_WATCH, 100),
        ],
        seconds * 3,
    )
    event_limit, event = await timed_together(
        [lambda: limit_pages(pool, event_id, 1000, event_pages), client.whole_event],
        seconds * 2,
    )
    # (d) Varied bodies: every page of 100 by its own cursor, in turn (no two
    # requests alike), against the limit reading the same page.
    cursors, keys = await page_positions(client, pool, event_id)
    limit_turn, page_turn = itertools.count(), itertools.count()
    varied_limit, varied = await timed_together(
        [
            lambda: limit_pages(pool, event_id, 100, 1, keys[next(limit_turn) % len(keys)]),
            lambda: client.page(WITH_WATCH, 100, cursors[next(page_turn) % len(cursors)]),
        ],
        seconds * 3,
    )
    figures = {
        "limit": limit,
        "page": page,
        "nowatch": nowatch,
        "event_limit": event_limit,
        "event": event,
        "varied_limit": varied_limit,
        "varied": varied,
    }
    clients = [Client(url, token, event_id) for _ in range(concurrency)]
    server_cpu = cpu_seconds(server_pid)
    rps, served = await throughput([partial(c.page, WITH_WATCH, 100) for c in clients], seconds)
    # The server's CPU per page: steadier than requests/s when the load
    # generator and PostgreSQL share the cores with the server.
    cpu_per_page = (cpu_seconds(server_pid) - server_cpu) * 1000 / max(1, served)
    for each in [client, *clients]:
        await each.http.close()
    await pool.close()
    p50 = {name: median(values) for name, values in figures.items()}
    print(f"machine: {machine()}; event: {total} sessions, {segments} raw segments")
    for name, values in figures.items():
        print(f"  {name:<12} p50 {median(values):8.2f} ms   p99 {percentile(values, 0.99):8.2f} ms"
              f"   n={len(values)}")  # fmt: skip
    print(f"  page requests/s at concurrency {concurrency}: {rps:.0f}"
          f" (server CPU {cpu_per_page:.2f} ms per page)")  # fmt: skip
    print(
        f"page_p50_ms={p50['page']:.2f} limit_p50_ms={p50['limit']:.2f}"
        f" page_p50_ratio={p50['page'] / p50['limit']:.2f} page_rps={rps:.0f}"
        f" nowatch_p50_ms={p50['nowatch']:.2f}"
        f" event_p50_ms={p50['event']:.2f} event_limit_p50_ms={p50['event_limit']:.2f}"
        f" event_p50_ratio={p50['event'] / p50['event_limit']:.2f}"
        f" varied_p50_ratio={p50['varied'] / p50['varied_limit']:.2f}"
        f" page_p99_ms={percentile(figures['page'], 0.99):.2f}"
        f" server_cpu_ms_per_page={cpu_per_page:.2f}"
    )


def main() -> None:
    parser = event_parser(__doc__, seconds_help="per measurement")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    args = parse_event_args(parser, quick_seconds=3.0, seconds=10.0)
    seconds = args.seconds
    with ExitStack() as stack:
        dsn, event_id = quick_or_given(stack, args)
        url, process = stack.enter_context(server_process(dsn, workers=args.workers))
        asyncio.run(measure(dsn, url, process.pid, event_id, seconds, args.concurrency))


if __name__ == "__main__":
    main()
