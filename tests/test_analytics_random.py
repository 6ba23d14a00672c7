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

from gql_server.repo.verify import find_rollup_mismatches

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
    assert api.run(find_rollup_mismatches) == []
