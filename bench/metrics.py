"""Latency of the deeper analytics (docs/metrics.md) on a generated event.

    python bench/metrics.py --quick
    python bench/metrics.py --dsn postgresql://... --event 1   # an event from generate.py

Against `gql-server serve` on loopback, one request at a time for --seconds
each: (a) a page of 100 sessions with engagement; (b) the same page with each
session's first 10 viewer rows, retention and concurrency (10-minute buckets); (c) the 100
busiest viewers of the event's most watched session; (d) Event.analytics
over the whole event. Prints p50/p99 and the sizes involved; the last line is
key=value figures.
"""

import asyncio
from contextlib import ExitStack
from functools import partial
from typing import Any

import orjson
from common import RawClient, login, machine, median, percentile, server
from generate import HOST_EMAIL, PASSWORD, event_parser, parse_event_args, quick_or_given
from read import timed

from gql_server.db import create_pool

PAGE = """query($e: ID!) { event(id: $e) { sessions(first: 100) { nodes {
  id liveViews liveEngagement recordingEngagement asOf } } } }"""
DEEP = """query($e: ID!) { event(id: $e) { sessions(first: 100) { nodes {
  id liveEngagement viewers(first: 10, orderBy: LIVE_WATCHED_DESC) { totalCount
    nodes { user { name } liveWatchedSeconds liveEngagement } }
  retention(mode: LIVE, buckets: 100) { points { percent } }
  concurrency(bucketSeconds: 600) { peakConcurrentViewers points { viewers } } } } } }"""
VIEWERS = """query($e: ID!, $s: ID!) { event(id: $e) { session(id: $s) {
  viewers(first: 100, orderBy: LIVE_WATCHED_DESC) { totalCount
    nodes { user { name email } registered joined liveWatchedSeconds recordingWatchedSeconds
            liveView recordingView liveEngagement recordingEngagement } } } } }"""
TOTALS = """query($e: ID!) { event(id: $e) { analytics { sessions registrations registeredUsers
  uniqueViewers uniqueLiveViewers watchTime { live recording } liveViews recordingViews asOf
  topSessions(first: 10) { title liveViews } } } }"""


async def run(dsn: str, url: str, event_id: int, seconds: float) -> None:
    token = login(url, HOST_EMAIL, PASSWORD)
    pool = await create_pool(dsn, min_size=1, max_size=1)
    busiest = await pool.fetchrow(
        "SELECT session_id, live_viewers FROM session_stats WHERE event_id = $1"
        " ORDER BY live_viewers DESC LIMIT 1", event_id)  # fmt: skip
    rows = await pool.fetchval("SELECT count(*) FROM viewer_watch WHERE event_id = $1", event_id)
    await pool.close()
    assert busiest is not None
    client = RawClient(url)
    headers = {"Authorization": f"Bearer {token}"}

    async def ask(query: str, **variables: Any) -> None:
        body = orjson.dumps({"query": query, "variables": {"e": event_id, **variables}})
        status, raw = await client.post("/graphql", body, headers)
        if status != 200 or b'"errors"' in raw:
            raise SystemExit(f"query failed: {raw[:300]!r}")

    figures = {}
    busiest_id = {"s": str(busiest["session_id"])}
    cases = [("page", PAGE, {}), ("deep_page", DEEP, {}), ("viewers", VIEWERS, busiest_id),
             ("totals", TOTALS, {})]  # fmt: skip
    print(f"machine: {machine()}; {rows} viewer_watch rows; busiest session:"
          f" {busiest['live_viewers']} live viewers")  # fmt: skip
    for name, query, variables in cases:
        await ask(query, **variables)  # warm up
        samples = await timed(partial(ask, query, **variables), seconds)
        figures[name] = (median(samples), percentile(samples, 0.99))
        print(f"  {name:10} p50 {figures[name][0]:7.1f} ms  p99 {figures[name][1]:7.1f} ms"
              f"  ({len(samples)} requests)")  # fmt: skip
    await client.close()
    print(" ".join(f"{name}_p50_ms={p50:.1f} {name}_p99_ms={p99:.1f}"
                   for name, (p50, p99) in figures.items()))  # fmt: skip


def main() -> None:
    parser = event_parser(__doc__)
    args = parse_event_args(parser, quick_seconds=3.0, seconds=10.0)
    seconds = args.seconds
    with ExitStack() as stack:
        dsn, event_id = quick_or_given(stack, args)
        url = stack.enter_context(server(dsn))
        asyncio.run(run(dsn, url, event_id, seconds))


if __name__ == "__main__":
    main()
