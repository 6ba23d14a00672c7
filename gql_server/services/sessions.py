"""Creating, changing and listing sessions; registrations and joins."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from gql_server import auth
from gql_server.analytics import rules
from gql_server.analytics.rules import NETWORKING_FORMATS, view_threshold
from gql_server.auth import Actor
from gql_server.db import Executor, Pool
from gql_server.errors import SESSION_NOT_FOUND, ApiError, bad_input
from gql_server.repo import analytics as analytics_repo
from gql_server.repo import sessions as repo
from gql_server.repo import watch as watch_repo
from gql_server.repo.sessions import NewSession as NewSession
from gql_server.services.events import get_hosted_event
from gql_server.values import text
from gql_server.values.cursors import decode_cursor, encode_cursor
from gql_server.values.ids import fetch_by_id, get_by_id

MAX_PAGE_SIZE = 1000
# Fields of a session that an explicit null may not clear.
REQUIRED_FIELDS = ("title", "start_time", "end_time", "format")


def validate_session(session: NewSession) -> NewSession:
    """The session with a trimmed title; 400 naming the first rule it breaks."""
    title = text.valid_text(session.title, "title", text.MAX_TITLE_LENGTH)
    if session.end_time <= session.start_time:
        raise bad_input("endTime must be after startTime")
    if session.format in NETWORKING_FORMATS and session.stream_provider is not None:
        raise bad_input(f"streamProvider must be null for format {session.format}")
    if session.video_duration is not None and session.video_duration <= 0:
        raise bad_input("videoDuration must be a positive number of seconds")
    return replace(session, title=title)


async def create_session(
    db: Executor, actor: Actor | None, *, event_id: str, session: NewSession
) -> asyncpg.Record:
    event = await get_hosted_event(db, actor, event_id=event_id)
    return await repo.create_session(db, event_id=event["id"], session=validate_session(session))


async def update_session(
    pool: Pool, actor: Actor | None, *, session_id: str, changes: dict[str, Any]
) -> asyncpg.Record:
    """Apply the given fields. A new duration re-clips and recounts what was recorded."""
    actor = auth.require_actor(actor)
    async with pool.acquire() as conn, conn.transaction():
        row = await get_by_id(
            session_id,
            lambda i: repo.get_session_access(
                conn, session_id=i, user_id=actor.user_id, for_update=True
            ),
            SESSION_NOT_FOUND,
        )
        auth.require_host(actor, row)
        for field in REQUIRED_FIELDS:
            if field in changes and changes[field] is None:
                raise bad_input(f"{_camel(field)} cannot be null")
        current = NewSession(**{f: row[f] for f in NewSession.__dataclass_fields__})
        updated = validate_session(replace(current, **changes))
        result = await repo.update_session(
            conn, event_id=row["event_id"], session_id=row["id"], session=updated
        )
        if updated.video_duration != current.video_duration:
            key = {"event_id": row["event_id"], "session_id": row["id"]}
            await watch_repo.reclip_session(conn, **key, duration=updated.video_duration)
            thresholds = {row["id"]: view_threshold(updated.video_duration)}
            await watch_repo.recount_stats(conn, event_id=row["event_id"], thresholds=thresholds)
            # Live viewers may have come or gone with the clipping: so have their attendances.
            await watch_repo.sync_live_joins(
                conn, event_id=row["event_id"], session_ids=[row["id"]]
            )
            await watch_repo.recount_attendance(
                conn, event_id=row["event_id"], session_ids=[row["id"]]
            )
            await watch_repo.rebuild_slots(conn, event_id=row["event_id"], thresholds=thresholds)
        elif updated.start_time != current.start_time:
            # Live seconds happened at startTime + position: they move with it.
            thresholds = {row["id"]: view_threshold(updated.video_duration)}
            await watch_repo.rebuild_slots(conn, event_id=row["event_id"], thresholds=thresholds)
        return result


async def get_hosted_session(
    db: Executor, actor: Actor | None, *, session_id: str
) -> asyncpg.Record:
    """A session of an event the actor hosts: 401, then 404800, then 4030201."""
    actor = auth.require_actor(actor)
    row = await get_by_id(
        session_id,
        lambda i: repo.get_session_access(db, session_id=i, user_id=actor.user_id),
        SESSION_NOT_FOUND,
    )
    auth.require_host(actor, row)
    return row


class SessionNumbers(NamedTuple):
    """A session's counter-backed numbers as the API shows them.

    The watch numbers are None (null, not zero) for a session without
    analytics; the engagements also without a known duration.
    """

    registered_user_count: int
    attendee_count: int
    as_of: datetime
    live_seconds: int | None
    recording_seconds: int | None
    avg_attended_duration: float | None
    avg_recording_duration: float | None
    live_views: int | None
    recording_views: int | None
    live_engagement: float | None
    recording_engagement: float | None


def session_numbers(
    stats: asyncpg.Record, *, analytics: bool, duration: int | None
) -> SessionNumbers:
    """A session's numbers from its session_stats row (`analytics`: whether it has
    watch analytics; `duration`: its video's, when known).

    The one place they are computed, for every caller: a page of sessions
    (whose rows carry the counters), a session read alone (counters through
    a DataLoader), the CSV.
    """
    registered, attendees = stats["registered_count"], stats["attendee_count"]
    if not analytics:
        return SessionNumbers(registered, attendees, stats["updated_at"], *NO_WATCH_NUMBERS)
    live, recording = stats["live_seconds"], stats["recording_seconds"]
    live_viewers, recording_viewers = stats["live_viewers"], stats["recording_viewers"]
    return SessionNumbers(
        registered_user_count=registered,
        attendee_count=attendees,
        as_of=stats["updated_at"],
        live_seconds=live,
        recording_seconds=recording,
        avg_attended_duration=rules.average_attended(live, live_viewers),
        avg_recording_duration=rules.average_attended(recording, recording_viewers),
        live_views=stats["live_views"],
        recording_views=stats["recording_views"],
        live_engagement=rules.engagement(live, live_viewers, duration),
        recording_engagement=rules.engagement(recording, recording_viewers, duration),
    )


NO_WATCH_NUMBERS = (None,) * 8


async def no_shows(db: Executor, keys: list[tuple[int, int]]) -> list[int]:
    """noShowCount of each (event_id, session_id), in one statement."""
    if not keys:
        return []
    rows = await analytics_repo.load_session_extras(db, keys)
    by_key = {(r["event_id"], r["session_id"]): r["no_shows"] for r in rows}
    return [by_key[k] for k in keys]


def numbers_of_row(row: asyncpg.Record) -> SessionNumbers:
    """The numbers of a row that carries a session and its counters (list_sessions with_stats)."""
    fmt, provider = row["format"], row["stream_provider"]
    # Analytics imply video, so the duration is the video's.
    return session_numbers(
        row, analytics=rules.analytics_available(fmt, provider), duration=row["video_duration"]
    )


async def get_event_session(
    db: Executor, *, event_id: int, session_id: str
) -> asyncpg.Record | None:
    """A session of this event; None for an ID that names none of its sessions."""
    return await fetch_by_id(
        session_id, lambda i: repo.get_event_session(db, event_id=event_id, session_id=i)
    )


async def stats_changed_at(db: Executor, *, event_id: int, session_id: int) -> datetime | None:
    return await repo.stats_changed_at(db, event_id=event_id, session_id=session_id)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class Window:
    """Sessions starting at or after `starts_after` and before `starts_before`."""

    starts_after: datetime | None = None
    starts_before: datetime | None = None

    def validated(self) -> "Window":
        if self.starts_after and self.starts_before and self.starts_before <= self.starts_after:
            raise bad_input("startsBefore must be later than startsAfter")
        return self

    def scope(self, search: str | None) -> str | None:
        """What a cursor is bound to besides its order: the search and this window."""
        if self.starts_after is None and self.starts_before is None:
            return search
        bounds = [t.isoformat() if t else "" for t in (self.starts_after, self.starts_before)]
        return "\x1f".join([search or "", *bounds])


ANY_TIME = Window()


@dataclass(frozen=True)
class SessionPage:
    rows: list[asyncpg.Record]
    has_next_page: bool
    order: str
    scope: str | None

    def cursor(self, index: int) -> str:
        """The cursor of rows[index] (made on demand: most pages only need the last)."""
        row = self.rows[index]
        return encode_cursor(self.order, self.scope, repo.sort_key(row, self.order))


@dataclass(frozen=True)
class PageRequest:
    """A page of an event's sessions as asked: Event.sessions' arguments (their
    values as its resolver gets them), the export's pages, the read-ahead."""

    event_id: int
    first: int = 100
    after: str | None = None
    search: str | None = None
    order: str = "START_TIME_ASC"
    window: Window = ANY_TIME

    def query(self) -> tuple[repo.PageQuery, str | None]:
        """The page's statement (one row more than `first`: is there a next page?) and
        the scope its cursors carry; 400 for a bad size, search, window or cursor."""
        if not 1 <= self.first <= MAX_PAGE_SIZE:
            raise bad_input(f"first must be between 1 and {MAX_PAGE_SIZE}")
        search = text.valid_search(self.search)
        window = self.window.validated()
        scope = window.scope(search)
        start = decode_cursor(self.after, self.order, scope) if self.after is not None else None
        query = repo.PageQuery(
            event_id=self.event_id,
            order=self.order,
            search=search,
            after=start,
            limit=self.first + 1,
            starts_after=window.starts_after,
            starts_before=window.starts_before,
        )
        return query, scope


async def list_sessions(
    db: Executor, request: PageRequest, *, with_stats: bool = False
) -> SessionPage:
    query, scope = request.query()
    rows = await repo.list_sessions(db, query, with_stats=with_stats)
    first = request.first
    return SessionPage(
        rows=rows[:first], has_next_page=len(rows) > first, order=request.order, scope=scope
    )


# What list_sessions_json can render: attribute names by type name.
RENDERABLE = repo.RENDERABLE


@dataclass(frozen=True)
class RenderedPage:
    """A page of sessions as the JSON array of its nodes (see list_sessions_json)."""

    nodes: str
    has_next_page: bool
    end_cursor: str | None


@dataclass
class PageAhead:
    """A rendered page that the event's statement reads along with the event
    (services.events.get_hosted_event_looking_up), for Event.sessions to use."""

    request: PageRequest
    query: repo.PageQuery  # request.query(), with
    scope: str | None  # what its cursors carry
    selection: Sequence[repo.RenderedField]
    row: asyncpg.Record | None = None  # nodes, ok, fetched, key_0, key_1 once read

    def statement(self, *, first_param: int, guard: str) -> tuple[str, list[Any]]:
        return repo.json_page_statement(
            self.query, self.selection, first_param=first_param, guard=guard
        )


def page_ahead(request: PageRequest, selection: Sequence[repo.RenderedField]) -> PageAhead | None:
    """The page list_sessions_json would read, to be read ahead; None for a request it
    would refuse (it reports that itself)."""
    try:
        query, scope = request.query()
    except ApiError:
        return None
    return PageAhead(request, query, scope, selection)


async def list_sessions_json(
    db: Executor,
    request: PageRequest,
    *,
    selection: Sequence[repo.RenderedField],
    ahead: PageAhead | None = None,
) -> RenderedPage | None:
    """The page list_sessions gives, its nodes rendered by PostgreSQL for `selection`
    (the same JSON as the object path); None when some value cannot be rendered
    exactly there (the caller then takes list_sessions, which reports it).

    ahead: a page read already; used if it is this one (the same statement), for
    this selection."""
    if (
        ahead is not None
        and ahead.row is not None
        and ahead.request == request  # so the same statement (query() is a pure function)
        and (ahead.selection is selection or ahead.selection == selection)
    ):
        row, scope = ahead.row, ahead.scope
    else:
        query, scope = request.query()
        row = await repo.list_sessions_json(db, query, selection)
    return _rendered(row, request.order, scope, request.first)


def _rendered(
    row: asyncpg.Record, order: str, scope: str | None, first: int
) -> RenderedPage | None:
    if not row["ok"]:
        return None
    end_cursor = None
    if row["key_1"] is not None:  # the last shown session's id
        end_cursor = encode_cursor(order, scope, (row["key_0"], row["key_1"]))
    return RenderedPage(
        nodes=row["nodes"], has_next_page=row["fetched"] > first, end_cursor=end_cursor
    )


async def count_sessions(
    db: Executor, *, event_id: int, search: str | None, window: Window = ANY_TIME
) -> int:
    return await repo.count_sessions(
        db,
        event_id=event_id,
        search=search or None,
        starts_after=window.starts_after,
        starts_before=window.starts_before,
    )


async def _attendance_key(
    db: Executor, actor: Actor | None, session_id: str, *, must_attend: bool = True
) -> dict[str, int]:
    """Attendee side: 401, then 404800 for any id that names no session, then
    4030202 when the event is ATTENDEES_ONLY and does not list the actor."""
    actor = auth.require_actor(actor)
    row = await get_by_id(
        session_id,
        lambda i: repo.get_session_attendance(db, session_id=i, email=actor.attendee_email),
        SESSION_NOT_FOUND,
    )
    if must_attend and not row["may_attend"]:
        raise auth.not_attendee(actor)
    return {"event_id": row["event_id"], "session_id": row["id"], "user_id": actor.user_id}


async def get_watch_session(
    db: Executor, actor: Actor | None, *, session_id: str
) -> asyncpg.Record:
    """A session for its attendee side (watch pages, trackers): 401, 404800, 4030202."""
    actor = auth.require_actor(actor)
    row = await get_by_id(
        session_id,
        lambda i: repo.get_watch_session(
            db, session_id=i, user_id=actor.user_id, email=actor.attendee_email
        ),
        SESSION_NOT_FOUND,
    )
    if not row["may_attend"]:
        raise auth.not_attendee(actor)
    return row


async def register(db: Executor, actor: Actor | None, *, session_id: str) -> None:
    await repo.register(db, **await _attendance_key(db, actor, session_id))


async def unregister(db: Executor, actor: Actor | None, *, session_id: str) -> None:
    # Anyone may take back a registration, even after leaving the attendee list.
    key = await _attendance_key(db, actor, session_id, must_attend=False)
    await repo.unregister(db, **key)


async def join(db: Executor, actor: Actor | None, *, session_id: str) -> None:
    await repo.join(db, **await _attendance_key(db, actor, session_id))
