"""GET /events/{id}/sessions.csv: the session overview as a spreadsheet file.

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
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gql_server.analytics import rules
from gql_server.db import UNAVAILABLE_ERRORS, Pool
from gql_server.errors import UNAVAILABLE, ApiError
from gql_server.http import JSON, HttpError, authenticate, error_response
from gql_server.services import events, sessions
from gql_server.services.sessions import MAX_PAGE_SIZE, SessionNumbers

log = logging.getLogger(__name__)

COLUMNS = [
    "Session ID", "Name", "Date", "Length (s)", "Format", "Stream Provider", "Registered",
    "Attended", "Live Views", "Live Avg Watch Time (s)", "Live Engagement (%)",
    "Recording Views", "Recording Avg Watch Time (s)", "Recording Engagement (%)",
    "Live Watch Time (s)", "Recording Watch Time (s)",
]  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _line(values: list[Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([_cell(v) for v in values])
    return buffer.getvalue()


def session_line(row: asyncpg.Record, numbers: SessionNumbers) -> list[Any]:
    """One CSV row: a session (with its counters) and its numbers."""
    has_video = rules.has_video(row["format"], row["stream_provider"])
    return [
        str(row["id"]), row["title"], row["start_time"].isoformat(),
        row["video_duration"] if has_video else None, row["format"], row["stream_provider"],
        numbers.registered_user_count, numbers.attendee_count, numbers.live_views,
        numbers.avg_attended_duration, numbers.live_engagement, numbers.recording_views,
        numbers.avg_recording_duration, numbers.recording_engagement,
        numbers.live_seconds, numbers.recording_seconds,
    ]  # fmt: skip


async def _lines(pool: Pool, event_id: int) -> AsyncIterator[str]:
    yield "\ufeff" + _line(COLUMNS)
    after = None
    while True:
        page = await sessions.list_sessions(
            pool, event_id=event_id, first=MAX_PAGE_SIZE, after=after, search=None,
            order="START_TIME_ASC", with_stats=True,
        )  # fmt: skip
        chunk = [_line(session_line(row, sessions.numbers_of_row(row))) for row in page.rows]
        if chunk:
            yield "".join(chunk)
        if not page.has_next_page:
            return
        after = page.cursor(len(page.rows) - 1)


async def sessions_csv(request: Request) -> Response:
    pool = request.app.state.pool
    try:
        actor = await authenticate(request.headers.get("authorization"), pool)
        event = await events.get_hosted_event(
            pool, actor, event_id=request.path_params["event_id"]
        )
    except HttpError as error:
        return error_response(error, JSON)
    except ApiError as error:
        return error_response(HttpError(error.kind, error.message), JSON)
    except UNAVAILABLE_ERRORS:
        log.exception("database unavailable")
        return error_response(HttpError(UNAVAILABLE, "The database is unavailable"), JSON)
    filename = f"event-{event['id']}-sessions.csv"
    return StreamingResponse(
        _lines(pool, event["id"]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
