"""Watch segments and the per-viewer unions and per-session counters built from them."""

from dataclasses import dataclass

import asyncpg

from gql_server.db import Connection


@dataclass(frozen=True)
class Segment:
    event_id: int
    session_id: int
    mode: str
    start_second: int
    end_second: int


async def lock_sessions(conn: Connection, session_ids: list[int]) -> list[asyncpg.Record]:
    """The sessions, locked against a concurrent change of duration until commit."""
    return await conn.fetch(
        "SELECT event_id, id, format, stream_provider, video_duration FROM sessions"
        " WHERE id = any($1::bigint[]) ORDER BY event_id, id FOR SHARE",
        session_ids,
    )


async def lock_event_sessions(conn: Connection, *, event_id: int) -> dict[int, int | None]:
    """Every session of the event, locked against writes; id -> video duration."""
    rows = await conn.fetch(
        "SELECT id, video_duration FROM sessions WHERE event_id = $1 ORDER BY id FOR UPDATE",
        event_id,
    )
    return {row["id"]: row["video_duration"] for row in rows}


# Appends the raw segments and merges them into each viewer's union, in one
# statement. Rows are upserted in key order so concurrent batches lock them
# in the same order. RETURNING gives each union's length before and after.
RECORD_SEGMENTS = """
WITH batch AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $4::text[], $5::int[], $6::int[])
        AS t(event_id, session_id, mode, start_second, end_second)
), raw AS (
    INSERT INTO watch_segments (event_id, session_id, user_id, mode, start_second, end_second)
    SELECT event_id, session_id, $3, mode, start_second, end_second FROM batch
)
INSERT INTO viewer_watch AS v (event_id, session_id, user_id, mode, watched, watched_seconds)
SELECT b.event_id, b.session_id, $3, b.mode, b.watched,
       watched_seconds(b.watched, s.video_duration)
FROM (SELECT event_id, session_id, mode, range_agg(int4range(start_second, end_second)) AS watched
      FROM batch GROUP BY event_id, session_id, mode) b
JOIN sessions s ON s.event_id = b.event_id AND s.id = b.session_id
ORDER BY b.event_id, b.session_id, b.mode
ON CONFLICT (event_id, session_id, user_id, mode) DO UPDATE SET
    watched = v.watched + excluded.watched,
    watched_seconds = watched_seconds(
        v.watched + excluded.watched,
        (SELECT video_duration FROM sessions s
         WHERE s.event_id = v.event_id AND s.id = v.session_id)),
    previous_watched_seconds = v.watched_seconds,
    updated_at = now()
RETURNING event_id, session_id, mode, previous_watched_seconds, watched_seconds
"""


async def record_segments(
    conn: Connection, *, user_id: int, segments: list[Segment]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        RECORD_SEGMENTS,
        [s.event_id for s in segments],
        [s.session_id for s in segments],
        user_id,
        [s.mode for s in segments],
        [s.start_second for s in segments],
        [s.end_second for s in segments],
    )


@dataclass
class StatsDelta:
    live_viewers: int = 0
    live_views: int = 0
    live_seconds: int = 0
    recording_viewers: int = 0
    recording_views: int = 0
    recording_seconds: int = 0


# Rows are locked in key order first (a MATERIALIZED CTE runs before the
# update consumes it), so batches touching several sessions cannot deadlock.
APPLY_DELTAS = """
WITH d AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[], $5::bigint[],
                         $6::int[], $7::int[], $8::bigint[])
        AS d(event_id, session_id, live_viewers, live_views, live_seconds,
             recording_viewers, recording_views, recording_seconds)
), locked AS MATERIALIZED (
    SELECT st.event_id, st.session_id FROM session_stats st
    JOIN d ON st.event_id = d.event_id AND st.session_id = d.session_id
    ORDER BY st.event_id, st.session_id FOR UPDATE OF st
)
UPDATE session_stats st SET
    live_viewers = st.live_viewers + d.live_viewers,
    live_views = st.live_views + d.live_views,
    live_seconds = st.live_seconds + d.live_seconds,
    recording_viewers = st.recording_viewers + d.recording_viewers,
    recording_views = st.recording_views + d.recording_views,
    recording_seconds = st.recording_seconds + d.recording_seconds,
    updated_at = now()
FROM locked JOIN d ON d.event_id = locked.event_id AND d.session_id = locked.session_id
WHERE st.event_id = locked.event_id AND st.session_id = locked.session_id
"""


async def apply_stats_deltas(conn: Connection, deltas: dict[tuple[int, int], StatsDelta]) -> None:
    keys = sorted(deltas)
    columns = [[k[0] for k in keys], [k[1] for k in keys]]
    for name in (
        "live_viewers",
        "live_views",
        "live_seconds",
        "recording_viewers",
        "recording_views",
        "recording_seconds",
    ):
        columns.append([getattr(deltas[k], name) for k in keys])
    await conn.execute(APPLY_DELTAS, *columns)


# Recounts the watch counters of some sessions from the per-viewer rows (never
# from raw segments). Thresholds come from analytics.rules, one per session.
RECOUNT_STATS = """
WITH t AS (
    SELECT * FROM unnest($2::bigint[], $3::int[]) AS t(session_id, threshold)
), a AS (
    SELECT t.session_id,
           count(*) FILTER (WHERE v.mode = 'LIVE' AND v.watched_seconds > 0) AS live_viewers,
           count(*) FILTER (WHERE v.mode = 'LIVE' AND v.watched_seconds >= t.threshold)
               AS live_views,
           coalesce(sum(v.watched_seconds) FILTER (WHERE v.mode = 'LIVE'), 0) AS live_seconds,
           count(*) FILTER (WHERE v.mode = 'RECORDING' AND v.watched_seconds > 0)
               AS recording_viewers,
           count(*) FILTER (WHERE v.mode = 'RECORDING' AND v.watched_seconds >= t.threshold)
               AS recording_views,
           coalesce(sum(v.watched_seconds) FILTER (WHERE v.mode = 'RECORDING'), 0)
               AS recording_seconds
    FROM t LEFT JOIN viewer_watch v ON v.event_id = $1 AND v.session_id = t.session_id
    GROUP BY t.session_id
)
UPDATE session_stats st SET
    live_viewers = a.live_viewers, live_views = a.live_views, live_seconds = a.live_seconds,
    recording_viewers = a.recording_viewers, recording_views = a.recording_views,
    recording_seconds = a.recording_seconds, updated_at = now()
FROM a WHERE st.event_id = $1 AND st.session_id = a.session_id
"""


async def recount_stats(conn: Connection, *, event_id: int, thresholds: dict[int, int]) -> None:
    keys = sorted(thresholds)
    await conn.execute(RECOUNT_STATS, event_id, keys, [thresholds[k] for k in keys])


async def reclip_session(
    conn: Connection, *, event_id: int, session_id: int, duration: int | None
) -> None:
    """Every viewer's watched seconds under a new duration."""
    await conn.execute(
        "UPDATE viewer_watch SET watched_seconds = watched_seconds(watched, $3),"
        " previous_watched_seconds = watched_seconds, updated_at = now()"
        " WHERE event_id = $1 AND session_id = $2",
        event_id,
        session_id,
        duration,
    )


# The bulk path (bench/generate.py, repairs): the per-viewer unions straight
# from the raw segments. tests/test_rollups.py proves it equal to what the
# incremental path maintains.
REBUILD_VIEWER_WATCH = """
INSERT INTO viewer_watch (event_id, session_id, user_id, mode, watched, watched_seconds)
SELECT u.event_id, u.session_id, u.user_id, u.mode, u.watched,
       watched_seconds(u.watched, s.video_duration)
FROM (SELECT event_id, session_id, user_id, mode,
             range_agg(int4range(start_second, end_second)) AS watched
      FROM watch_segments WHERE event_id = $1
      GROUP BY event_id, session_id, user_id, mode) u
JOIN sessions s ON s.event_id = u.event_id AND s.id = u.session_id
"""

RECOUNT_ATTENDANCE = """
UPDATE session_stats st SET
    registered_count = (SELECT count(*) FROM session_registrations r
                        WHERE r.event_id = st.event_id AND r.session_id = st.session_id),
    attendee_count = (SELECT count(*) FROM session_joins j
                      WHERE j.event_id = st.event_id AND j.session_id = st.session_id),
    updated_at = now()
WHERE st.event_id = $1
"""


async def rebuild_event(conn: Connection, *, event_id: int, thresholds: dict[int, int]) -> None:
    """Replace an event's rollups with ones computed from its raw data."""
    await conn.execute("DELETE FROM viewer_watch WHERE event_id = $1", event_id)
    await conn.execute(REBUILD_VIEWER_WATCH, event_id)
    await conn.execute(RECOUNT_ATTENDANCE, event_id)
    await recount_stats(conn, event_id=event_id, thresholds=thresholds)
