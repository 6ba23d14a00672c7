"""GET /events/{id}/sessions.csv (the session overview) and viewers.csv / .ndjson
(one row per session and person) as files.

Same bearer token, role rules and error codes as the API (errors as JSON, with
the HTTP status of their code). The body is streamed a page of 1,000 sessions
at a time, starts with a UTF-8 byte order mark (so spreadsheet programs read
names in any script correctly); every text cell is quoted (a spreadsheet set to
split on ";" would otherwise read `;=1+1` as a formula cell). A cell that
would start with = + - @ (a formula, when opened in a spreadsheet) is
prefixed with an apostrophe. Empty cells mean null: no analytics for the
session's provider, or no known duration.
"""

import csv
import io
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gql_server.analytics import rules
from gql_server.db import UNAVAILABLE_ERRORS, Pool
from gql_server.errors import NOT_FOUND, UNAVAILABLE, ApiError
from gql_server.services import events, exports, sessions
from gql_server.services.sessions import MAX_PAGE_SIZE, SessionNumbers
from gql_server.web.http import JSON, authenticate, error_response

log = logging.getLogger(__name__)

COLUMNS = [
    "Session ID", "Name", "Date", "Length (s)", "Format", "Stream Provider", "Registered",
    "Attended", "Live Views", "Live Avg Watch Time (s)", "Live Engagement (%)",
    "Recording Views", "Recording Avg Watch Time (s)", "Recording Engagement (%)",
    "Live Watch Time (s)", "Recording Watch Time (s)", "No-shows",
]  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _line(values: list[Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([_cell(v) for v in values])
    return buffer.getvalue()


def session_line(row: asyncpg.Record, numbers: SessionNumbers, no_shows: int) -> list[Any]:
    """One CSV row: a session (with its counters), its numbers and its no-shows."""
    has_video = rules.has_video(row["format"], row["stream_provider"])
    return [
        str(row["id"]), row["title"], row["start_time"].isoformat(),
        row["video_duration"] if has_video else None, row["format"], row["stream_provider"],
        numbers.registered_user_count, numbers.attendee_count, numbers.live_views,
        numbers.avg_attended_duration, numbers.live_engagement, numbers.recording_views,
        numbers.avg_recording_duration, numbers.recording_engagement,
        numbers.live_seconds, numbers.recording_seconds, no_shows,
    ]  # fmt: skip


async def _lines(pool: Pool, event_id: int) -> AsyncIterator[str]:
    yield "\ufeff" + _line(COLUMNS)
    after = None
    while True:
        request = sessions.PageRequest(event_id, first=MAX_PAGE_SIZE, after=after)
        page = await sessions.list_sessions(pool, request, with_stats=True)
        no_shows = await sessions.no_shows(pool, [(event_id, row["id"]) for row in page.rows])
        chunk = [
            _line(session_line(row, sessions.numbers_of_row(row), shows))
            for row, shows in zip(page.rows, no_shows, strict=True)
        ]
        if chunk:
            yield "".join(chunk)
        if not page.has_next_page:
            return
        after = page.cursor(len(page.rows) - 1)


async def _hosted_event_id(request: Request) -> int | Response:
    """The event the request may export (a host's), or the error to answer, as JSON."""
    pool = request.app.state.pool
    try:
        actor = await authenticate(request.headers.get("authorization"), pool)
        event = await events.get_hosted_event(
            pool, actor, event_id=request.path_params["event_id"]
        )
    except ApiError as error:
        return error_response(error, JSON)
    except UNAVAILABLE_ERRORS:
        log.exception("database unavailable")
        return error_response(ApiError(UNAVAILABLE, "The database is unavailable"), JSON)
    event_id: int = event["id"]
    return event_id


def _attachment(body: AsyncIterator[str | bytes], filename: str, media: str) -> Response:
    return StreamingResponse(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def sessions_csv(request: Request) -> Response:
    event_id = await _hosted_event_id(request)
    if isinstance(event_id, Response):
        return event_id
    pool = request.app.state.pool
    return _attachment(
        _lines(pool, event_id), f"event-{event_id}-sessions.csv", "text/csv; charset=utf-8"
    )


async def _viewer_csv(pool: Pool, event_id: int) -> AsyncIterator[str]:
    yield "\ufeff" + _line(exports.VIEWER_FIELDS)
    async for rows in exports.viewer_rows(pool, event_id=event_id):
        yield "".join(_line(row) for row in rows)


async def _viewer_ndjson(pool: Pool, event_id: int) -> AsyncIterator[bytes]:
    names = exports.VIEWER_FIELDS
    async for rows in exports.viewer_rows(pool, event_id=event_id):
        yield b"".join(orjson.dumps(dict(zip(names, row, strict=True))) + b"\n" for row in rows)


async def viewers_export(request: Request) -> Response:
    """GET /events/{id}/viewers.csv and .ndjson: one row per (session, person)."""
    if request.path_params["format"] not in ("csv", "ndjson"):
        return error_response(ApiError(NOT_FOUND, "Export as viewers.csv or viewers.ndjson"), JSON)
    event_id = await _hosted_event_id(request)
    if isinstance(event_id, Response):
        return event_id
    pool = request.app.state.pool
    name = f"event-{event_id}-viewers"
    if request.path_params["format"] == "ndjson":
        return _attachment(
            _viewer_ndjson(pool, event_id), f"{name}.ndjson", "application/x-ndjson"
        )
    return _attachment(_viewer_csv(pool, event_id), f"{name}.csv", "text/csv; charset=utf-8")
