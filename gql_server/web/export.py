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

import asyncio
import csv
import io
import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import IO, Any

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gql_server.analytics import rules
from gql_server.db import UNAVAILABLE_ERRORS, Pool
from gql_server.errors import (
    DATABASE_UNAVAILABLE,
    NOT_FOUND,
    TOO_MANY_REQUESTS,
    UNAVAILABLE,
    ApiError,
)
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
    except UNAVAILABLE_ERRORS as error:
        log.warning("the database is unavailable: %s", type(error).__name__)
        return error_response(ApiError(UNAVAILABLE, DATABASE_UNAVAILABLE), JSON)
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


async def _viewer_csv(pool: Pool, event_id: int) -> AsyncIterator[bytes]:
    yield ("\ufeff" + _line(exports.VIEWER_FIELDS)).encode()
    async for rows in exports.viewer_rows(pool, event_id=event_id):
        yield "".join(_line(row) for row in rows).encode()


async def _viewer_ndjson(pool: Pool, event_id: int) -> AsyncIterator[bytes]:
    names = exports.VIEWER_FIELDS
    async for rows in exports.viewer_rows(pool, event_id=event_id):
        yield b"".join(orjson.dumps(dict(zip(names, row, strict=True))) + b"\n" for row in rows)


class ExportSlots:
    """How many per-attendee downloads may run at once, in this process and per token:
    each holds a spooled file until its client has read it (or stalled)."""

    def __init__(self, per_process: int, per_token: int) -> None:
        self.per_process, self.per_token = per_process, per_token
        self.running: dict[str, int] = {}

    def take(self, token: str) -> bool:
        if sum(self.running.values()) >= self.per_process:
            return False
        if self.running.get(token, 0) >= self.per_token:
            return False
        self.running[token] = self.running.get(token, 0) + 1
        return True

    def give_back(self, token: str) -> None:
        self.running[token] -= 1
        if not self.running[token]:
            del self.running[token]


# Spooled in memory up to this much, then on disk.
SPOOL_MEMORY_BYTES = 1 << 20
DOWNLOAD_CHUNK_BYTES = 64 * 1024


async def _spool(chunks: AsyncIterator[bytes]) -> IO[bytes]:
    """The whole file, read from the database before anything is sent: the export's
    connection and snapshot are held while PostgreSQL and this process work, never
    while a client reads (a stalled client held both for as long as it liked)."""
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
    try:
        async for chunk in chunks:
            spooled.write(chunk)
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return spooled


class Download:
    """A spooled file sent in chunks; a client that takes no chunk for `stall_seconds`
    is dropped (its slot and file go)."""

    def __init__(self, spooled: IO[bytes], filename: str, media: str, stall_seconds: float,
                 done: Callable[[], None]) -> None:  # fmt: skip
        self.spooled, self.filename, self.media = spooled, filename, media
        self.stall_seconds, self.done = stall_seconds, done

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            size = self.spooled.seek(0, io.SEEK_END)
            self.spooled.seek(0)
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", self.media.encode()),
                (b"content-length", str(size).encode()),
                (b"content-disposition", f'attachment; filename="{self.filename}"'.encode()),
            ]})  # fmt: skip
            while chunk := self.spooled.read(DOWNLOAD_CHUNK_BYTES):
                async with asyncio.timeout(self.stall_seconds):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            # Left unfinished: the server closes the connection.
            log.warning("%s: the client took nothing for %s s; dropped", self.filename,
                        self.stall_seconds)  # fmt: skip
        finally:
            self.spooled.close()
            self.done()


async def viewers_export(request: Request) -> Response | Download:
    """GET /events/{id}/viewers.csv and .ndjson: one row per (session, person)."""
    kind = request.path_params["format"]
    if kind not in ("csv", "ndjson"):
        return error_response(ApiError(NOT_FOUND, "Export as viewers.csv or viewers.ndjson"), JSON)
    event_id = await _hosted_event_id(request)
    if isinstance(event_id, Response):
        return event_id
    state = request.app.state
    slots: ExportSlots = state.export_slots
    token = request.headers.get("authorization", "")
    if not slots.take(token):
        refusal = ApiError(TOO_MANY_REQUESTS, "Too many exports at once; try again shortly",
                           **{"Retry-After": "10"})  # fmt: skip
        return error_response(refusal, JSON)
    try:
        rows = _viewer_ndjson if kind == "ndjson" else _viewer_csv
        spooled = await _spool(rows(state.pool, event_id))
    except BaseException as error:
        slots.give_back(token)
        if isinstance(error, UNAVAILABLE_ERRORS):
            log.warning("the database is unavailable: %s", type(error).__name__)
            return error_response(ApiError(UNAVAILABLE, DATABASE_UNAVAILABLE), JSON)
        raise
    media = "application/x-ndjson" if kind == "ndjson" else "text/csv; charset=utf-8"
    stall = state.settings.export_stall_seconds
    name = f"event-{event_id}-viewers.{kind}"
    return Download(spooled, name, media, stall, lambda: slots.give_back(token))
