"""Organizers, events and the roles users hold on them."""

import functools
from typing import Any

import asyncpg

from gql_server.db import Executor
from gql_server.repo import accounts


async def create_organizer(db: Executor, *, name: str) -> asyncpg.Record:
    row = await db.fetchrow("INSERT INTO organizers (name) VALUES ($1) RETURNING id, name", name)
    assert row is not None
    return row


async def load_organizers_by_id(db: Executor, ids: list[int]) -> list[asyncpg.Record]:
    return await db.fetch("SELECT id, name FROM organizers WHERE id = any($1::bigint[])", ids)


async def get_organizer_access(
    db: Executor, *, organizer_id: int, user_id: int
) -> asyncpg.Record | None:
    """The organizer and whether the user administers it; None if there is no such organizer."""
    return await db.fetchrow(
        "SELECT o.id, o.name, EXISTS (SELECT 1 FROM organizer_admins a"
        "   WHERE a.organizer_id = o.id AND a.user_id = $2) AS organizer_admin"
        " FROM organizers o WHERE o.id = $1",
        organizer_id,
        user_id,
    )


EVENT_COLUMNS = "id, organizer_id, name, attendance"


async def create_event(
    db: Executor, *, organizer_id: int, name: str, attendance: str = "OPEN"
) -> asyncpg.Record:
    row = await db.fetchrow(
        "INSERT INTO events (organizer_id, name, attendance) VALUES ($1, $2, $3)"
        f" RETURNING {EVENT_COLUMNS}",
        organizer_id,
        name,
        attendance,
    )
    assert row is not None
    return row


def _event_access(user_id: str, event_id: str) -> str:
    """An event e's columns and the roles of the user `user_id` (SQL) on it.

    `event_id` is the parameter e is read by. Every table of event data in a
    statement names the event's parameter itself, subqueries included: that is how
    Citus sees that the statement needs one shard (it does not carry e.id = $n into
    a correlated subquery; docs/scaling.md)."""
    return f"""e.id, e.organizer_id, e.name, e.attendance,
       EXISTS (SELECT 1 FROM organizer_admins a
               WHERE a.organizer_id = e.organizer_id AND a.user_id = {user_id}) AS organizer_admin,
       EXISTS (SELECT 1 FROM event_admins a WHERE a.event_id = {event_id}
               AND a.event_id = e.id AND a.user_id = {user_id}) AS event_admin"""


GET_EVENT_ACCESS = f"SELECT {_event_access('$2', '$1')} FROM events e WHERE e.id = $1"


async def get_event_access(db: Executor, *, event_id: int, user_id: int) -> asyncpg.Record | None:
    """The event and the user's roles on it; None if there is no such event."""
    return await db.fetchrow(GET_EVENT_ACCESS, event_id, user_id)


# The token's user (accounts.SIGNED_IN_USER_COLUMNS) with the event and the
# user's roles on it: no row for a token that is not live, null event columns
# when there is no such event.
GET_EVENT_ACCESS_FOR_TOKEN = f"""
SELECT {_event_access("u.id", "$2")}, {accounts.SIGNED_IN_USER_COLUMNS}
FROM {accounts.SIGNED_IN_FROM} LEFT JOIN events e ON e.id = $2
WHERE {accounts.SIGNED_IN_WHERE}
"""


# Whether the token's user u hosts the event e (auth.is_host, in SQL): what a
# page read along with the event is guarded by (the caller still checks
# auth.is_host on the row, as for any event). `event_id`: the placeholder of the
# event in the statement it goes into, named in the subquery for Citus (see
# _event_access).
def signed_in_user_hosts(event_id: str) -> str:
    return f"""(u.is_super_admin
    OR EXISTS (SELECT 1 FROM organizer_admins a
               WHERE a.organizer_id = e.organizer_id AND a.user_id = u.id)
    OR EXISTS (SELECT 1 FROM event_admins a
               WHERE a.event_id = {event_id} AND a.event_id = e.id AND a.user_id = u.id))"""


# In a page's own statement, before it is renumbered (repo.sessions.json_page_statement),
# $1 is the page's event.
SIGNED_IN_USER_HOSTS = signed_in_user_hosts("$1")


async def get_event_access_for_token(
    db: Executor,
    *,
    token_hash: bytes,
    event_id: int | None,
    page: tuple[str, list[Any]] | None = None,
) -> asyncpg.Record | None:
    """get_event_access and accounts.get_token_user in one statement (see above).

    page: a statement of one row over the event (its placeholders from $3 on,
    guarded by signed_in_user_hosts) and its parameters; its columns come in the
    same row, with page_read: whether the guard held."""
    if page is None:
        return await db.fetchrow(GET_EVENT_ACCESS_FOR_TOKEN, token_hash, event_id)
    statement, params = event_access_with_page(event_id, page)
    return await db.fetchrow(statement, token_hash, *params)


def event_access_with_page(
    event_id: int | None, page: tuple[str, list[Any]]
) -> tuple[str, list[Any]]:
    """get_event_access_for_token's statement with a page, and its parameters after
    the token's hash ($1)."""
    statement, params = page
    return _with_page(statement), [event_id, *params]


@functools.lru_cache(maxsize=256)
def _with_page(statement: str) -> str:
    return f"""
SELECT {_event_access("u.id", "$2")}, {accounts.SIGNED_IN_USER_COLUMNS},
       {signed_in_user_hosts("$2")} AS page_read, page.*
FROM {accounts.SIGNED_IN_FROM} LEFT JOIN events e ON e.id = $2
     LEFT JOIN LATERAL ({statement}) page ON true
WHERE {accounts.SIGNED_IN_WHERE}
"""


async def user_exists(db: Executor, *, user_id: int) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id))


async def add_organizer_admin(db: Executor, *, organizer_id: int, user_id: int) -> None:
    await db.execute(
        "INSERT INTO organizer_admins (organizer_id, user_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING",
        organizer_id,
        user_id,
    )


async def add_event_admin(db: Executor, *, event_id: int, user_id: int) -> None:
    await db.execute(
        "INSERT INTO event_admins (event_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        event_id,
        user_id,
    )


HOSTED_EVENTS = """
SELECT e.id, e.organizer_id, e.name, e.attendance FROM events e
WHERE $2
   OR EXISTS (SELECT 1 FROM event_admins a WHERE a.event_id = e.id AND a.user_id = $1)
   OR EXISTS (SELECT 1 FROM organizer_admins a
              WHERE a.organizer_id = e.organizer_id AND a.user_id = $1)
ORDER BY e.id DESC
LIMIT $3
"""


async def hosted_events(
    db: Executor, *, user_id: int, super_admin: bool, limit: int
) -> list[asyncpg.Record]:
    """Events the user hosts (every event for a super admin), newest first."""
    return await db.fetch(HOSTED_EVENTS, user_id, super_admin, limit)


async def set_attendance(db: Executor, *, event_id: int, attendance: str) -> asyncpg.Record:
    row = await db.fetchrow(
        f"UPDATE events SET attendance = $2 WHERE id = $1 RETURNING {EVENT_COLUMNS}",
        event_id,
        attendance,
    )
    assert row is not None
    return row


def _count(status: str) -> int:
    """The row count of an INSERT/DELETE command status ("INSERT 0 3" -> 3)."""
    return int(status.rsplit(" ", 1)[1])


async def add_attendees(db: Executor, *, event_id: int, emails: list[str]) -> int:
    """How many of the emails were not listed yet (and now are)."""
    status = await db.execute(
        "INSERT INTO event_attendees (event_id, email) SELECT $1, unnest($2::text[])"
        " ON CONFLICT DO NOTHING",
        event_id,
        emails,
    )
    return _count(status)


async def remove_attendees(db: Executor, *, event_id: int, emails: list[str]) -> int:
    status = await db.execute(
        "DELETE FROM event_attendees WHERE event_id = $1 AND email = any($2::text[])",
        event_id,
        emails,
    )
    return _count(status)


ATTENDEES_WHERE = "event_id = $1 AND ($2::text IS NULL OR strpos(email, lower($2)) > 0)"


async def list_attendees(
    db: Executor, *, event_id: int, search: str | None, after: str | None, limit: int
) -> list[asyncpg.Record]:
    """A page of the attendee list by email (search: part of the address)."""
    return await db.fetch(
        f"SELECT email, added_at FROM event_attendees WHERE {ATTENDEES_WHERE}"
        " AND ($3::text IS NULL OR email > $3) ORDER BY email LIMIT $4",
        event_id,
        search,
        after,
        limit,
    )


async def count_attendees(db: Executor, *, event_id: int, search: str | None) -> int:
    count: int = await db.fetchval(
        f"SELECT count(*) FROM event_attendees WHERE {ATTENDEES_WHERE}", event_id, search
    )
    return count
