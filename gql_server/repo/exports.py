"""The per-attendee export's one statement, read through a server-side cursor."""

from collections.abc import AsyncIterator

import asyncpg

from gql_server.db import Pool
from gql_server.repo.analytics import TIMELINE_COLUMNS

# One row per (session, person) of the event: anyone who registered, joined or
# reported watching the session, as in the API's viewer lists.
VIEWER_ROWS = f"""
WITH people AS (
    SELECT session_id, user_id FROM session_registrations WHERE event_id = $1
    UNION SELECT session_id, user_id FROM session_joins WHERE event_id = $1
    UNION SELECT session_id, user_id FROM viewer_watch WHERE event_id = $1
)
SELECT s.id AS session_id, s.title, s.format, s.stream_provider, s.video_duration,
       u.id AS user_id, u.email, u.name,
       EXISTS (SELECT 1 FROM session_registrations r WHERE r.event_id = $1
               AND r.session_id = p.session_id AND r.user_id = p.user_id) AS registered,
       j.created_at IS NOT NULL AS joined,
       lw.watched_seconds AS live_seconds, rw.watched_seconds AS recording_seconds,
       least(lw.first_watched_at, rw.first_watched_at) AS first_watched_at,
       greatest(lw.last_watched_at, rw.last_watched_at) AS last_watched_at,
       {TIMELINE_COLUMNS}
FROM people p
JOIN sessions s ON s.event_id = $1 AND s.id = p.session_id
JOIN users u ON u.id = p.user_id
LEFT JOIN viewer_watch lw ON lw.event_id = $1 AND lw.session_id = p.session_id
                         AND lw.user_id = p.user_id AND lw.mode = 'LIVE'
LEFT JOIN viewer_watch rw ON rw.event_id = $1 AND rw.session_id = p.session_id
                         AND rw.user_id = p.user_id AND rw.mode = 'RECORDING'
LEFT JOIN session_joins j ON j.event_id = $1 AND j.session_id = p.session_id
                         AND j.user_id = p.user_id
ORDER BY s.start_time, s.id, u.id
"""

PREFETCH = 1000  # rows fetched at a time: the export's memory does not grow with the event


async def viewer_rows(pool: Pool, *, event_id: int) -> AsyncIterator[list[asyncpg.Record]]:
    """The rows in chunks of PREFETCH, from one snapshot of the event."""
    async with (
        pool.acquire() as conn,
        conn.transaction(readonly=True, isolation="repeatable_read"),
    ):
        cursor = await conn.cursor(VIEWER_ROWS, event_id)
        while rows := await cursor.fetch(PREFETCH):
            yield rows
