"""Random sessions and segments through the API, compared with the naive reference.

The rollups are also compared with a recount straight from the raw segments
table, so the incremental maintenance cannot drift from the record.
"""

import random
from typing import Any

from conftest import Api
from helpers import (
    RECORD,
    create_session,
    expected_metrics,
    make_world,
    sessions_by_id,
    sign_up,
)

from gql_server.db import Pool

DURATIONS = [None, 5, 20, 29, 30, 31, 45, 120]


def random_spans(rng: random.Random, duration: int | None) -> list[tuple[int, int]]:
    reach = (duration or 60) + 15  # players overshoot the end sometimes
    spans = []
    for _ in range(rng.randint(1, 6)):
        start = rng.randrange(0, reach)
        spans.append((start, start + rng.randint(1, 25)))
    if rng.random() < 0.3:
        spans.append(rng.choice(spans))  # a duplicated heartbeat
    return spans


def test_random_event_matches_the_reference(api: Api) -> None:
    rng = random.Random(20261126)
    world = make_world(api)
    viewers = [sign_up(api)[1] for _ in range(6)]
    sessions: dict[str, int | None] = {}
    for duration in DURATIONS:
        session = create_session(
            api,
            world.event_admin_token,
            world.event_id,
            videoDuration=duration,
            streamProvider=rng.choice(["YOUTUBE", "VIMEO", "VOXEET", "TOKBOX", "DIRECT_UPLOAD"]),
        )
        sessions[session] = duration
    watches: dict[str, dict[tuple[str, str], list[tuple[int, int]]]] = {s: {} for s in sessions}
    for _ in range(40):
        viewer = rng.randrange(len(viewers))
        batch: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 3)):  # one batch may touch several sessions
            session = rng.choice(list(sessions))
            mode = rng.choice(["LIVE", "RECORDING"])
            spans = random_spans(rng, sessions[session])
            watches[session].setdefault((str(viewer), mode), []).extend(spans)
            batch += [
                {"sessionId": session, "mode": mode, "startSecond": a, "endSecond": b}
                for a, b in spans
            ]
        accepted = api.data(RECORD, {"s": batch}, viewers[viewer])["recordWatch"]["accepted"]
        assert accepted == len(batch)

    got = sessions_by_id(api, world.super_token, world.event_id)
    for session, duration in sessions.items():
        want = expected_metrics(watches[session], duration)
        have = {key: got[session][key] for key in want}
        assert have == want, (session, duration)

    # The rollups equal a recount from the raw, append-only segments.
    assert api.run(rollup_mismatches) == []


RECOUNT = """
WITH per_viewer AS (
    SELECT w.event_id, w.session_id, w.user_id, w.mode,
           watched_seconds(range_agg(int4range(w.start_second, w.end_second)),
                           s.video_duration) AS seconds,
           CASE WHEN s.video_duration IS NULL THEN 30 ELSE least(30, s.video_duration) END
               AS threshold
    FROM watch_segments w
    JOIN sessions s ON s.event_id = w.event_id AND s.id = w.session_id
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
)
SELECT st.session_id FROM session_stats st
LEFT JOIN recount r ON r.event_id = st.event_id AND r.session_id = st.session_id
WHERE (coalesce(r.live_viewers, 0), coalesce(r.live_views, 0), coalesce(r.live_seconds, 0),
       coalesce(r.recording_viewers, 0), coalesce(r.recording_views, 0),
       coalesce(r.recording_seconds, 0))
   IS DISTINCT FROM
      (st.live_viewers, st.live_views, st.live_seconds,
       st.recording_viewers, st.recording_views, st.recording_seconds)
"""


async def rollup_mismatches(pool: Pool) -> list[int]:
    return [row["session_id"] for row in await pool.fetch(RECOUNT)]
