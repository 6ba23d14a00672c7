"""Checks that the rollups equal a recount from the raw segments (tests, benchmarks, operators)."""

from gql_server.db import Executor

# Written independently of the incremental and bulk paths on purpose (its own
# threshold expression: min(30, duration), 30 when unknown), so that it can
# catch either of them drifting from the record.
RECOUNT = """
WITH per_viewer AS (
    SELECT w.event_id, w.session_id, w.user_id, w.mode,
           watched_seconds(range_agg(int4range(w.start_second, w.end_second)),
                           s.video_duration) AS seconds,
           CASE WHEN s.video_duration IS NULL THEN 30 ELSE least(30, s.video_duration) END
               AS threshold
    FROM watch_segments w
    JOIN sessions s ON s.event_id = w.event_id AND s.id = w.session_id
    WHERE $1::bigint IS NULL OR w.event_id = $1
    GROUP BY w.event_id, w.session_id, w.user_id, w.mode, s.video_duration
), recount AS (
    SELECT event_id, session_id,
           count(*) FILTER (WHERE mode = 'LIVE' AND seconds > 0) AS live_viewers,
           count(*) FILTER (WHERE mode = 'LIVE' AND seconds >= threshold) AS live_views,
           coalesce(sum(seconds) FILTER (WHERE mode = 'LIVE'), 0) AS live_seconds,
           count(*) FILTER (WHERE mode = 'RECORDING' AND seconds > 0) AS recording_viewers,
           count(*) FILTER (WHERE mode = 'RECORDING' AND seconds >= threshold)
               AS recording_views,
           coalesce(sum(seconds) FILTER (WHERE mode = 'RECORDING'), 0) AS recording_seconds
    FROM per_viewer GROUP BY event_id, session_id
), attended AS (
    -- Who joined (joinSession) or watched a live second, from the raw segments: not
    -- from the implied join rows the write paths keep.
    SELECT event_id, session_id, count(*) AS attendees FROM (
        SELECT event_id, session_id, user_id FROM session_joins
        WHERE explicit AND ($1::bigint IS NULL OR event_id = $1)
        UNION
        SELECT event_id, session_id, user_id FROM per_viewer WHERE mode = 'LIVE' AND seconds > 0
    ) people GROUP BY event_id, session_id
)
SELECT st.session_id FROM session_stats st
LEFT JOIN recount r ON r.event_id = st.event_id AND r.session_id = st.session_id
LEFT JOIN attended a ON a.event_id = st.event_id AND a.session_id = st.session_id
WHERE ($1::bigint IS NULL OR st.event_id = $1)
  AND (coalesce(r.live_viewers, 0), coalesce(r.live_views, 0), coalesce(r.live_seconds, 0),
       coalesce(r.recording_viewers, 0), coalesce(r.recording_views, 0),
       coalesce(r.recording_seconds, 0), coalesce(a.attendees, 0))
   IS DISTINCT FROM
      (st.live_viewers, st.live_views, st.live_seconds,
       st.recording_viewers, st.recording_views, st.recording_seconds, st.attendee_count)
"""


async def find_rollup_mismatches(db: Executor, event_id: int | None = None) -> list[int]:
    """Sessions whose counters differ from a recount of the raw segments (empty: exact)."""
    return [row["session_id"] for row in await db.fetch(RECOUNT, event_id)]
