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

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gql_server.analytics import rules
from gql_server.db import UNAVAILABLE_ERRORS, Pool
from gql_server.errors import UNAVAILABLE, ApiError
from gql_server.http import JSON, HttpError, authenticate, error_response
from gql_server.repo import sessions as repo
from gql_server.services import events
from gql_server.services.sessions import MAX_PAGE_SIZE
from gql_server.types.sessions import Session

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


def session_line(session: Session, recording_viewers: int) -> list[Any]:
    watch = session.watch_time
    recording_avg = (
        rules.average_attended(watch.recording, recording_viewers) if watch is not None else None
    )
    return [
        session.session_id, session.title, session.start_time.isoformat(), session.duration,
        session.format.value, session.stream_provider.value if session.stream_provider else None,
        session.registered_user_count, session.attendee_count, session.live_views,
        session.avg_attended_duration, session.live_engagement, session.recording_views,
        recording_avg, session.recording_engagement,
        watch.live if watch else None, watch.recording if watch else None,
    ]  # fmt: skip


async def _lines(pool: Pool, event_id: int) -> AsyncIterator[str]:
    yield "\ufeff" + _line(COLUMNS)
    after = None
    while True:
        rows = await repo.list_sessions(
            pool, event_id=event_id, order="START_TIME_ASC", search=None, after=after,
            limit=MAX_PAGE_SIZE,
        )  # fmt: skip
        stats = {
            row["session_id"]: row
            for row in await repo.load_session_stats(pool, [(event_id, r["id"]) for r in rows])
        }
        chunk = []
        for row in rows:
            session = Session.from_row(row)
            session.apply_stats(stats[row["id"]])
            chunk.append(_line(session_line(session, stats[row["id"]]["recording_viewers"])))
        if chunk:
            yield "".join(chunk)
        if len(rows) < MAX_PAGE_SIZE:
            return
        after = (rows[-1]["sort_key_0"], rows[-1]["sort_key_1"])


async def sessions_csv(request: Request) -> Response:
    pool = request.app.state.pool
    try:
        viewer = await authenticate(request.headers.get("authorization"), pool)
        event = await events.get_hosted_event(
            pool, viewer, event_id=request.path_params["event_id"]
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
