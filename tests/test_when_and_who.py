"""When and who (docs/metrics.md): no-shows, the recording average, plays, attendee
timelines, view thresholds chosen at query time; hand-worked and against a reference."""

import json
import random
from typing import Any

import asyncpg
import pytest
from conftest import Api
from helpers import World, create_session, make_world, record, sign_up

from gql_server.services import watch

START = "2026-12-01T09:00:00+00:00"
NUMBERS = """query($e: ID!) { event(id: $e) { sessions { nodes {
  id avgAttendedDuration avgRecordingDuration noShowCount plays { live recording total }
  liveViews recordingViews
  live10: liveViews(minSeconds: 10) live60: liveViews(minSeconds: 60)
  rec10: recordingViews(minSeconds: 10) } } } }"""
VIEWERS = """query($e: ID!, $s: ID!) { event(id: $e) { session(id: $s) { viewers { nodes {
  user { name } joined firstActiveAt lastActiveAt liveIntervals { start end }
  livePlays recordingPlays plays rejoined } } } } }"""


def join(api: Api, token: str, session_id: str) -> None:
    api.data("mutation($s: ID!) { joinSession(sessionId: $s) }", {"s": session_id}, token)


def register(api: Api, token: str, session_id: str) -> None:
    api.data("mutation($s: ID!) { registerForSession(sessionId: $s) }", {"s": session_id}, token)


def numbers(api: Api, world: World) -> dict[str, dict[str, Any]]:
    nodes = api.data(NUMBERS, {"e": world.event_id}, world.event_admin_token)["event"]
    return {n["id"]: n for n in nodes["sessions"]["nodes"]}


def viewers(api: Api, world: World, session_id: str) -> dict[str, dict[str, Any]]:
    data = api.data(VIEWERS, {"e": world.event_id, "s": session_id}, world.event_admin_token)
    return {n["user"]["name"]: n for n in data["event"]["session"]["viewers"]["nodes"]}


def test_no_shows_recording_average_and_chosen_thresholds(api: Api) -> None:
    world = make_world(api)
    host = world.event_admin_token
    session = create_session(api, host, world.event_id, startTime=START, videoDuration=600)
    _, joiner = sign_up(api, "Joiner")  # registered, joined, never watched
    _, watcher = sign_up(api, "Watcher")  # registered, watched the recording only
    _, absent = sign_up(api, "Absent")  # registered only: the one no-show
    _, walk_in = sign_up(api, "Walk-in")  # watched without registering
    for token in (joiner, watcher, absent):
        register(api, token, session)
    join(api, joiner, session)
    record(api, watcher, session, "RECORDING", (0, 20))
    record(api, walk_in, session, "RECORDING", (100, 140))
    record(api, walk_in, session, "LIVE", (0, 5))
    record(api, watcher, session, "LIVE", (0, 15))
    record(api, world.attendee_token, session, "LIVE", (0, 45))
    got = numbers(api, world)[session]
    assert got["noShowCount"] == 1
    assert got["avgRecordingDuration"] == 30.0  # (20 + 40) / 2 recording viewers
    assert got["avgAttendedDuration"] == 65 / 3  # 5, 15, 45
    # Live: 5, 15 and 45 s. Default min(30, 600) = 30: one; 10 s: two; 60 s: none.
    assert (got["liveViews"], got["live10"], got["live60"]) == (1, 2, 0)
    assert (got["recordingViews"], got["rec10"]) == (1, 2)
    # A threshold above the duration is capped by it, as the contract's rule is.
    api.data(
        "mutation($s: ID!) { updateSession(sessionId: $s, input: {videoDuration: 40}) { id } }",
        {"s": session},
        host,
    )
    got = numbers(api, world)[session]
    assert got["live60"] == 1  # 45 s clipped to 40 >= min(60, 40)
    # The walk-in's recorded seconds 100..140 are past the end now: one recording viewer.
    assert got["rec10"] == 1 and got["avgRecordingDuration"] == 20.0


def test_sessions_without_analytics_have_null_watch_numbers_but_no_shows(api: Api) -> None:
    world = make_world(api)
    session = create_session(
        api, world.event_admin_token, world.event_id, streamProvider="ZOOM", title="Zoom"
    )
    register(api, world.attendee_token, session)
    got = numbers(api, world)[session]
    assert got["noShowCount"] == 1
    assert got["plays"] is None and got["live10"] is None and got["avgRecordingDuration"] is None
    code = api.code(
        "query($e: ID!) { event(id: $e) { sessions { nodes { liveViews(minSeconds: 0) } } } }",
        {"e": world.event_id},
        world.event_admin_token,
    )
    assert code == 400


async def _age(pool: asyncpg.Pool, session_id: str, minutes: int) -> None:
    """As if every report so far had arrived `minutes` earlier."""
    shift = f"interval '{minutes} minutes'"
    await pool.execute(
        f"UPDATE watch_segments SET received_at = received_at - {shift} WHERE session_id = $1",
        int(session_id),
    )
    await pool.execute(
        f"UPDATE viewer_watch SET first_watched_at = first_watched_at - {shift},"
        f" last_watched_at = last_watched_at - {shift} WHERE session_id = $1",
        int(session_id),
    )


def test_plays_and_the_attendee_timeline(api: Api) -> None:
    world = make_world(api)
    host = world.event_admin_token
    session = create_session(api, host, world.event_id, startTime=START, videoDuration=350)
    _, ann = sign_up(api, "Ann")
    join(api, ann, session)
    record(api, ann, session, "LIVE", (0, 100), (50, 200))
    record(api, ann, session, "LIVE", (200, 210))  # 0 s later: the same play
    api.run(lambda pool: _age(pool, session, 6))  # six minutes pass
    record(api, ann, session, "LIVE", (300, 400))  # a second play (clipped at 350)
    record(api, ann, session, "RECORDING", (0, 30))  # the recording: one play
    _, bob = sign_up(api, "Bob")
    record(api, bob, session, "LIVE", (10, 20))
    api.run(lambda pool: _age(pool, session, 4))
    record(api, bob, session, "LIVE", (20, 30))  # 4 minutes later: still one play
    rows = viewers(api, world, session)
    ann_row, bob_row = rows["Ann"], rows["Bob"]
    assert ann_row["liveIntervals"] == [
        {"start": "2026-12-01T09:00:00+00:00", "end": "2026-12-01T09:03:30+00:00"},
        {"start": "2026-12-01T09:05:00+00:00", "end": "2026-12-01T09:05:50+00:00"},
    ]
    assert (ann_row["livePlays"], ann_row["recordingPlays"], ann_row["plays"]) == (2, 1, 3)
    assert ann_row["rejoined"] is True
    assert ann_row["firstActiveAt"] <= ann_row["lastActiveAt"]
    # Bob never called joinSession, but watching live is attending.
    assert (bob_row["plays"], bob_row["rejoined"], bob_row["joined"]) == (1, False, True)
    assert bob_row["liveIntervals"] == [
        {"start": "2026-12-01T09:00:10+00:00", "end": "2026-12-01T09:00:30+00:00"}
    ]
    got = numbers(api, world)[session]
    assert got["plays"] == {"live": 3, "recording": 1, "total": 4}
    # The per-attendee export carries the same timeline.
    response = api.client.get(
        f"/events/{world.event_id}/viewers.ndjson", headers={"Authorization": f"Bearer {host}"}
    )
    exported = {r["name"]: r for r in map(json.loads, response.text.splitlines())}
    assert exported["Ann"]["liveIntervals"] == (
        "2026-12-01T09:00:00+00:00/2026-12-01T09:03:30+00:00"
        " 2026-12-01T09:05:00+00:00/2026-12-01T09:05:50+00:00"
    )
    assert (exported["Ann"]["plays"], exported["Ann"]["rejoined"]) == (3, True)
    assert exported["Ann"]["firstActiveAt"] == ann_row["firstActiveAt"]
    # The rebuild from raw segments counts the same plays.
    before = viewers(api, world, session)

    async def rebuild(pool: asyncpg.Pool) -> None:
        await watch.rebuild_rollups(pool, event_id=int(world.event_id))

    api.run(rebuild)
    assert viewers(api, world, session) == before
    assert numbers(api, world)[session]["plays"] == got["plays"]


def test_a_page_with_the_new_fields_costs_a_constant_number_of_statements(api: Api) -> None:
    world = make_world(api)
    ids = [create_session(api, world.event_admin_token, world.event_id) for _ in range(12)]
    for session in ids:
        record(api, world.attendee_token, session, "LIVE", (0, 20))

    def statements(first: int) -> int:
        api.queries.statements.clear()
        query = NUMBERS.replace("sessions {", f"sessions(first: {first}) {{")
        api.data(query, {"e": world.event_id}, world.event_admin_token)
        return len(api.queries.statements)

    # token with event + roles, page with counters, extras (no-shows, plays), chosen thresholds
    assert statements(2) == statements(12) == 4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_sessions_match_a_reference(api: Api, seed: int) -> None:
    rng = random.Random(seed)
    world = make_world(api)
    host = world.event_admin_token
    people = [sign_up(api, f"P{i}")[1] for i in range(6)]
    expected: dict[str, dict[str, Any]] = {}
    for s in range(4):
        duration = rng.choice([None, 25, 90, 600])
        session = create_session(api, host, world.event_id, title=f"R{s}", videoDuration=duration)
        registered, joined = set(), set()
        watched: dict[tuple[int, str], set[int]] = {}
        for p, token in enumerate(people):
            if rng.random() < 0.6:
                register(api, token, session)
                registered.add(p)
            if rng.random() < 0.4:
                join(api, token, session)
                joined.add(p)
            for mode in ("LIVE", "RECORDING"):
                for _ in range(rng.randrange(3)):
                    a = rng.randrange(0, 120)
                    b = a + rng.randrange(1, 60)
                    record(api, token, session, mode, (a, b))
                    limit = b if duration is None else min(b, duration)
                    watched.setdefault((p, mode), set()).update(range(a, limit))
        w = {k: len(v) for k, v in watched.items()}
        watchers = {p for (p, _), n in w.items() if n > 0}
        threshold = rng.randrange(1, 100)
        cap = threshold if duration is None else min(threshold, duration)
        rec = [n for (p, m), n in w.items() if m == "RECORDING" and n > 0]
        expected[session] = {
            "noShowCount": len(registered - joined - watchers),
            "avgRecordingDuration": sum(rec) / len(rec) if rec else 0.0,
            "views": sum(1 for (p, m), n in w.items() if m == "LIVE" and n >= cap),
            "threshold": threshold,
        }
    query = """query($e: ID!, $t0: Int, $t1: Int, $t2: Int, $t3: Int) { event(id: $e) {
      sessions { nodes { id title noShowCount avgRecordingDuration
        v0: liveViews(minSeconds: $t0) v1: liveViews(minSeconds: $t1)
        v2: liveViews(minSeconds: $t2) v3: liveViews(minSeconds: $t3) } } } }"""
    thresholds = {f"t{i}": e["threshold"] for i, e in enumerate(expected.values())}
    nodes = api.data(query, {"e": world.event_id, **thresholds}, host)["event"]["sessions"]
    for i, (session, want) in enumerate(expected.items()):
        node = next(n for n in nodes["nodes"] if n["id"] == session)
        assert node["noShowCount"] == want["noShowCount"], (seed, node)
        assert node["avgRecordingDuration"] == want["avgRecordingDuration"], (seed, node)
        assert node[f"v{i}"] == want["views"], (seed, node, want)


def test_a_viewers_live_intervals_are_bounded_and_counted(api: Api) -> None:
    # An attendee controls how fragmented their live watching is: 300 spans of
    # one second made a host's small answer megabytes. The list gives the first
    # `first` (100 unless asked, at most 1000) and liveIntervalCount how many
    # there are; the cost estimate counts `first` of them.
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=None)
    spans = [(2 * i, 2 * i + 1) for i in range(300)]
    for start in range(0, 300, 100):
        record(api, world.attendee_token, session, "LIVE", *spans[start : start + 100])
    query = """query($e: ID!, $s: ID!, $n: Int!, $v: Int!) { event(id: $e) { session(id: $s) {
      viewers(first: $v) { nodes { liveIntervalCount
                                    liveIntervals(first: $n) { start } } } } } }"""

    def ask(n: int, v: int = 10) -> dict[str, Any]:
        variables = {"e": world.event_id, "s": session, "n": n, "v": v}
        answer: dict[str, Any] = api.gql(query, variables, world.event_admin_token)
        return answer

    [row] = ask(1000)["data"]["event"]["session"]["viewers"]["nodes"]
    assert row["liveIntervalCount"] == 300 and len(row["liveIntervals"]) == 300
    [row] = ask(5)["data"]["event"]["session"]["viewers"]["nodes"]
    assert row["liveIntervals"] == [
        {"start": f"2026-12-01T09:00:0{2 * i}+00:00"} for i in range(5)
    ]
    assert row["liveIntervalCount"] == 300
    refused = ask(1001)["errors"][0]
    assert refused["extensions"]["code"] == 400 and "between 1 and 1000" in refused["message"]
    # viewers (100 rows) x liveIntervals (1000 spans each): over the budget.
    over = ask(1000, 100)
    assert over["extensions"]["cost"]["requested"] > 100 * 1000 and "data" not in over
