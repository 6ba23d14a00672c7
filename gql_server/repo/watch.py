"""Watch segments and the per-viewer unions and per-session counters built from them."""

from dataclasses import dataclass
from typing import NamedTuple

import asyncpg

from gql_server.analytics import rules
from gql_server.db import Connection, Executor
from gql_server.repo.sessions import may_attend, sessions_events


class Segment(NamedTuple):
    event_id: int
    session_id: int
    mode: str
    start_second: int
    end_second: int


async def get_sessions(
    db: Executor, session_ids: list[int], *, email: str | None
) -> list[asyncpg.Record]:
    """The sessions, and whether the person with this email may attend each.

    Their events are looked up first (repo.sessions.sessions_events): a batch of one
    event's sessions, as players send, is read from that event's shard alone."""
    event_ids = await sessions_events(db, session_ids)
    if not event_ids:
        return []
    return await db.fetch(
        "SELECT s.event_id, s.id, s.format, s.stream_provider, s.video_duration,"
        " s.start_time, s.end_time,"
        f" {may_attend('= any($3::bigint[])')} AS may_attend"
        " FROM sessions s JOIN events e ON e.id = s.event_id"
        " WHERE s.event_id = any($3::bigint[]) AND e.id = any($3::bigint[])"
        "   AND s.id = any($1::bigint[])",
        session_ids,
        email,
        event_ids,
    )


async def lock_event_sessions(conn: Connection, *, event_id: int) -> dict[int, int | None]:
    """Every session of the event, locked against writes; id -> video duration."""
    rows = await conn.fetch(
        "SELECT id, video_duration FROM sessions WHERE event_id = $1 ORDER BY id FOR UPDATE",
        event_id,
    )
    return {row["id"]: row["video_duration"] for row in rows}


@dataclass(frozen=True)
class CheckedSession:
    """A session as the batch was validated against, and its view threshold."""

    event_id: int
    id: int
    format: str
    stream_provider: str | None
    video_duration: int | None
    threshold: int


# One statement, so one atomic step with no explicit transaction:
# 1. lock the batch's sessions FOR SHARE in key order (a concurrent
#    updateSession waits, or we wait for it) and check they are still as
#    validated; if not, write nothing and return false (the caller re-reads
#    and validates again);
# 2. append the raw segments;
# 3. merge each (viewer, mode) union in key order; RETURNING gives its length
#    before and after (previous_watched_seconds: PostgreSQL 15 has no
#    RETURNING OLD);
# 4. move each session's counters by the exact deltas: seconds new - old,
#    viewers is_viewer(new) - is_viewer(old), views is_view(new, T) - is_view(old, T)
#    (migrations/0003_metric_rules.sql), locking the
#    counter rows in key order so concurrent batches cannot deadlock.
_RECORD_BATCH = """
WITH expected AS (
    SELECT * FROM unnest($7::bigint[], $8::text[], $9::text[], $10::int[], $11::int[])
        AS e(session_id, format, stream_provider, duration, threshold)
), locked AS MATERIALIZED (
    SELECT s.id, s.format, s.stream_provider, s.video_duration, s.start_time FROM sessions s
    WHERE s.event_id = any($13::bigint[]) AND s.id = any($7::bigint[])
    ORDER BY s.event_id, s.id FOR SHARE
), unchanged AS MATERIALIZED (
    SELECT NOT EXISTS (
        SELECT 1 FROM expected e LEFT JOIN locked l ON l.id = e.session_id
        WHERE l.id IS NULL
           OR (l.format, l.stream_provider, l.video_duration)
              IS DISTINCT FROM (e.format, e.stream_provider, e.duration)
    ) AS ok
), batch AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $4::text[], $5::int[], $6::int[])
        AS t(event_id, session_id, mode, start_second, end_second)
    WHERE (SELECT ok FROM unchanged)
), raw AS (
    INSERT INTO watch_segments (event_id, session_id, user_id, mode, start_second, end_second)
    SELECT event_id, session_id, $3, mode, start_second, end_second FROM batch
), unions AS (
    SELECT event_id, session_id, mode, range_agg(int4range(start_second, end_second)) AS watched
    FROM batch GROUP BY event_id, session_id, mode
), merged AS (
    INSERT INTO viewer_watch AS v (event_id, session_id, user_id, mode, watched, watched_seconds,
                                   clipped_to)
    SELECT b.event_id, b.session_id, $3, b.mode, b.watched, watched_seconds(b.watched, e.duration),
           e.duration
    FROM unions b
    JOIN expected e ON e.session_id = b.session_id
    ORDER BY b.event_id, b.session_id, b.mode
    ON CONFLICT (event_id, session_id, user_id, mode) DO UPDATE SET
        watched = v.watched + excluded.watched,
        -- DO UPDATE SET reads only the row and excluded (Citus: no subquery here)
        watched_seconds = watched_seconds(v.watched + excluded.watched, excluded.clipped_to),
        clipped_to = excluded.clipped_to,
        previous_watched_seconds = v.watched_seconds,
        -- "now" from the inserted row's defaults: Citus refuses now() in DO UPDATE SET
        plays = v.plays
                + (excluded.last_watched_at - v.last_watched_at > make_interval(secs => $12))::int,
        updated_at = excluded.updated_at,
        last_watched_at = excluded.last_watched_at
    RETURNING event_id, session_id, mode, previous_watched_seconds AS old,
              watched_seconds AS new, watched
{live_slots}{recording_slots}), deltas AS (
    SELECT m.event_id, m.session_id,
           sum(CASE WHEN m.mode = 'LIVE'
                    THEN is_viewer(m.new)::int - is_viewer(m.old)::int END) AS live_viewers,
           sum(CASE WHEN m.mode = 'LIVE'
                    THEN is_view(m.new, e.threshold)::int
                         - is_view(m.old, e.threshold)::int END)
               AS live_views,
           sum(CASE WHEN m.mode = 'LIVE' THEN m.new - m.old END) AS live_seconds,
           sum(CASE WHEN m.mode = 'RECORDING'
                    THEN is_viewer(m.new)::int - is_viewer(m.old)::int END) AS recording_viewers,
           sum(CASE WHEN m.mode = 'RECORDING'
                    THEN is_view(m.new, e.threshold)::int
                         - is_view(m.old, e.threshold)::int END)
               AS recording_views,
           sum(CASE WHEN m.mode = 'RECORDING' THEN m.new - m.old END) AS recording_seconds
    FROM merged m JOIN expected e ON e.session_id = m.session_id
    GROUP BY m.event_id, m.session_id
), locked_stats AS MATERIALIZED (
    SELECT st.event_id, st.session_id FROM session_stats st
    JOIN deltas d ON d.event_id = st.event_id AND d.session_id = st.session_id
    ORDER BY st.event_id, st.session_id FOR UPDATE OF st
){live_attended}, counted AS (
    UPDATE session_stats st SET{live_attendee_count}
        live_viewers = st.live_viewers + coalesce(d.live_viewers, 0),
        live_views = st.live_views + coalesce(d.live_views, 0),
        live_seconds = st.live_seconds + coalesce(d.live_seconds, 0),
        recording_viewers = st.recording_viewers + coalesce(d.recording_viewers, 0),
        recording_views = st.recording_views + coalesce(d.recording_views, 0),
        recording_seconds = st.recording_seconds + coalesce(d.recording_seconds, 0),
        updated_at = now()
    FROM locked_stats l JOIN deltas d ON d.event_id = l.event_id AND d.session_id = l.session_id
    WHERE st.event_id = l.event_id AND st.session_id = l.session_id
)
SELECT ok FROM unchanged{live_slots_done}
"""

# A person whose first live second arrives attended (contract/analytics-semantics.md:
# attendeeCount = #{u : u joined, or W(u, LIVE) > 0}): an implied join row, and the
# counter moves only if the row is new (a join before it, or a concurrent one,
# conflicts). After the counters' row locks (locked_stats), as joinSession takes
# them first too (JOIN), so the two cannot deadlock.
_LIVE_ATTENDED = """, attended AS (
    INSERT INTO session_joins (event_id, session_id, user_id, created_at, explicit)
    SELECT m.event_id, m.session_id, $3, now(), false
    FROM merged m JOIN locked_stats l ON l.event_id = m.event_id AND l.session_id = m.session_id
    WHERE m.mode = 'LIVE' AND is_viewer(m.new) AND NOT is_viewer(m.old)
    ORDER BY m.event_id, m.session_id
    ON CONFLICT DO NOTHING
    RETURNING event_id, session_id
)"""
_LIVE_ATTENDEE_COUNT = """
        attendee_count = st.attendee_count + (
            SELECT count(*) FROM attended a
            WHERE a.event_id = st.event_id AND a.session_id = st.session_id),"""

# The timeline's slots (migrations/0008_timeline.sql), for the modes a batch has:
# a statement carries only the parts its batch needs (an INSERT that writes no
# row still costs its planning and executor set-up on every batch).
_LIVE_SLOTS = """), live_slotted AS MATERIALIZED (
    -- LIVE slots (migrations/0009_live_slot_fast_path.sql: touch_live_slots).
    SELECT touch_live_slots(m.event_id, m.session_id, $3, clipped(m.watched, e.duration),
                            clipped(b.watched, e.duration), l.start_time, e.threshold,
                            m.old, m.new) AS slots
    FROM merged m
    JOIN expected e ON e.session_id = m.session_id
    JOIN locked l ON l.id = m.session_id
    JOIN unions b ON b.session_id = m.session_id AND b.mode = m.mode
    WHERE m.mode = 'LIVE'
"""
_RECORDING_SLOTS = """), recording_slotted AS (
    -- RECORDING: what the batch added, in the slot it was received in.
    INSERT INTO watch_slots AS w (event_id, session_id, user_id, mode, slot, seconds, views)
    SELECT m.event_id, m.session_id, $3, 'RECORDING', slot_of(now()), m.new - m.old,
           (is_view(m.new, e.threshold) AND NOT is_view(m.old, e.threshold))::int
    FROM merged m JOIN expected e ON e.session_id = m.session_id
    WHERE m.mode = 'RECORDING' AND m.new > m.old
    ORDER BY m.event_id, m.session_id
    ON CONFLICT (event_id, session_id, user_id, mode, slot)
        DO UPDATE SET seconds = w.seconds + excluded.seconds, views = w.views + excluded.views
"""


def _record_batch_sql(live: bool, recording: bool) -> str:
    return _RECORD_BATCH.format(
        live_attended=_LIVE_ATTENDED if live else "",
        live_attendee_count=_LIVE_ATTENDEE_COUNT if live else "",
        live_slots=_LIVE_SLOTS if live else "",
        recording_slots=_RECORDING_SLOTS if recording else "",
        live_slots_done=" WHERE (SELECT count(*) FROM live_slotted) >= 0" if live else "",
    )


# By (has LIVE segments, has RECORDING segments).
RECORD_BATCH = {
    (live, recording): _record_batch_sql(live, recording)
    for live in (False, True)
    for recording in (False, True)
}


async def record_batch(
    db: Executor, *, user_id: int, segments: list[Segment], sessions: list[CheckedSession]
) -> bool:
    """Store the batch and move the counters; False (nothing written) if a session changed."""
    if not segments:
        return True
    # Columns for unnest(): one transpose instead of five passes over the batch.
    event_ids, session_ids, modes, starts, ends = zip(*segments, strict=True)
    statement = RECORD_BATCH[("LIVE" in modes, "RECORDING" in modes)]
    written: bool = await db.fetchval(
        statement,
        event_ids,
        session_ids,
        user_id,
        modes,
        starts,
        ends,
        [s.id for s in sessions],
        [s.format for s in sessions],
        [s.stream_provider for s in sessions],
        [s.video_duration for s in sessions],
        [s.threshold for s in sessions],
        rules.PLAY_GAP_SECONDS,
        sorted({s.event_id for s in sessions}),
    )
    return written


# Recounts the watch counters of some sessions from the per-viewer rows (never
# from raw segments). Thresholds come from analytics.rules, one per session.
RECOUNT_STATS = """
WITH t AS (
    SELECT * FROM unnest($2::bigint[], $3::int[]) AS t(session_id, threshold)
), a AS (
    SELECT t.session_id,
           count(*) FILTER (WHERE v.mode = 'LIVE' AND is_viewer(v.watched_seconds))
               AS live_viewers,
           count(*) FILTER (WHERE v.mode = 'LIVE' AND is_view(v.watched_seconds, t.threshold))
               AS live_views,
           coalesce(sum(v.watched_seconds) FILTER (WHERE v.mode = 'LIVE'), 0) AS live_seconds,
           count(*) FILTER (WHERE v.mode = 'RECORDING' AND is_viewer(v.watched_seconds))
               AS recording_viewers,
           count(*) FILTER (WHERE v.mode = 'RECORDING'
                                  AND is_view(v.watched_seconds, t.threshold))
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
        "UPDATE viewer_watch SET watched_seconds = watched_seconds(watched, $3), clipped_to = $3,"
        " previous_watched_seconds = watched_seconds, updated_at = now()"
        " WHERE event_id = $1 AND session_id = $2",
        event_id,
        session_id,
        duration,
    )


# The bulk path (bench/generate.py, repairs): the per-viewer unions straight
# from the raw segments. tests/test_rollups.py proves it equal to what the
# incremental path maintains.
# Plays: one, plus one for each reception more than the gap after the one before.
REBUILD_VIEWER_WATCH = """
INSERT INTO viewer_watch (event_id, session_id, user_id, mode, watched, watched_seconds,
                          first_watched_at, last_watched_at, plays)
SELECT u.event_id, u.session_id, u.user_id, u.mode, u.watched,
       watched_seconds(u.watched, s.video_duration), u.first_at, u.last_at, p.plays
FROM (SELECT event_id, session_id, user_id, mode,
             range_agg(int4range(start_second, end_second)) AS watched,
             min(received_at) AS first_at, max(received_at) AS last_at
      FROM watch_segments WHERE event_id = $1
      GROUP BY event_id, session_id, user_id, mode) u
JOIN (SELECT event_id, session_id, user_id, mode,
             1 + count(*) FILTER (WHERE gap > make_interval(secs => $2)) AS plays
      FROM (SELECT event_id, session_id, user_id, mode,
                   received_at - lag(received_at) OVER (
                       PARTITION BY event_id, session_id, user_id, mode
                       ORDER BY received_at) AS gap
            FROM (SELECT DISTINCT event_id, session_id, user_id, mode, received_at
                  FROM watch_segments WHERE event_id = $1) d) g
      GROUP BY event_id, session_id, user_id, mode) p
  ON p.event_id = u.event_id AND p.session_id = u.session_id
 AND p.user_id = u.user_id AND p.mode = u.mode
JOIN sessions s ON s.event_id = u.event_id AND s.id = u.session_id
"""

# The implied joins (migrations/0012_attended_live.sql) of some sessions, again
# from the per-viewer rows: after a duration change (a live viewer's seconds may
# become 0, or more than 0) and in the bulk rebuild. Joined rows stay.
SYNC_LIVE_JOINS = """
WITH viewers AS (
    SELECT event_id, session_id, user_id, first_watched_at FROM viewer_watch
    WHERE event_id = $1 AND ($2::bigint[] IS NULL OR session_id = any($2::bigint[]))
      AND mode = 'LIVE' AND is_viewer(watched_seconds)
), gone AS (
    DELETE FROM session_joins j
    WHERE j.event_id = $1 AND ($2::bigint[] IS NULL OR j.session_id = any($2::bigint[]))
      AND NOT j.explicit
      AND NOT EXISTS (SELECT 1 FROM viewers v
                      WHERE v.session_id = j.session_id AND v.user_id = j.user_id)
)
INSERT INTO session_joins (event_id, session_id, user_id, created_at, explicit)
SELECT event_id, session_id, user_id, first_watched_at, false FROM viewers
ON CONFLICT DO NOTHING
"""


async def sync_live_joins(
    conn: Connection, *, event_id: int, session_ids: list[int] | None = None
) -> None:
    """The implied joins of the event's sessions (or only these) from their live viewers;
    recount_attendance after it."""
    await conn.execute(SYNC_LIVE_JOINS, event_id, session_ids)


RECOUNT_ATTENDANCE = """
UPDATE session_stats st SET
    registered_count = (SELECT count(*) FROM session_registrations r
                        WHERE r.event_id = st.event_id AND r.session_id = st.session_id),
    attendee_count = (SELECT count(*) FROM session_joins j
                      WHERE j.event_id = st.event_id AND j.session_id = st.session_id),
    updated_at = now()
WHERE st.event_id = $1 AND ($2::bigint[] IS NULL OR st.session_id = any($2::bigint[]))
"""


async def recount_attendance(
    conn: Connection, *, event_id: int, session_ids: list[int] | None = None
) -> None:
    """Registration and join counts of the event's sessions (or only these), recounted."""
    await conn.execute(RECOUNT_ATTENDANCE, event_id, session_ids)


# The timeline's slots of some sessions, from scratch: LIVE from the per-viewer
# unions; RECORDING by replaying the raw segments in the order received (each
# reception's additions to the union, as recordWatch counted them).
REBUILD_SLOTS = """
WITH t AS (
    SELECT * FROM unnest($2::bigint[], $3::int[]) AS t(session_id, threshold)
), receptions AS (
    SELECT g.session_id, g.user_id, g.received_at, t.threshold,
           watched_seconds(range_agg(g.got) OVER (
               PARTITION BY g.session_id, g.user_id ORDER BY g.received_at), s.video_duration)
               AS w_now
    FROM (SELECT session_id, user_id, received_at,
                 range_agg(int4range(start_second, end_second)) AS got
          FROM watch_segments
          WHERE event_id = $1 AND mode = 'RECORDING' AND session_id IN (SELECT session_id FROM t)
          GROUP BY session_id, user_id, received_at) g
    JOIN t ON t.session_id = g.session_id
    JOIN sessions s ON s.event_id = $1 AND s.id = g.session_id
), additions AS (
    SELECT r.*, coalesce(lag(r.w_now) OVER (
               PARTITION BY r.session_id, r.user_id ORDER BY r.received_at), 0) AS w_before
    FROM receptions r
)
INSERT INTO watch_slots (event_id, session_id, user_id, mode, slot, seconds, views)
SELECT $1, v.session_id, v.user_id, 'LIVE', r.slot, r.seconds, r.views
FROM viewer_watch v
JOIN t ON t.session_id = v.session_id
JOIN sessions s ON s.event_id = $1 AND s.id = v.session_id
CROSS JOIN LATERAL live_slot_rows(clipped(v.watched, s.video_duration), s.start_time,
                                  t.threshold) r
WHERE v.event_id = $1 AND v.mode = 'LIVE'
UNION ALL
SELECT $1, session_id, user_id, 'RECORDING', slot_of(received_at), sum(w_now - w_before),
       sum((is_view(w_now, threshold) AND NOT is_view(w_before, threshold))::int)
FROM additions WHERE w_now > w_before
GROUP BY session_id, user_id, slot_of(received_at)
"""


async def rebuild_slots(conn: Connection, *, event_id: int, thresholds: dict[int, int]) -> None:
    """The timeline's slots of these sessions (id -> view threshold), from scratch."""
    keys = sorted(thresholds)
    await conn.execute(
        "DELETE FROM watch_slots WHERE event_id = $1 AND session_id = any($2::bigint[])",
        event_id,
        keys,
    )
    await conn.execute(REBUILD_SLOTS, event_id, keys, [thresholds[k] for k in keys])


async def rebuild_event(conn: Connection, *, event_id: int, thresholds: dict[int, int]) -> None:
    """Replace an event's rollups with ones computed from its raw data."""
    await conn.execute("DELETE FROM viewer_watch WHERE event_id = $1", event_id)
    await conn.execute(REBUILD_VIEWER_WATCH, event_id, rules.PLAY_GAP_SECONDS)
    await sync_live_joins(conn, event_id=event_id)
    await recount_attendance(conn, event_id=event_id)
    await recount_stats(conn, event_id=event_id, thresholds=thresholds)
    await rebuild_slots(conn, event_id=event_id, thresholds=thresholds)
