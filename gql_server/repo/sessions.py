"""Sessions, their counters, registrations and joins."""

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

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
), webhook_state AS (
    INSERT INTO webhook_session_state (event_id, session_id) SELECT event_id, id FROM s
), lookup AS (
    INSERT INTO session_events (session_id, event_id) SELECT id, event_id FROM s
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
               WHERE e.id = $3 AND a.user_id = $2) AS organizer_admin,
       EXISTS (SELECT 1 FROM event_admins a
               WHERE a.event_id = $3 AND a.user_id = $2) AS event_admin
FROM sessions s WHERE s.event_id = $3 AND s.id = $1
"""


async def session_event(db: Executor, session_id: int) -> int | None:
    """The event of a session named by its id alone; None if there is no such session.

    Read from session_events (a reference table on Citus: a copy on every node) so
    that the statement after it names the event and asks only that event's shard.
    """
    event_id: int | None = await db.fetchval(
        "SELECT event_id FROM session_events WHERE session_id = $1", session_id
    )
    return event_id


async def sessions_events(db: Executor, session_ids: list[int]) -> list[int]:
    """The events of these sessions (unknown ids have none), in order."""
    rows = await db.fetch(
        "SELECT DISTINCT event_id FROM session_events WHERE session_id = any($1::bigint[])"
        " ORDER BY event_id",
        session_ids,
    )
    return [row["event_id"] for row in rows]


async def get_session_access(
    db: Executor, *, session_id: int, user_id: int, for_update: bool = False
) -> asyncpg.Record | None:
    """The session and the user's roles on its event; None if there is no such session."""
    event_id = await session_event(db, session_id)
    if event_id is None:
        return None
    sql = GET_SESSION_ACCESS + (" FOR UPDATE OF s" if for_update else "")
    return await db.fetchrow(sql, session_id, user_id, event_id)


# Whether the person with this email may attend: the event is OPEN, or lists them
# ($2: their verified address, auth.Actor.attendee_email; NULL matches no list).
# {events}: the event's parameter (or array of them), named in the subquery itself
# so that Citus asks only the event's shard (docs/scaling.md).
def may_attend(events: str) -> str:
    return f"""(e.attendance = 'OPEN' OR EXISTS (
    SELECT 1 FROM event_attendees a WHERE a.event_id {events}
        AND a.event_id = s.event_id AND a.email = $2))"""


async def get_watch_session(
    db: Executor, *, session_id: int, user_id: int, email: str | None
) -> asyncpg.Record | None:
    """A session as an attendee sees it: may they attend, have they registered, joined."""
    event_id = await session_event(db, session_id)
    if event_id is None:
        return None
    return await db.fetchrow(
        f"SELECT {SESSION_COLUMNS}, {may_attend('= $4')} AS may_attend,"
        " EXISTS (SELECT 1 FROM session_registrations r WHERE r.event_id = $4"
        "   AND r.session_id = s.id AND r.user_id = $3) AS registered,"
        " EXISTS (SELECT 1 FROM session_joins j WHERE j.event_id = $4"
        "   AND j.session_id = s.id AND j.user_id = $3) AS joined"
        " FROM sessions s JOIN events e ON e.id = s.event_id"
        " WHERE s.event_id = $4 AND e.id = $4 AND s.id = $1",
        session_id,
        email,
        user_id,
        event_id,
    )


async def get_session_attendance(
    db: Executor, *, session_id: int, email: str | None
) -> asyncpg.Record | None:
    """The session's event and whether this person may attend it; None: no such session."""
    event_id = await session_event(db, session_id)
    if event_id is None:
        return None
    return await db.fetchrow(
        f"SELECT s.event_id, s.id, {may_attend('= $3')} AS may_attend"
        " FROM sessions s JOIN events e ON e.id = s.event_id"
        " WHERE s.event_id = $3 AND e.id = $3 AND s.id = $1",
        session_id,
        email,
        event_id,
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


@dataclass(frozen=True)
class PageQuery:
    """Which page of an event's sessions: its order, search, keyset start and window."""

    event_id: int
    order: str
    search: str | None
    after: Sequence[Any] | None
    limit: int
    starts_after: datetime | None = None
    starts_before: datetime | None = None

    def parts(self) -> tuple[str, str, list[Any]]:
        """FROM .. WHERE, ORDER BY and the parameters ($3 is the limit)."""
        keys, direction = ORDER_KEYS[self.order]
        params: list[Any] = [self.event_id, title_pattern(self.search), self.limit]
        where = f"s.event_id = $1 AND {SEARCH_CONDITION}"
        if self.after is not None:
            op = ">" if direction == "ASC" else "<"
            where += f" AND ({', '.join(keys)}) {op} ($4, $5)"
            params += list(self.after)
        where += _window(params, self.starts_after, self.starts_before)
        source = (
            "FROM sessions s JOIN session_stats st"
            "   ON st.event_id = s.event_id AND st.session_id = s.id"
            f" WHERE {where}"
        )
        return source, ", ".join(f"{k} {direction}" for k in keys), params

    def key_columns(self) -> str:
        """A key that is not a column of the row already comes as its own column."""
        keys, _ = ORDER_KEYS[self.order]
        return "".join(
            f", {expr} AS {column}"
            for expr, column in zip(keys, KEY_COLUMNS[self.order], strict=True)
            if column.startswith("sort_key")
        )


async def list_sessions(
    db: Executor, page: PageQuery, *, with_stats: bool = False
) -> list[asyncpg.Record]:
    """One page of an event's sessions, each row with its key (`sort_key(row, order)`).

    with_stats: each row also carries its counters (STATS_COLUMNS), read in
    the same statement (the page joins session_stats anyway, for its order).
    """
    source, order_by, params = page.parts()
    stats = f", {STATS_COLUMNS}" if with_stats else ""
    columns = f"{SESSION_COLUMNS}{stats}{page.key_columns()}"
    return await db.fetch(f"SELECT {columns} {source} ORDER BY {order_by} LIMIT $3", *params)


class RenderedField(Protocol):
    """One key of a JSON object list_sessions_json renders (execution.JsonField)."""

    @property
    def key(self) -> str: ...
    @property
    def attribute(self) -> str: ...
    @property
    def nested(self) -> "Sequence[RenderedField] | None": ...
    @property
    def typename(self) -> str | None: ...


def _iso(column: str) -> str:
    """A timestamptz as the API prints it (datetime.isoformat() in UTC), as JSON.

    PostgreSQL's JSON form is that for whole seconds, the session's TimeZone
    being UTC (db.create_pool sets it); with a fraction it prints only the
    digits needed (.5), isoformat all six (.500000): to_char, 2.5 times slower.
    Whole seconds are told by date_bin, plain arithmetic on the stored
    microseconds (date_trunc goes through the session's time zone)."""
    return (
        f"CASE WHEN date_bin('1 second', {column}, {EPOCH}) = {column}"
        f" THEN to_json({column})::text"
        f""" ELSE '"' || to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')"""
        f""" || '+00:00"' END"""
    )


EPOCH = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"


def _float(value: str) -> str:
    """A double as JSON the way orjson prints it: 100.0, not PostgreSQL's 100
    (JSON readers would give an int). The value must be below 1e15 (ok), so
    a whole one prints as plain digits; the shortest exact digits come from
    extra_float_digits = 1 (db.create_pool)."""
    return f"({value})::text || CASE WHEN {value} = trunc({value}) THEN '.0' ELSE '' END"


def _average(seconds: str, viewers: str) -> str:
    """rules.average_attended: a double division of two exact ints is correctly rounded."""
    return _float(
        f"CASE WHEN p.available THEN CASE WHEN p.{viewers} = 0 THEN 0::float8"
        f" ELSE p.{seconds}::float8 / p.{viewers} END END"
    )


def _engagement(seconds: str, viewers: str) -> str:
    """rules.engagement: 100 x seconds / (duration x viewers), null without a duration."""
    return _float(
        f"CASE WHEN p.available AND p.video_duration IS NOT NULL THEN"
        f" CASE WHEN p.{viewers} = 0 THEN 0::float8 ELSE 100 * p.{seconds}::float8"
        f" / (p.video_duration::bigint * p.{viewers}) END END"
    )


def _string(value: str) -> str:
    return f"to_json({value})::text"


def _bare_string(value: str) -> str:
    """A string JSON prints as it is: digits, or a name the table's CHECK allows."""
    return f"""'"' || {value} || '"'"""


def _number(value: str) -> str:
    return f"({value})::text"  # ints and booleans print as JSON does


INT32 = "BETWEEN -2147483648 AND 2147483647"
# Doubles hold integers exactly up to 2^53: below that, the SQL division
# rounds once, as Python's int / int does.
EXACT = 9007199254740992


def _exact_engagement(seconds: str, viewers: str) -> str:
    return f"p.{seconds} < {EXACT // 100} AND p.video_duration::bigint * p.{viewers} <= {EXACT}"


# What each attribute of a Session is in a rendered page row p: the SQL of its
# JSON text (SQL null for JSON null), exactly what the object path
# (services.sessions.session_numbers, types.sessions.Session) prints, and when
# that SQL is exact. A row where a condition fails (an Int over 32 bits, a
# double that would round twice) makes the caller take the object path, which
# reports or prints it as always.
SESSION_JSON: dict[str, tuple[str, str | None]] = {
    "id": (_bare_string("p.id"), None),
    "session_id": (_bare_string("p.id"), None),
    "title": (_string("p.title"), None),
    "start_time": (_iso("p.start_time"), "isfinite(p.start_time)"),
    "end_time": (_iso("p.end_time"), "isfinite(p.end_time)"),
    "format": (_bare_string("p.format"), None),  # CHECK: the SessionFormat names
    "stream_provider": (_bare_string("p.stream_provider"), None),  # CHECK: the providers'
    "duration": (_number("CASE WHEN p.has_video THEN p.video_duration END"), None),
    "analytics_available": (_number("p.available"), None),
    "registered_user_count": (_number("p.registered_count"), None),
    "attendee_count": (_number("p.attendee_count"), None),
    "stored_live_views": (_number("CASE WHEN p.available THEN p.live_views END"), None),
    "stored_recording_views": (_number("CASE WHEN p.available THEN p.recording_views END"), None),
    "avg_attended_duration": (_average("live_seconds", "live_viewers"), "p.live_seconds < 1e15"),
    "avg_recording_duration": (
        _average("recording_seconds", "recording_viewers"),
        "p.recording_seconds < 1e15",
    ),
    "live_engagement": (
        _engagement("live_seconds", "live_viewers"),
        _exact_engagement("live_seconds", "live_viewers"),
    ),
    "recording_engagement": (
        _engagement("recording_seconds", "recording_viewers"),
        _exact_engagement("recording_seconds", "recording_viewers"),
    ),
    "as_of": (_iso("p.updated_at"), "isfinite(p.updated_at)"),
}
# Those whose SQL is never null (NOT NULL columns, `available`).
NEVER_NULL = frozenset(
    {"id", "session_id", "title", "start_time", "end_time", "format", "analytics_available",
     "registered_user_count", "attendee_count", "as_of"}
)  # fmt: skip
# Those that are the session's own columns, not its counters'.
OWN_ATTRIBUTES = frozenset(
    {"id", "session_id", "title", "start_time", "end_time", "format", "stream_provider",
     "duration", "analytics_available"}
)  # fmt: skip
# The attributes of its WatchTime (null without analytics).
WATCH_TIME_JSON: dict[str, str] = {
    "live": "p.live_seconds",
    "recording": "p.recording_seconds",
    "total": "p.live_seconds + p.recording_seconds",
}
# Attributes by the name of the type they belong to, for execution.json_selection.
RENDERABLE = {
    "Session": frozenset([*SESSION_JSON, "watch_time"]),
    "WatchTime": frozenset(WATCH_TIME_JSON),
}
HAS_VIDEO = (
    f"(s.format <> all({_sql_text_array(NETWORKING_FORMATS)}) AND s.stream_provider IS NOT NULL)"
)
_KEY = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,62}")


def _key(key: str) -> str:
    # Response keys are GraphQL names (the parser's rule), checked again here
    # because they become literals of the SQL text.
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a GraphQL name: {key!r}")
    return key


def _object(members: list[tuple[str, str, bool]]) -> str:
    """A JSON object's text from (key, JSON text or SQL null, may it be null) triples.

    Adjacent literals are joined ('a' || 'b' is 'ab': fewer concatenations,
    each of which copies the text so far). Every literal this module writes
    is a key, punctuation or a format, none with a quote followed by ` || `,
    so `' || '` only ever joins two literals."""
    parts = [
        f"""'{"{" if i == 0 else ","}"{_key(k)}":' || """
        + (f"coalesce({v}, 'null')" if nullable else v)
        for i, (k, v, nullable) in enumerate(members)
    ]
    text = " || ".join(parts) + " || '}'" if parts else "'{}'"
    return text.replace("' || '", "")


def _typename(name: str) -> str:
    return f"""'"{_key(name)}"'"""


def _render(selection: Sequence[RenderedField], ok: list[str]) -> str:
    """The SQL of one session's JSON text for `selection`; adds what must hold to `ok`."""
    members = []
    for field in selection:
        if field.typename is not None:
            members.append((field.key, _typename(field.typename), False))
        elif field.nested is not None:
            assert field.attribute == "watch_time", field.attribute
            value = f"CASE WHEN p.available THEN {_watch_time(field.nested, ok)} END"
            members.append((field.key, value, True))
        else:
            value, condition = SESSION_JSON[field.attribute]
            if condition is not None:
                ok.append(condition)
            members.append((field.key, value, field.attribute not in NEVER_NULL))
    return _object(members)


def _watch_time(selection: Sequence[RenderedField], ok: list[str]) -> str:
    members = []
    for field in selection:
        if field.typename is not None:
            members.append((field.key, _typename(field.typename), False))
            continue
        value = WATCH_TIME_JSON[field.attribute]
        ok.append(f"{value} {INT32}")
        members.append((field.key, _number(value), False))  # NOT NULL columns
    return _object(members)


@functools.lru_cache(maxsize=256)
def _json_page_sql(selection: tuple[RenderedField, ...], page_shape: tuple[Any, ...]) -> str:
    order, source, order_by, key_columns = page_shape
    ok: list[str] = []
    node = _render(selection, ok)
    first, second = KEY_COLUMNS[order]
    # The counters only when something selected is made of them.
    counted = any(f.typename is None and f.attribute not in OWN_ATTRIBUTES for f in selection)
    stats = f", {STATS_COLUMNS}" if counted else ""
    # One pass over the page's rows: `n` numbers them (the aggregates sort by
    # it), `last` marks the event's last row, and the last row shown is row
    # limit - 1, or the last row when there are no more.
    shown = "p.n = $3 - 1 OR (p.last AND p.n < $3)"
    return f"""
SELECT '[' || coalesce(string_agg({node}, ',' ORDER BY p.n) FILTER (WHERE p.n < $3), '') || ']'
           AS nodes,
       coalesce(bool_and({" AND ".join(ok) or "true"}) FILTER (WHERE p.n < $3), true) AS ok,
       count(*) AS fetched,
       max(p.{first}) FILTER (WHERE {shown}) AS key_0,
       max(p.{second}) FILTER (WHERE {shown}) AS key_1
FROM (
    SELECT {SESSION_COLUMNS}{stats}{key_columns},
           coalesce({ANALYTICS_CONDITION}, false) AS available, {HAS_VIDEO} AS has_video,
           row_number() OVER w AS n, (lead(true) OVER w) IS NULL AS last
    {source} WINDOW w AS (ORDER BY {order_by}) ORDER BY {order_by} LIMIT $3
) p
"""


def json_page_statement(
    page: PageQuery, selection: Sequence[RenderedField], *, first_param: int, guard: str
) -> tuple[str, list[Any]]:
    """list_sessions_json's statement and parameters for a statement that reads the
    page along with something else: its placeholders numbered from $first_param,
    and no rows unless `guard` (SQL over the enclosing statement's columns) holds."""
    source, order_by, params = page.parts()
    shape = (page.order, f"{source} AND ({guard})", order_by, page.key_columns())
    return _renumbered(_json_page_sql(tuple(selection), shape), first_param - 1), params


@functools.lru_cache(maxsize=256)
def _renumbered(sql: str, shift: int) -> str:
    # Placeholders are the only `$` followed by digits in the SQL this module writes.
    return re.sub(r"\$(\d+)", lambda m: f"${int(m[1]) + shift}", sql)


async def list_sessions_json(
    db: Executor, page: PageQuery, selection: Sequence[RenderedField]
) -> asyncpg.Record:
    """A page of sessions (`page.limit` rows, one of which only tells that there are
    more) as the JSON array of the API's objects for `selection`, rendered by
    PostgreSQL: nodes (text of the first limit - 1 rows), ok (false: some row's
    value cannot be rendered exactly; take list_sessions), fetched (rows found),
    key_0 and key_1 (the last shown row's key, as sort_key gives it)."""
    source, order_by, params = page.parts()
    shape = (page.order, source, order_by, page.key_columns())
    row = await db.fetchrow(_json_page_sql(tuple(selection), shape), *params)
    assert row is not None
    return row


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
# A join counts once per person, and not again for someone who attended by watching
# live (their row exists, implied: it becomes explicit, xmax <> 0 says it was not
# inserted). The counters' row is locked first, as recordWatch does before it adds
# an implied join (repo/watch.py), so the two cannot deadlock.
JOIN = """
WITH locked AS MATERIALIZED (
    SELECT event_id, session_id FROM session_stats
    WHERE event_id = $1 AND session_id = $2 FOR UPDATE
), changed AS (
    INSERT INTO session_joins AS j (event_id, session_id, user_id)
    SELECT event_id, session_id, $3 FROM locked
    ON CONFLICT (event_id, session_id, user_id) DO UPDATE SET explicit = true
        WHERE NOT j.explicit
    RETURNING j.event_id, j.session_id, j.xmax = 0 AS inserted
)
UPDATE session_stats st SET attendee_count = attendee_count + 1, updated_at = now()
FROM changed WHERE changed.inserted
  AND st.event_id = changed.event_id AND st.session_id = changed.session_id
"""


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
