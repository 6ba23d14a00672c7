"""The deeper analytics (docs/metrics.md), read from the rollups only.

Every statement reads viewer_watch (the per-viewer unions), session_stats,
registrations and joins; none reads the raw watch_segments. Each takes many
sessions at once (the DataLoaders batch a page of sessions into one call) and
reads session_stats.updated_at in the same statement, so `asOf` is the time
of the newest change included in the numbers it returns.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from gql_server.db import Executor
from gql_server.repo.sessions import ANALYTICS_CONDITION as ANALYTICS
from gql_server.repo.sessions import title_pattern

# Bucket deltas of a per-viewer set of sorted, disjoint ranges (lo, hi, user_id):
# each range covers buckets a..z; a range whose first bucket is the last bucket
# of the viewer's previous range starts one later, so that each viewer counts
# once per bucket. +1 at a, -1 at z + 1: a prefix sum gives viewers per bucket.
_BUCKET_DELTAS = """
    spans AS (
        SELECT {a} AS a, {z} AS z,
               lag({z}) OVER (PARTITION BY user_id ORDER BY lo) AS prev_z
        FROM ranges
    ), firsts AS (
        SELECT CASE WHEN a = prev_z THEN a + 1 ELSE a END AS a, z FROM spans
    ), deltas AS (
        SELECT bucket, sum(delta)::int AS delta FROM (
            SELECT a AS bucket, 1 AS delta FROM firsts WHERE a <= z
            UNION ALL
            SELECT z + 1, -1 FROM firsts WHERE a <= z
        ) e GROUP BY bucket
    )
"""

RETENTION = f"""
WITH wanted AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::int[])
        AS w(event_id, session_id, mode, duration, buckets)
)
SELECT w.session_id, w.mode, w.buckets, st.updated_at AS as_of,
       CASE w.mode WHEN 'LIVE' THEN st.live_viewers ELSE st.recording_viewers END AS viewers,
       d.bucket_list, d.deltas
FROM wanted w
JOIN session_stats st ON st.event_id = w.event_id AND st.session_id = w.session_id
CROSS JOIN LATERAL (
    WITH ranges AS (
        SELECT vw.user_id, lower(r)::bigint AS lo, upper(r)::bigint AS hi
        FROM viewer_watch vw,
             unnest(clipped(vw.watched, w.duration)) AS r
        WHERE vw.event_id = w.event_id AND vw.session_id = w.session_id AND vw.mode = w.mode
    ), {
    _BUCKET_DELTAS.format(a="lo * w.buckets / w.duration", z="(hi - 1) * w.buckets / w.duration")
}
    SELECT array_agg(bucket ORDER BY bucket) AS bucket_list,
           array_agg(delta ORDER BY bucket) AS deltas
    FROM deltas
) d
"""


@dataclass(frozen=True)
class RetentionKey:
    event_id: int
    session_id: int
    mode: str
    duration: int
    buckets: int


async def load_retention(db: Executor, keys: Sequence[RetentionKey]) -> list[asyncpg.Record]:
    return await db.fetch(
        RETENTION,
        [k.event_id for k in keys],
        [k.session_id for k in keys],
        [k.mode for k in keys],
        [k.duration for k in keys],
        [k.buckets for k in keys],
    )


CONCURRENCY = f"""
WITH wanted AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[])
        AS w(event_id, session_id, duration, bucket_seconds)
)
SELECT w.session_id, w.bucket_seconds, st.updated_at AS as_of,
       d.bucket_list, d.deltas, d.last_second, p.peak, p.peak_second
FROM wanted w
JOIN session_stats st ON st.event_id = w.event_id AND st.session_id = w.session_id
CROSS JOIN LATERAL (
    WITH ranges AS (
        SELECT vw.user_id, lower(r)::bigint AS lo, upper(r)::bigint AS hi
        FROM viewer_watch vw,
             unnest(clipped(vw.watched, w.duration)) AS r
        WHERE vw.event_id = w.event_id AND vw.session_id = w.session_id AND vw.mode = 'LIVE'
    ), {_BUCKET_DELTAS.format(a="lo / w.bucket_seconds", z="(hi - 1) / w.bucket_seconds")}
    SELECT array_agg(bucket ORDER BY bucket) AS bucket_list,
           array_agg(delta ORDER BY bucket) AS deltas,
           (SELECT max(hi) FROM ranges) AS last_second
    FROM deltas
) d
LEFT JOIN LATERAL (
    -- Viewers watching each second: +1 where a range starts, -1 where it ends
    -- (a viewer's ranges are disjoint); the peak and the first second it held.
    SELECT sum(sum(delta)) OVER (ORDER BY position)::int AS peak, position AS peak_second
    FROM (
        SELECT lower(r) AS position, 1 AS delta
        FROM viewer_watch vw,
             unnest(clipped(vw.watched, w.duration)) AS r
        WHERE vw.event_id = w.event_id AND vw.session_id = w.session_id AND vw.mode = 'LIVE'
        UNION ALL
        SELECT upper(r), -1
        FROM viewer_watch vw,
             unnest(clipped(vw.watched, w.duration)) AS r
        WHERE vw.event_id = w.event_id AND vw.session_id = w.session_id AND vw.mode = 'LIVE'
    ) e
    GROUP BY position
    ORDER BY 1 DESC, 2
    LIMIT 1
) p ON true
"""


@dataclass(frozen=True)
class ConcurrencyKey:
    event_id: int
    session_id: int
    duration: int | None
    bucket_seconds: int


async def load_concurrency(db: Executor, keys: Sequence[ConcurrencyKey]) -> list[asyncpg.Record]:
    return await db.fetch(
        CONCURRENCY,
        [k.event_id for k in keys],
        [k.session_id for k in keys],
        [k.duration for k in keys],
        [k.bucket_seconds for k in keys],
    )


# Who appears in a session's viewer list: anyone who registered, joined or
# reported watching it. Keyset orders as in repo.sessions: (key, user id).
VIEWER_ORDER_KEYS: dict[str, str] = {
    "NAME_ASC": 'lower(u.name) COLLATE "C"',
    "EMAIL_ASC": 'u.email COLLATE "C"',
    "LIVE_WATCHED_DESC": "-coalesce(lw.watched_seconds, 0)",
    "RECORDING_WATCHED_DESC": "-coalesce(rw.watched_seconds, 0)",
}

VIEWER_SEARCH = "($3::text IS NULL OR u.name ILIKE $3 OR u.email ILIKE $3)"

_PEOPLE = """
    FROM (
        SELECT user_id FROM session_registrations
        WHERE event_id = w.event_id AND session_id = w.session_id
        UNION
        SELECT user_id FROM session_joins WHERE event_id = w.event_id AND session_id = w.session_id
        UNION
        SELECT user_id FROM viewer_watch WHERE event_id = w.event_id AND session_id = w.session_id
    ) people
    JOIN users u ON u.id = people.user_id
    LEFT JOIN viewer_watch lw ON lw.event_id = w.event_id AND lw.session_id = w.session_id
                             AND lw.user_id = u.id AND lw.mode = 'LIVE'
    LEFT JOIN viewer_watch rw ON rw.event_id = w.event_id AND rw.session_id = w.session_id
                             AND rw.user_id = u.id AND rw.mode = 'RECORDING'
    LEFT JOIN session_joins j ON j.event_id = w.event_id AND j.session_id = w.session_id
                             AND j.user_id = u.id
"""

# A person's timeline in a session (docs/metrics.md), for a row that has their
# LIVE and RECORDING viewer_watch rows as lw and rw, their join as j and the
# session as s: plays per mode, first and last activity (joining or a report
# received), and their live seconds as [start, end) pairs of positions
# (clipped), which the service maps to wall-clock time from startTime.
TIMELINE_COLUMNS = """s.start_time AS session_start_time,
           coalesce(lw.plays, 0) AS live_plays, coalesce(rw.plays, 0) AS recording_plays,
           least(j.created_at, lw.first_watched_at, rw.first_watched_at) AS first_active_at,
           greatest(j.created_at, lw.last_watched_at, rw.last_watched_at) AS last_active_at,
           ARRAY(SELECT lower(r) FROM unnest(clipped(lw.watched, s.video_duration)) r
                 ORDER BY 1) AS live_starts,
           ARRAY(SELECT upper(r) FROM unnest(clipped(lw.watched, s.video_duration)) r
                 ORDER BY 1) AS live_ends"""


def _viewers_sql(order: str, with_after: bool) -> str:
    key = VIEWER_ORDER_KEYS[order]
    after = f" AND ({key}, u.id) > ($5, $6)" if with_after else ""
    return f"""
WITH wanted AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS w(event_id, session_id)
)
SELECT w.session_id, st.updated_at AS as_of, v.*
FROM wanted w
JOIN session_stats st ON st.event_id = w.event_id AND st.session_id = w.session_id
JOIN sessions s ON s.event_id = w.event_id AND s.id = w.session_id
LEFT JOIN LATERAL (
    SELECT u.id AS user_id, u.name, u.email,
           EXISTS (SELECT 1 FROM session_registrations r WHERE r.event_id = w.event_id
                   AND r.session_id = w.session_id AND r.user_id = u.id) AS registered,
           j.created_at IS NOT NULL AS joined,
           lw.watched_seconds AS live_seconds, rw.watched_seconds AS recording_seconds,
           {TIMELINE_COLUMNS},
           {key} AS sort_key_0, u.id AS sort_key_1
    {_PEOPLE}
    WHERE {VIEWER_SEARCH}{after}
    ORDER BY {key}, u.id
    LIMIT $4
) v ON true
"""


@dataclass(frozen=True)
class ViewerPageArgs:
    order: str
    search: str | None
    after: tuple[Any, int] | None
    limit: int


async def list_viewers(
    db: Executor, sessions: Sequence[tuple[int, int]], args: ViewerPageArgs
) -> list[asyncpg.Record]:
    """A page of viewers of each (event_id, session_id); sessions with none get one row
    whose user_id is null (it still carries as_of)."""
    params: list[Any] = [[s[0] for s in sessions], [s[1] for s in sessions]]
    params += [title_pattern(args.search), args.limit]
    if args.after is not None:
        params += list(args.after)
    return await db.fetch(_viewers_sql(args.order, args.after is not None), *params)


COUNT_VIEWERS = f"""
WITH wanted AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS w(event_id, session_id)
)
SELECT w.session_id, (SELECT count(*) {_PEOPLE} WHERE {VIEWER_SEARCH}) AS count
FROM wanted w
"""


async def count_viewers(
    db: Executor, sessions: Sequence[tuple[int, int]], search: str | None
) -> list[asyncpg.Record]:
    return await db.fetch(
        COUNT_VIEWERS,
        [s[0] for s in sessions],
        [s[1] for s in sessions],
        title_pattern(search),
    )


WINDOW_CONDITION = (
    "($2::timestamptz IS NULL OR s.start_time >= $2)"
    " AND ($3::timestamptz IS NULL OR s.start_time < $3)"
)

EVENT_TOTALS = f"""
WITH picked AS (
    SELECT s.id, {ANALYTICS} AS analytics
    FROM sessions s WHERE s.event_id = $1 AND {WINDOW_CONDITION}
), viewers AS (
    SELECT vw.user_id, vw.mode FROM viewer_watch vw
    JOIN picked p ON p.id = vw.session_id AND p.analytics
    WHERE vw.event_id = $1 AND is_viewer(vw.watched_seconds)
)
SELECT
    (SELECT count(*) FROM picked)::int AS sessions,
    (SELECT count(*) FROM picked WHERE analytics)::int AS sessions_with_analytics,
    coalesce(sum(st.registered_count), 0)::int AS registrations,
    coalesce(sum(st.attendee_count), 0)::int AS attendances,
    (SELECT count(DISTINCT r.user_id) FROM session_registrations r
     JOIN picked p ON p.id = r.session_id WHERE r.event_id = $1)::int AS registered_users,
    (SELECT count(DISTINCT j.user_id) FROM session_joins j
     JOIN picked p ON p.id = j.session_id WHERE j.event_id = $1)::int AS attendees,
    (SELECT count(DISTINCT user_id) FROM viewers)::int AS unique_viewers,
    (SELECT count(DISTINCT user_id) FROM viewers WHERE mode = 'LIVE')::int AS unique_live_viewers,
    (SELECT count(DISTINCT user_id) FROM viewers WHERE mode = 'RECORDING')::int
        AS unique_recording_viewers,
    coalesce(sum(st.live_seconds) FILTER (WHERE p.analytics), 0)::bigint AS live_seconds,
    coalesce(sum(st.recording_seconds) FILTER (WHERE p.analytics), 0)::bigint
        AS recording_seconds,
    coalesce(sum(st.live_views) FILTER (WHERE p.analytics), 0)::int AS live_views,
    coalesce(sum(st.recording_views) FILTER (WHERE p.analytics), 0)::int AS recording_views,
    max(st.updated_at) AS as_of
FROM picked p
JOIN session_stats st ON st.event_id = $1 AND st.session_id = p.id
"""


async def event_totals(
    db: Executor, *, event_id: int, starts_after: datetime | None, starts_before: datetime | None
) -> asyncpg.Record:
    row = await db.fetchrow(EVENT_TOTALS, event_id, starts_after, starts_before)
    assert row is not None
    return row


TOP_SESSIONS = f"""
SELECT s.event_id, s.id, s.title, s.start_time, s.end_time, s.format, s.stream_provider,
       s.video_duration
FROM sessions s JOIN session_stats st ON st.event_id = s.event_id AND st.session_id = s.id
WHERE s.event_id = $1 AND {WINDOW_CONDITION} AND {ANALYTICS}
ORDER BY CASE $5::text WHEN 'LIVE' THEN st.live_views
                       WHEN 'RECORDING' THEN st.recording_views
                       ELSE st.live_views + st.recording_views END DESC, s.id
LIMIT $4
"""


async def top_sessions(
    db: Executor,
    *,
    event_id: int,
    starts_after: datetime | None,
    starts_before: datetime | None,
    limit: int,
    mode: str | None,
) -> list[asyncpg.Record]:
    return await db.fetch(TOP_SESSIONS, event_id, starts_after, starts_before, limit, mode)


# Per session of a page: registered people who neither joined nor watched a
# second (noShowCount), and the plays of its viewers per mode (Session.plays).
SESSION_EXTRAS = """
WITH k AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS k(event_id, session_id))
SELECT k.event_id, k.session_id,
       (SELECT count(*) FROM session_registrations r
        WHERE r.event_id = k.event_id AND r.session_id = k.session_id
          AND NOT EXISTS (SELECT 1 FROM session_joins j WHERE j.event_id = r.event_id
                          AND j.session_id = r.session_id AND j.user_id = r.user_id)
          AND NOT EXISTS (SELECT 1 FROM viewer_watch v WHERE v.event_id = r.event_id
                          AND v.session_id = r.session_id AND v.user_id = r.user_id
                          AND is_viewer(v.watched_seconds)))::int AS no_shows,
       p.live_plays, p.recording_plays
FROM k
CROSS JOIN LATERAL (
    SELECT coalesce(sum(v.plays) FILTER (WHERE v.mode = 'LIVE'), 0)::int AS live_plays,
           coalesce(sum(v.plays) FILTER (WHERE v.mode = 'RECORDING'), 0)::int AS recording_plays
    FROM viewer_watch v
    WHERE v.event_id = k.event_id AND v.session_id = k.session_id
      AND is_viewer(v.watched_seconds)
) p
"""


async def load_session_extras(
    db: Executor, keys: Sequence[tuple[int, int]]
) -> list[asyncpg.Record]:
    return await db.fetch(SESSION_EXTRAS, [k[0] for k in keys], [k[1] for k in keys])


@dataclass(frozen=True)
class ViewsKey:
    event_id: int
    session_id: int
    mode: str
    threshold: int


# liveViews(minSeconds) / recordingViews(minSeconds): viewers at or above a
# threshold chosen at query time, for every session of a page at once.
VIEWS_AT = """
WITH k AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[])
        AS k(event_id, session_id, mode, threshold)
)
SELECT k.session_id, k.mode, k.threshold,
       (SELECT count(*) FROM viewer_watch v
        WHERE v.event_id = k.event_id AND v.session_id = k.session_id AND v.mode = k.mode
          AND is_view(v.watched_seconds, k.threshold))::int AS views
FROM k
"""


async def load_views_at(db: Executor, keys: Sequence[ViewsKey]) -> list[asyncpg.Record]:
    return await db.fetch(
        VIEWS_AT,
        [k.event_id for k in keys],
        [k.session_id for k in keys],
        [k.mode for k in keys],
        [k.threshold for k in keys],
    )


# The timeline (migrations/0008_timeline.sql): the first and last slot with data,
# and the slots summed into the caller's buckets (their starts, ascending: slot
# s is in bucket i when starts[i] <= s < starts[i + 1]; all of a zone's buckets
# start on slot boundaries). session_id null: the whole event, one row per
# bucket; else per session of the list.
TIMELINE_BOUNDS = """
SELECT min(slot) AS first_slot, max(slot) AS last_slot FROM watch_slots
WHERE event_id = $1 AND ($2::bigint[] IS NULL OR session_id = any($2::bigint[]))
  AND ($3::text IS NULL OR mode = $3)
"""

TIMELINE = """
SELECT CASE WHEN $6 THEN session_id END AS session_id,
       width_bucket(slot, $4::timestamptz[]) AS bucket,
       count(DISTINCT user_id)::int AS unique_viewers,
       sum(seconds)::bigint AS watched_seconds, sum(views)::int AS new_views
FROM watch_slots
WHERE event_id = $1 AND ($2::bigint[] IS NULL OR session_id = any($2::bigint[]))
  AND ($3::text IS NULL OR mode = $3)
  AND slot >= ($4::timestamptz[])[1] AND slot < $5
  AND seconds > 0
GROUP BY 1, 2
"""


async def timeline_bounds(
    db: Executor, *, event_id: int, session_ids: list[int] | None, mode: str | None
) -> asyncpg.Record:
    row = await db.fetchrow(TIMELINE_BOUNDS, event_id, session_ids, mode)
    assert row is not None
    return row


async def timeline(
    db: Executor,
    *,
    event_id: int,
    session_ids: list[int] | None,
    mode: str | None,
    starts: list[datetime],
    end: datetime,
) -> list[asyncpg.Record]:
    return await db.fetch(
        TIMELINE, event_id, session_ids, mode, starts, end, session_ids is not None
    )
