"""Organizers, events and the roles users hold on them."""

import asyncpg

from gql_server.db import Executor


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


async def create_event(db: Executor, *, organizer_id: int, name: str) -> asyncpg.Record:
    row = await db.fetchrow(
        "INSERT INTO events (organizer_id, name) VALUES ($1, $2) RETURNING id, organizer_id, name",
        organizer_id,
        name,
    )
    assert row is not None
    return row


GET_EVENT_ACCESS = """
SELECT e.id, e.organizer_id, e.name,
       EXISTS (SELECT 1 FROM organizer_admins a
               WHERE a.organizer_id = e.organizer_id AND a.user_id = $2) AS organizer_admin,
       EXISTS (SELECT 1 FROM event_admins a
               WHERE a.event_id = e.id AND a.user_id = $2) AS event_admin
FROM events e WHERE e.id = $1
"""


async def get_event_access(db: Executor, *, event_id: int, user_id: int) -> asyncpg.Record | None:
    """The event and the user's roles on it; None if there is no such event."""
    return await db.fetchrow(GET_EVENT_ACCESS, event_id, user_id)


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
SELECT e.id, e.organizer_id, e.name FROM events e
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
