"""The bulk rebuild from raw segments equals what the incremental path maintains."""

import random
from typing import Any

from conftest import Api
from helpers import RECORD, create_session, make_world, record, sign_up
from test_analytics_random import random_spans

from gql_server.db import Pool
from gql_server.services.watch import rebuild_rollups

SNAPSHOT = [
    "SELECT event_id, session_id, user_id, mode, watched, watched_seconds, plays"
    " FROM viewer_watch ORDER BY 1, 2, 3, 4",
    "SELECT event_id, session_id, user_id, mode, slot, seconds, views FROM watch_slots"
    " ORDER BY 1, 2, 3, 4, 5",
    "SELECT event_id, session_id, registered_count, attendee_count, live_viewers, live_views,"
    " live_seconds, recording_viewers, recording_views, recording_seconds FROM session_stats"
    " ORDER BY 1, 2",
]


async def snapshot(pool: Pool) -> list[list[tuple[Any, ...]]]:
    return [[tuple(row) for row in await pool.fetch(sql)] for sql in SNAPSHOT]


def test_rebuild_equals_incremental_maintenance(api: Api) -> None:
    rng = random.Random(5)
    world = make_world(api)
    durations = [None, 10, 20, 30, 31, 90]
    sessions = {create_session(api, world.super_token, world.event_id, videoDuration=d): d
                for d in durations}  # fmt: skip
    viewers = [sign_up(api)[1] for _ in range(5)]
    for _ in range(30):
        token = rng.choice(viewers)
        session = rng.choice(list(sessions))
        spans = random_spans(rng, sessions[session])
        mode = rng.choice(["LIVE", "RECORDING"])
        batch = [{"sessionId": session, "mode": mode, "startSecond": a, "endSecond": b}
                 for a, b in spans]  # fmt: skip
        api.data(RECORD, {"s": batch}, token)
        for mutation in ("registerForSession", "joinSession", "unregisterFromSession"):
            if rng.random() < 0.4:
                api.data(
                    f"mutation($s: ID!) {{ {mutation}(sessionId: $s) }}", {"s": session}, token
                )
    # A duration change after the fact goes through the incremental path too.
    first = next(iter(sessions))
    update = (
        "mutation($s: ID!) { updateSession(sessionId: $s, input: {videoDuration: 25}) { id } }"
    )
    api.data(update, {"s": first}, world.super_token)

    incremental = api.run(snapshot)
    assert incremental[0], "the scenario recorded nothing"
    assert {row[3] for row in incremental[1]} == {"LIVE", "RECORDING"}
    assert sum(row[6] for row in incremental[1]) > 0, "no view in the timeline"

    async def rebuild(pool: Pool) -> None:
        await pool.execute("UPDATE session_stats SET live_views = 999, registered_count = 999")
        await rebuild_rollups(pool, event_id=int(world.event_id))

    api.run(rebuild)
    assert api.run(snapshot) == incremental


def test_heartbeats_keep_the_live_slots_equal_to_a_rebuild(api: Api) -> None:
    """Players' heartbeats: mostly the next seconds in the same 15-minute slot (the
    slot upkeep's shortcut), with batches across a slot boundary, seeks back before
    the view's second, jumps ahead that split the union, and a duration that clips."""
    rng = random.Random(11)
    world = make_world(api)
    sessions = {create_session(api, world.super_token, world.event_id, videoDuration=d): d
                for d in (None, 2500)}  # fmt: skip
    players = [(sign_up(api)[1], session, rng.randrange(0, 1800))
               for session in sessions for _ in range(3)]  # fmt: skip
    for token, session, position in players:
        for _ in range(12):
            roll = rng.random()
            if roll < 0.15:
                position = max(0, position - rng.randrange(20, 400))  # a seek back
            elif roll < 0.25:
                position += rng.randrange(100, 1200)  # a jump ahead: a gap in the union
            beats = rng.choice([1, 2, 3, 5, 8, 20, 60])
            batch = [{"sessionId": session, "mode": "LIVE",
                      "startSecond": position + 10 * i, "endSecond": position + 10 * i + 15}
                     for i in range(beats)]  # fmt: skip
            position += 10 * beats
            api.data(RECORD, {"s": batch}, token)
    # By hand (the slots start at 0, 900, ... s: the session starts at 09:00): the
    # view reached at exactly T in one range's next seconds, then heartbeats after it;
    # reached inside a batch after a gap, then moved by seconds added before it.
    unlimited = next(iter(sessions))
    for spans in (((0, 10), (10, 30), (30, 45)), ((0, 10), (300, 330), (100, 125))):
        token = sign_up(api)[1]
        for span in spans:
            record(api, token, unlimited, "LIVE", span)

    incremental = api.run(snapshot)
    slots = incremental[1]
    assert len({row[4] for row in slots}) > 3, "the players stayed in too few slots"
    assert sum(row[6] for row in slots) == len(players) + 2

    async def rebuild(pool: Pool) -> None:
        await rebuild_rollups(pool, event_id=int(world.event_id))

    api.run(rebuild)
    assert api.run(snapshot) == incremental
