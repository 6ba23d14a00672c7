"""Requests leave no reference cycles, and the app settles the garbage collector.

A request's objects that form a cycle (the executor, the context, the
variables, the rows) are freed only by the cyclic garbage collector; under
load its full passes took ~85 ms each and ~15 % of the CPU
(docs/performance.md). The app is called here directly over ASGI, with no
HTTP client that could make cycles of its own.
"""

import asyncio
import gc
from collections import Counter
from typing import Any

import orjson
from conftest import Api, app_settings
from helpers import RECORD, SESSION_FIELDS, World, create_session, record

from gql_server.app import GC_YOUNG_THRESHOLD, create_app

PAGE = f"""
query($e: ID!) {{ event(id: $e) {{ sessions(first: 100) {{
  totalCount pageInfo {{ hasNextPage endCursor }}
  edges {{ cursor node {{ {SESSION_FIELDS} liveEngagement asOf
    viewers(first: 10) {{ totalCount nodes {{ user {{ name }} liveWatchedSeconds liveView }} }}
    retention(mode: LIVE, buckets: 10) {{ points {{ viewers }} }}
    concurrency(bucketSeconds: 60) {{ peakConcurrentViewers }} }} }} }} }} }}
"""


async def call(app: Any, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    """POST /graphql straight into the ASGI app."""
    raw = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the app answers
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    answer: dict[str, Any] = orjson.loads(b"".join(chunks))
    return answer


def test_requests_leave_no_reference_cycles(api: Api, world: World, database_dsn: str) -> None:
    session = create_session(api, world.event_admin_token, world.event_id)
    record(api, world.attendee_token, session, "LIVE", (0, 40), (100, 160))
    batch = [
        {"sessionId": session, "mode": "LIVE", "startSecond": s, "endSecond": s + 15}
        for s in range(0, 1000, 10)
    ]
    requests = [
        ({"query": RECORD, "variables": {"s": batch}}, world.attendee_token),
        ({"query": PAGE, "variables": {"e": world.event_id}}, world.event_admin_token),
    ]

    async def run() -> tuple[list[object], tuple[int, int, int], int]:
        app = create_app(app_settings(database_dsn))
        async with app.router.lifespan_context(app):
            running = (gc.get_threshold(), gc.get_freeze_count())
            for body, token in requests * 3:  # warm: caches, prepared statements
                assert "errors" not in await call(app, body, token)
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                for body, token in requests * 5:
                    assert "errors" not in await call(app, body, token)
                gc.collect()
                garbage = list(gc.garbage)
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
        return garbage, *running

    threshold_before = gc.get_threshold()
    garbage, threshold, frozen = asyncio.run(run())
    kinds = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in garbage)
    assert not garbage, f"{len(garbage)} objects in reference cycles: {kinds.most_common(12)}"
    # While the app ran: the start-up heap frozen, young collections rarer;
    # afterwards, as before.
    assert frozen > 0
    assert threshold[0] == GC_YOUNG_THRESHOLD
    assert gc.get_threshold() == threshold_before
