"""Sessions, their counters, registrations and joins."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from gql_server.analytics.rules import NETWORKING_FORMATS, PROVIDERS_WITH_ANALYTICS
from gql_server.db import Connection, Executor

SESSION_COLUMNS = (
    "s.event_id, s.id, s.title, s.start_time, s.end_time, s.format,"
    " s.stream_provider, s.video_duration"
)
# A session's counters (session_stats, aliased st), as load_session_stats gives them.
STATS_COLUMNS = (
    "st.registered_count, st.attendee_count, st.updated_at, st.live_viewers, st.live_views,"
    " st.live_seconds, st.recording_viewers, st.recording_views, st.recording_seconds"
)


@dataclass(frozen=True)
class NewSession:
    title: str
    start_time: datetime
    end_time: datetime
    format: str
    stream_provider: str | None
    video_duration: int | None


CREATE_SESSION = f"""
WITH s AS (
    INSERT INTO sessions (event_id, title, start_time, end_time, format, stream_provider,
                          video_duration)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING *
), stats AS (
    INSERT INTO session_stats (event_id, session_id) SELECT event_id, id FROM s
)
SELECT {SESSION_COLUMNS} FROM s
"""


async def create_session(db: Executor, *, event_id: int, session: NewSession) -> asyncpg.Record:
    row = await db.fetchrow(
        CREATE_SESSION,
        event_id,
        session.title,
        session.start_time,
        session.end_time,
        session.format,
        session.stream_provider,
        session.video_duration,
    )
    assert row is not None
    return row


GET_SESSION_ACCESS = f"""
SELECT {SESSION_COLUMNS},
       EXISTS (SELECT 1 FROM organizer_admins a JOIN events e ON e.organizer_id = a.organizer_id
               WHERE e.id = s.event_id AND a.user_id = $2) AS organizer_admin,
       EXISTS (SELECT 1 FROM event_admins a
               WHERE a.event_id = s.event_id AND a.user_id = $2) AS event_admin
FROM sessions s WHERE s.id = $1
"""


async def get_session_access(
    db: Executor, *, session_id: int, user_id: int, for_update: bool = False
) -> asyncpg.Record | None:
    """The session and the user's roles on its event; None if there is no such session."""
    sql = GET_SESSION_ACCESS + (" FOR UPDATE OF s" if for_update else "")
    return await db.fetchrow(sql, session_id, user_id)


# Whether the person with this email may attend: the event is OPEN, or lists them.
MAY_ATTEND = """(e.attendance = 'OPEN' OR EXISTS (
    SELECT 1 FROM event_attendees a WHERE a.event_id = s.event_id AND a.email = $2))"""


async def get_watch_session(
    db: Executor, *, session_id: int, user_id: int, email: str
) -> asyncpg.Record | None:
    """A session as an attendee sees it: may they attend, have they registered, joined."""
    return await db.fetchrow(
        f"SELECT {SESSION_COLUMNS}, {MAY_ATTEND} AS may_attend,"
        " EXISTS (SELECT 1 FROM session_registrations r WHERE r.event_id = s.event_id"
        "   AND r.session_id = s.id AND r.user_id = $3) AS registered,"
        " EXISTS (SELECT 1 FROM session_joins j WHERE j.event_id = s.event_id"
        "   AND j.session_id = s.id AND j.user_id = $3) AS joined"
        " FROM sessions s JOIN events e ON e.id = s.event_id WHERE s.id = $1",
        session_id,
        email,
        user_id,
    )


async def get_session_attendance(
    db: Executor, *, session_id: int, email: str
) -> asyncpg.Record | None:
    """The session's event and whether this person may attend it; None: no such session."""
    return await db.fetchrow(
        f"SELECT s.event_id, s.id, {MAY_ATTEND} AS may_attend"
        " FROM sessions s JOIN events e ON e.id = s.event_id WHERE s.id = $1",
        session_id,
        email,
    )


UPDATE_SESSION = f"""
UPDATE sessions s SET title = $3, start_time = $4, end_time = $5, format = $6,
       stream_provider = $7, video_duration = $8, updated_at = now()
WHERE s.event_id = $1 AND s.id = $2
RETURNING {SESSION_COLUMNS}
"""


async def update_session(
    conn: Connection, *, event_id: int, session_id: int, session: NewSession
) -> asyncpg.Record:
    row = await conn.fetchrow(
        UPDATE_SESSION,
        event_id,
        session_id,
        session.title,
        session.start_time,
        session.end_time,
        session.format,
        session.stream_provider,
        session.video_duration,
    )
    assert row is not None
    return row


def _sql_text_array(values: frozenset[str]) -> str:
    # Code constants (enum names), never client input.
    return "ARRAY[" + ", ".join(f"'{v}'" for v in sorted(values)) + "]"


# The keyset of each order: expressions compared as a row, and a direction.
# The last is always the session id, so keys are unique and paging never
# repeats or skips. LIVE_VIEWS_DESC sorts ascending by minus the live views;
# sessions without analytics get 1 (below every -views), so they come last.
# analytics.rules.analytics_available in SQL, for a session aliased `s`.
ANALYTICS_CONDITION = (
    f"(s.format <> all({_sql_text_array(NETWORKING_FORMATS)})"
    f" AND s.stream_provider = any({_sql_text_array(PROVIDERS_WITH_ANALYTICS)}))"
)
LIVE_VIEWS_KEY = f"CASE WHEN {ANALYTICS_CONDITION} THEN -st.live_views ELSE 1 END"
ORDER_KEYS: dict[str, tuple[list[str], str]] = {
    "START_TIME_ASC": (["s.start_time", "s.id"], "ASC"),
    "START_TIME_DESC": (["s.start_time", "s.id"], "DESC"),
    "TITLE_ASC": (['lower(s.title) COLLATE "C"', "s.id"], "ASC"),
    "LIVE_VIEWS_DESC": ([LIVE_VIEWS_KEY, "s.id"], "ASC"),
}

# Where a row of list_sessions holds each part of its key: a column it has
# anyway, or sort_key_N for an expression (decoding start_time and id twice
# was a quarter of the page's fetch cost).
KEY_COLUMNS: dict[str, tuple[str, str]] = {
    "START_TIME_ASC": ("start_time", "id"),
    "START_TIME_DESC": ("start_time", "id"),
    "TITLE_ASC": ("sort_key_0", "id"),
    "LIVE_VIEWS_DESC": ("sort_key_0", "id"),
}


def sort_key(row: asyncpg.Record, order: str) -> tuple[Any, Any]:
    """The keyset position of a list_sessions row (what a cursor encodes)."""
    first, second = KEY_COLUMNS[order]
    return row[first], row[second]


SEARCH_CONDITION = "($2::text IS NULL OR s.title ILIKE $2)"


def title_pattern(search: str | None) -> str | None:
    """An ILIKE pattern matching titles that contain `search` literally."""
    if search is None:
        return None
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _window(
    params: list[Any], starts_after: datetime | None, starts_before: datetime | None
) -> str:
    """Conditions on the start time (only those given, so the usual SQL is unchanged)."""
    condition = ""
    if starts_after is not None:
        params.append(starts_after)
        condition += f" AND s.start_time >= ${len(params)}"
    if starts_before is not None:
        params.append(starts_before)
        condition += f" AND s.start_time < ${len(params)}"
    return condition


async def list_sessions(
    db: Executor,
    *,
    event_id: int,
    order: str,
    search: str | None,
    after: Sequence[Any] | None,
    limit: int,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
    with_stats: bool = False,
) -> list[asyncpg.Record]:
    """One page of an event's sessions, each row with its key (`sort_key(row, order)`).

    with_stats: each row also carries its counters (STATS_COLUMNS), read in
    the same statement (the page joins session_stats anyway, for its order).
    """
    keys, direction = ORDER_KEYS[order]
    key_columns = KEY_COLUMNS[order]
    params: list[Any] = [event_id, title_pattern(search), limit]
    where = f"s.event_id = $1 AND {SEARCH_CONDITION}"
    if after is not None:
        op = ">" if direction == "ASC" else "<"
        where += f" AND ({', '.join(keys)}) {op} ($4, $5)"
        params += list(after)
    where += _window(params, starts_after, starts_before)
    stats = f", {STATS_COLUMNS}" if with_stats else ""
    # A key that is not a column of the row already comes as its own column.
    extra = "".join(
        f", {expr} AS {column}"
        for expr, column in zip(keys, key_columns, strict=True)
        if column.startswith("sort_key")
    )
    sql = (
        f"SELECT {SESSION_COLUMNS}{stats}{extra}"
        " FROM sessions s JOIN session_stats st"
        "   ON st.event_id = s.event_id AND st.session_id = s.id"
        f" WHERE {where}"
        f" ORDER BY {', '.join(f'{k} {direction}' for k in keys)} LIMIT $3"
    )
    return await db.fetch(sql, *params)


async def count_sessions(
    db: Executor,
    *,
    event_id: int,
    search: str | None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
) -> int:
    params: list[Any] = [event_id, title_pattern(search)]
    where = f"s.event_id = $1 AND {SEARCH_CONDITION}" + _window(
        params, starts_after, starts_before
    )
    count: int = await db.fetchval(f"SELECT count(*) FROM sessions s WHERE {where}", *params)
    return count


async def stats_changed_at(db: Executor, *, event_id: int, session_id: int) -> datetime | None:
    changed: datetime | None = await db.fetchval(
        "SELECT updated_at FROM session_stats WHERE event_id = $1 AND session_id = $2",
        event_id,
        session_id,
    )
    return changed


async def load_session_stats(db: Executor, keys: list[tuple[int, int]]) -> list[asyncpg.Record]:
    """Counters of sessions given as (event_id, session_id)."""
    return await db.fetch(
        "SELECT st.* FROM session_stats st"
        " JOIN unnest($1::bigint[], $2::bigint[]) AS k(event_id, session_id)"
        "   ON st.event_id = k.event_id AND st.session_id = k.session_id",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )


# Registrations and joins are sets: the counters move only when a row is
# really inserted or deleted, in the same statement.
def _membership_sql(table: str, counter: str, *, add: bool) -> str:
    change = (
        f"INSERT INTO {table} (event_id, session_id, user_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING event_id, session_id"
        if add
        else f"DELETE FROM {table} WHERE event_id = $1 AND session_id = $2 AND user_id = $3"
        " RETURNING event_id, session_id"
    )
    sign = "+" if add else "-"
    return (
        f"WITH changed AS ({change})"
        f" UPDATE session_stats st SET {counter} = {counter} {sign} 1, updated_at = now()"
        " FROM changed WHERE st.event_id = changed.event_id AND st.session_id = changed.session_id"
    )


REGISTER = _membership_sql("session_registrations", "registered_count", add=True)
UNREGISTER = _membership_sql("session_registrations", "registered_count", add=False)
JOIN = _membership_sql("session_joins", "attendee_count", add=True)


async def register(db: Executor, *, event_id: int, session_id: int, user_id: int) -> None:
    await db.execute(REGISTER, event_id, session_id, user_id)


async def unregister(db: Executor, *, event_id: int, session_id: int, user_id: int) -> None:
    await db.execute(UNREGISTER, event_id, session_id, user_id)


async def join(db: Executor, *, event_id: int, session_id: int, user_id: int) -> None:
    await db.execute(JOIN, event_id, session_id, user_id)


async def get_event_session(
    db: Executor, *, event_id: int, session_id: int
) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.event_id = $1 AND s.id = $2",
        event_id,
        session_id,
    )
