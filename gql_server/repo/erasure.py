"""Erasing a person: every row about them, and the counters recomputed without them."""

import asyncpg

from gql_server.db import Connection
from gql_server.repo.watch import lock_event_sessions, recount_attendance, recount_stats

TOUCHED = """
SELECT event_id, session_id FROM session_registrations WHERE user_id = $1
UNION SELECT event_id, session_id FROM session_joins WHERE user_id = $1
UNION SELECT event_id, session_id FROM viewer_watch WHERE user_id = $1
"""


async def touched_sessions(conn: Connection, *, user_id: int) -> list[asyncpg.Record]:
    """(event_id, session_id) of every session the person registered for, joined or watched."""
    return await conn.fetch(TOUCHED, user_id)


async def lock_events(conn: Connection, event_ids: list[int]) -> dict[int, int | None]:
    """Lock every session of these events against writes; session id -> video duration."""
    durations: dict[int, int | None] = {}
    for event_id in sorted(event_ids):
        durations.update(await lock_event_sessions(conn, event_id=event_id))
    return durations


async def delete_person(conn: Connection, *, user_id: int, event_ids: list[int]) -> bool:
    """Delete every row about the person; False when there is no such person."""
    email: str | None = await conn.fetchval("SELECT email FROM users WHERE id = $1", user_id)
    if email is None:
        return False
    for by_event in ("watch_segments", "watch_slots"):  # no index by person (hot inserts)
        await conn.execute(
            f"DELETE FROM {by_event} WHERE event_id = any($2::bigint[]) AND user_id = $1",
            user_id,
            event_ids,
        )
    for table in ("viewer_watch", "session_registrations", "session_joins", "auth_tokens",
                  "organizer_admins", "event_admins"):  # fmt: skip
        await conn.execute(f"DELETE FROM {table} WHERE user_id = $1", user_id)
    await conn.execute("DELETE FROM event_attendees WHERE email = $1", email)
    await conn.execute("DELETE FROM login_failures WHERE email = $1", email)
    await conn.execute("DELETE FROM users WHERE id = $1", user_id)
    return True


async def recount_sessions(conn: Connection, *, event_id: int, thresholds: dict[int, int]) -> None:
    """Registrations, joins and watch counters of these sessions, from what is left."""
    await recount_attendance(conn, event_id=event_id, session_ids=sorted(thresholds))
    await recount_stats(conn, event_id=event_id, thresholds=thresholds)


async def record_erasure(conn: Connection, *, by_the_person: bool, sessions: int) -> None:
    await conn.execute(
        "INSERT INTO erasures (by_the_person, sessions_recounted) VALUES ($1, $2)",
        by_the_person,
        sessions,
    )
