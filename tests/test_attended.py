"""One meaning for "attended" (contract/analytics-semantics.md, issue 29):

    attendeeCount = #{u : u joined, or W(u, LIVE) > 0}

so live viewers and live views never exceed attendance. Checked against a
reference computed here from what each person did (sets of seconds), never
from the server's own rows, through random histories with duration changes,
against concurrent joins and live watching, and across migration 0012.
"""

import asyncio
import random
from typing import Any

import httpx2
from conftest import Api, served
from helpers import RECORD, create_session, make_world, sign_up, watched

from gql_server.db import Pool, migrations_dir
from gql_server.repo.verify import find_rollup_mismatches

JOIN = "mutation($s: ID!) { joinSession(sessionId: $s) }"
UPDATE = """mutation($s: ID!, $d: Int) {
  updateSession(sessionId: $s, input: {videoDuration: $d}) { id } }"""
NUMBERS = """query($e: ID!) { event(id: $e) {
  analytics { attendees attendances }
  sessions(first: 100) { nodes { id attendeeCount liveViews
    viewers(first: 100) { nodes { user { id } joined liveWatchedSeconds } } } } } }"""


def numbers(api: Api, event_id: str, token: str) -> dict[str, Any]:
    data: dict[str, Any] = api.data(NUMBERS, {"e": event_id}, token)["event"]
    return data


def mismatches(api: Api) -> list[int]:
    async def check(pool: Pool) -> list[int]:
        return await find_rollup_mismatches(pool)

    return api.run(check)


def test_random_histories_match_the_reference(api: Api) -> None:
    rng = random.Random(29)
    world = make_world(api)
    people = [sign_up(api) for _ in range(6)]
    durations: dict[str, int | None] = {
        create_session(api, world.super_token, world.event_id, videoDuration=d): d
        for d in (None, 20, 60)
    }
    joined: set[tuple[str, str]] = set()
    live: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for step in range(60):
        user_id, token = rng.choice(people)
        session = rng.choice(list(durations))
        roll = rng.random()
        if roll < 0.25:
            api.data(JOIN, {"s": session}, token)
            joined.add((session, user_id))
        elif roll < 0.85:
            mode = rng.choice(["LIVE", "LIVE", "RECORDING"])
            start = rng.randrange(0, 90)
            span = (start, start + rng.randint(1, 30))
            batch = [{"sessionId": session, "mode": mode, "startSecond": span[0],
                      "endSecond": span[1]}]  # fmt: skip
            api.data(RECORD, {"s": batch}, token)
            if mode == "LIVE":
                live.setdefault((session, user_id), []).append(span)
        else:
            # A duration change re-clips everyone: a live viewer whose seconds all lie
            # past the new end is no longer one (and no longer attended, unless joined).
            new = rng.choice([None, 5, 15, 40, 120])
            api.data(UPDATE, {"s": session, "d": new}, world.super_token)
            durations[session] = new
        if step % 15 == 14:
            check(api, world.event_id, world.super_token, durations, joined, live)
    check(api, world.event_id, world.super_token, durations, joined, live)


def check(
    api: Api,
    event_id: str,
    token: str,
    durations: dict[str, int | None],
    joined: set[tuple[str, str]],
    live: dict[tuple[str, str], list[tuple[int, int]]],
) -> None:
    got = numbers(api, event_id, token)
    everyone: set[str] = set()
    attendances = 0
    for node in got["sessions"]["nodes"]:
        session = node["id"]
        watchers = {u for (s, u), spans in live.items()
                    if s == session and watched(spans, durations[session]) > 0}  # fmt: skip
        attended = {u for (s, u) in joined if s == session} | watchers
        assert node["attendeeCount"] == len(attended), session
        assert node["liveViews"] is None or node["liveViews"] <= node["attendeeCount"]
        rows = {row["user"]["id"]: row for row in node["viewers"]["nodes"]}
        assert {u for u, row in rows.items() if row["joined"]} == attended, session
        everyone |= attended
        attendances += len(attended)
    assert got["analytics"] == {"attendees": len(everyone), "attendances": attendances}
    assert mismatches(api) == []  # attendance included, recounted from the raw segments


def test_joining_and_watching_live_at_once_count_each_person_once(
    api: Api, database_dsn: str
) -> None:
    """joinSession and a first live second for the same person, at once: the two paths
    lock the counters' row in the same order, so neither deadlocks nor counts twice."""
    world = make_world(api)
    session = create_session(api, world.super_token, world.event_id, videoDuration=3600)
    tokens = [sign_up(api)[1] for _ in range(12)]
    segment = [{"sessionId": session, "mode": "LIVE", "startSecond": 0, "endSecond": 40}]

    async def at_once(base: str) -> list[Any]:
        async with httpx2.AsyncClient(base_url=base, timeout=60) as http:

            async def post(query: str, variables: dict[str, Any], token: str) -> Any:
                body = {"query": query, "variables": variables}
                headers = {"Authorization": f"Bearer {token}"}
                return (await http.post("/graphql", json=body, headers=headers)).json()

            return await asyncio.gather(
                *(post(JOIN, {"s": session}, token) for token in tokens),
                *(post(RECORD, {"s": segment}, token) for token in tokens),
            )

    with served(database_dsn) as base:  # a real server: real concurrency
        answers = asyncio.run(at_once(base))
    assert [a.get("errors") for a in answers] == [None] * len(answers)
    node = numbers(api, world.event_id, world.super_token)["sessions"]["nodes"][0]
    assert node["attendeeCount"] == len(tokens)
    assert mismatches(api) == []


def test_migration_0012_recounts_sessions_recorded_before_it(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.super_token, world.event_id, videoDuration=60)
    watcher_id, watcher = sign_up(api)
    joiner_id, joiner = sign_up(api)
    api.data(RECORD, {"s": [{"sessionId": session, "mode": "LIVE", "startSecond": 0,
                             "endSecond": 10}]}, watcher)  # fmt: skip
    api.data(JOIN, {"s": session}, joiner)

    async def as_before_0012(pool: Pool) -> None:
        # What a database recorded before 0012 holds: joins only, counted alone.
        await pool.execute("DELETE FROM session_joins WHERE NOT explicit")
        await pool.execute("UPDATE session_stats SET attendee_count = 1")

    api.run(as_before_0012)
    assert numbers(api, world.event_id, world.super_token)["sessions"]["nodes"][0][
        "attendeeCount"] == 1  # fmt: skip
    sql = (migrations_dir() / "0012_attended_live.sql").read_text()
    backfill = sql[sql.index("INSERT INTO session_joins") :]  # the column exists already

    async def migrate_again(pool: Pool) -> None:
        await pool.execute(backfill)

    api.run(migrate_again)
    node = numbers(api, world.event_id, world.super_token)["sessions"]["nodes"][0]
    assert node["attendeeCount"] == 2
    assert {r["user"]["id"]: r["joined"] for r in node["viewers"]["nodes"]} == {
        watcher_id: True, joiner_id: True}  # fmt: skip
    assert mismatches(api) == []
