"""Concurrent players: exact numbers, no deadlock, no lost update."""

import asyncio
import random

from conftest import Api
from helpers import create_session, expected_metrics, make_world, sessions_by_id, sign_up

from gql_server.auth import Actor
from gql_server.db import Pool
from gql_server.services.watch import ReportedSegment, record_watch


def test_concurrent_overlapping_batches_for_the_same_sessions_are_exact(api: Api) -> None:
    world = make_world(api)
    durations = {create_session(api, world.event_admin_token, world.event_id,
                                videoDuration=d): d for d in (20, 40, None)}  # fmt: skip
    sessions = list(durations)
    users = [int(sign_up(api)[0]) for _ in range(3)]
    rng = random.Random(7)
    batches = []
    watches: dict[str, dict[tuple[str, str], list[tuple[int, int]]]] = {s: {} for s in sessions}
    for _ in range(60):
        user = rng.choice(users)
        batch = []
        # Several sessions per batch, in random order: locks must still be taken in one order.
        for session in rng.sample(sessions, k=rng.randint(1, 3)):
            mode = rng.choice(["LIVE", "RECORDING"])
            for _ in range(rng.randint(1, 4)):
                start = rng.randrange(0, 50)
                end = start + rng.randint(1, 12)
                batch.append(ReportedSegment(session, mode, start, end))
                watches[session].setdefault((str(user), mode), []).append((start, end))
        batches.append((user, batch))

    async def play(pool: Pool) -> list[int]:
        async def one(user: int, batch: list[ReportedSegment]) -> int:
            actor = Actor(user, "", "", False, b"")
            return await record_watch(pool, actor, batch)

        return await asyncio.gather(*(one(u, b) for u, b in batches))

    accepted = api.run(play)
    assert accepted == [len(b) for _, b in batches]
    got = sessions_by_id(api, world.super_token, world.event_id)
    for session, duration in durations.items():
        want = expected_metrics(watches[session], duration)
        assert {k: got[session][k] for k in want} == want


def test_fifty_players_for_the_same_session_and_viewer_lose_nothing(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=None)
    user = int(world.attendee_id)
    rng = random.Random(50)
    batches = [
        [ReportedSegment(session, rng.choice(["LIVE", "RECORDING"]), start, start + 15)
         for start in rng.sample(range(0, 600, 5), k=8)]
        for _ in range(50)
    ]  # fmt: skip

    async def play(pool: Pool) -> list[int]:
        actor = Actor(user, "", "", False, b"")
        return await asyncio.gather(*(record_watch(pool, actor, b) for b in batches))

    assert api.run(play) == [8] * 50
    watches: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for batch in batches:
        for s in batch:
            watches.setdefault(("u", s.mode), []).append((s.start_second, s.end_second))
    want = expected_metrics(watches, None)
    got = sessions_by_id(api, world.super_token, world.event_id)[session]
    assert {k: got[k] for k in want} == want
