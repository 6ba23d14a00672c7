"""The deeper analytics of docs/metrics.md on data whose answers are worked out by hand."""

import random
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from conftest import Api
from helpers import World, create_session, grant, make_world, record, sign_up

REGISTER = "mutation($s: ID!) { registerForSession(sessionId: $s) }"
JOIN = "mutation($s: ID!) { joinSession(sessionId: $s) }"

VIEWERS = """
query($e: ID!, $order: ViewerOrder!, $first: Int!, $after: String, $search: String) {
  event(id: $e) { sessions(first: 10) { nodes { title
    viewers(first: $first, after: $after, orderBy: $order, search: $search) {
      totalCount asOf pageInfo { hasNextPage endCursor }
      nodes { user { name } registered joined liveWatchedSeconds recordingWatchedSeconds
              liveView recordingView liveEngagement recordingEngagement } } } } }
}
"""
# Pages of three sessions: live concurrency in small buckets may have up to
# 10,000 points each as far as the cost estimate knows (docs/security.md).
SESSION_METRICS = """
query($e: ID!, $mode: WatchMode!, $buckets: Int!, $step: Int!, $after: String) {
  event(id: $e) { sessions(first: 3, after: $after) { pageInfo { hasNextPage endCursor }
    nodes { title asOf liveEngagement recordingEngagement
    retention(mode: $mode, buckets: $buckets) { mode viewers asOf
      points { startSecond endSecond viewers percent } }
    concurrency(bucketSeconds: $step) { bucketSeconds peakConcurrentViewers peakAt asOf
      points { start end startSecond viewers } } } } }
}
"""
EVENT_ANALYTICS = """
query($e: ID!, $after: DateTime, $before: DateTime) { event(id: $e) {
  analytics(startsAfter: $after, startsBefore: $before) {
    sessions sessionsWithAnalytics registrations registeredUsers attendances attendees
    uniqueViewers uniqueLiveViewers uniqueRecordingViewers liveViews recordingViews
    watchTime { live recording total } asOf topSessions(first: 5) { title liveViews } } } }
"""


def when(text: str) -> str:
    return f"2026-12-0{text}:00+00:00"


def setup(api: Api) -> tuple[World, dict[str, str]]:
    """Three sessions and five people; every number below is worked out from this by hand.

    S20 (20 s video, YouTube), scheduled 1 09:00-09:10:
      Ann  registered, joined; LIVE [0,10)+[10,20) = 20; RECORDING [0,5) = 5
      Bob  LIVE [0,19) = 19; RECORDING [0,10) twice + [5,15): a rewatch, union [0,15) = 15
      Cid  registered only       Dee  joined only
      Eve  RECORDING [1,2) + [4,6) = 3 (two ranges inside one slice)
      Attended: Ann, Dee (joined), Bob (watched live); not Eve (the recording only)
    SU (unknown duration, Vimeo), scheduled 1 09:00-09:02 (120 s):
      Ann LIVE [100,160) = 60; Bob LIVE [130,200) = 70 (past the scheduled end)
    SZ (Zoom), 2 09:00-10:00: Ann registered and joined (Zoom has no watch analytics)
    """
    world = make_world(api)
    host = world.event_admin_token
    ids = {
        "S20": create_session(api, host, world.event_id, title="S20", videoDuration=20,
                              startTime=when("1T09:00"), endTime=when("1T09:10")),
        "SU": create_session(api, host, world.event_id, title="SU", videoDuration=None,
                             streamProvider="VIMEO", startTime=when("1T09:00"),
                             endTime=when("1T09:02")),
        "SZ": create_session(api, host, world.event_id, title="SZ", streamProvider="ZOOM",
                             startTime=when("2T09:00"), endTime=when("2T10:00")),
    }  # fmt: skip
    people = {name: sign_up(api, name)[1] for name in ["Ann", "Bob", "Cid", "Dee", "Eve"]}
    for session in ("S20", "SZ"):
        api.data(REGISTER, {"s": ids[session]}, people["Ann"])
        api.data(JOIN, {"s": ids[session]}, people["Ann"])
    api.data(REGISTER, {"s": ids["S20"]}, people["Cid"])
    api.data(JOIN, {"s": ids["S20"]}, people["Dee"])
    record(api, people["Ann"], ids["S20"], "LIVE", (0, 10), (10, 20))
    record(api, people["Ann"], ids["S20"], "RECORDING", (0, 5))
    record(api, people["Bob"], ids["S20"], "LIVE", (0, 19))
    record(api, people["Bob"], ids["S20"], "RECORDING", (0, 10), (0, 10))
    record(api, people["Bob"], ids["S20"], "RECORDING", (5, 15))
    record(api, people["Eve"], ids["S20"], "RECORDING", (1, 2), (4, 6))
    record(api, people["Ann"], ids["SU"], "LIVE", (100, 160))
    record(api, people["Bob"], ids["SU"], "LIVE", (130, 200))
    return world, ids


def by_title(nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {node.pop("title"): node for node in nodes}


def viewers(api: Api, world: World, order: str = "NAME_ASC", first: int = 100,
            after: str | None = None, search: str | None = None) -> dict[str, Any]:  # fmt: skip
    variables = {"e": world.event_id, "order": order, "first": first, "after": after,
                 "search": search}  # fmt: skip
    nodes = api.data(VIEWERS, variables, world.event_admin_token)["event"]["sessions"]["nodes"]
    return {node["title"]: node["viewers"] for node in nodes}


def row(name: str, reg: bool, joined: bool, live: Any, rec: Any, live_view: Any, rec_view: Any,
        live_eng: Any, rec_eng: Any) -> dict[str, Any]:  # fmt: skip
    return {"user": {"name": name}, "registered": reg, "joined": joined,
            "liveWatchedSeconds": live, "recordingWatchedSeconds": rec, "liveView": live_view,
            "recordingView": rec_view, "liveEngagement": live_eng,
            "recordingEngagement": rec_eng}  # fmt: skip


def test_viewer_rows(api: Api) -> None:
    world, _ = setup(api)
    pages = viewers(api, world)
    s20 = pages["S20"]
    assert s20["totalCount"] == 5
    assert s20["pageInfo"]["hasNextPage"] is False
    # T = min(30, 20) = 20; engagement = 100 x W / 20.
    assert s20["nodes"] == [
        row("Ann", True, True, 20, 5, True, False, 100.0, 25.0),
        row("Bob", False, True, 19, 15, False, False, 95.0, 75.0),  # watched live: attended
        row("Cid", True, False, 0, 0, False, False, 0.0, 0.0),
        row("Dee", False, True, 0, 0, False, False, 0.0, 0.0),
        row("Eve", False, False, 0, 3, False, False, 0.0, 15.0),
    ]
    # Unknown duration: T = 30, no engagement.
    assert pages["SU"]["nodes"] == [
        row("Ann", False, True, 60, 0, True, False, None, None),  # both watched live
        row("Bob", False, True, 70, 0, True, False, None, None),
    ]
    # Zoom: people are listed, their watch numbers are null (not zero).
    assert pages["SZ"]["nodes"] == [row("Ann", True, True, None, None, None, None, None, None)]

    by_live = viewers(api, world, order="LIVE_WATCHED_DESC")["S20"]["nodes"]
    assert [n["user"]["name"] for n in by_live] == ["Ann", "Bob", "Cid", "Dee", "Eve"]
    by_recording = viewers(api, world, order="RECORDING_WATCHED_DESC")["S20"]["nodes"]
    assert [n["user"]["name"] for n in by_recording] == ["Bob", "Ann", "Eve", "Cid", "Dee"]
    found = viewers(api, world, search="e")["S20"]  # Dee, Eve (and every @example email)
    assert found["totalCount"] == 5
    found = viewers(api, world, search="DE")["S20"]
    assert [n["user"]["name"] for n in found["nodes"]] == ["Dee"]
    assert found["totalCount"] == 1


def test_viewer_pages_walk_every_row_once(api: Api) -> None:
    world, _ = setup(api)
    for order in ("NAME_ASC", "EMAIL_ASC", "LIVE_WATCHED_DESC", "RECORDING_WATCHED_DESC"):
        seen, after = [], None
        while True:
            page = viewers(api, world, order=order, first=2, after=after)["S20"]
            seen += [n["user"]["name"] for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        everyone = viewers(api, world, order=order)["S20"]["nodes"]
        assert seen == [n["user"]["name"] for n in everyone], order
    cursor = viewers(api, world, first=1)["S20"]["pageInfo"]["endCursor"]
    variables = {"e": world.event_id, "order": "LIVE_WATCHED_DESC", "first": 1, "after": cursor}
    assert api.code(VIEWERS, variables, world.event_admin_token) == 400
    variables = {"e": world.event_id, "order": "NAME_ASC", "first": 1001}
    assert api.code(VIEWERS, variables, world.event_admin_token) == 400


def metrics(api: Api, world: World, mode: str, buckets: int, step: int) -> dict[str, Any]:
    variables = {"e": world.event_id, "mode": mode, "buckets": buckets, "step": step}
    nodes: list[Any] = []
    while True:
        page = api.data(SESSION_METRICS, variables, world.event_admin_token)["event"]["sessions"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return by_title(nodes)
        variables["after"] = page["pageInfo"]["endCursor"]


def test_engagement_retention_and_concurrency(api: Api) -> None:
    world, _ = setup(api)
    got = metrics(api, world, "RECORDING", 3, 60)
    s20 = got["S20"]
    # Means over viewers of the mode (W > 0): live (100 + 95) / 2; recording (25 + 75 + 15) / 3.
    assert s20["liveEngagement"] == 97.5
    assert s20["recordingEngagement"] == 115 / 3
    # 3 slices of 20 s: [0,7) [7,14) [14,20). Ann [0,5); Bob [0,15); Eve [1,2)+[4,6): once.
    assert s20["retention"] == {
        "mode": "RECORDING",
        "viewers": 3,
        "asOf": s20["asOf"],
        "points": [
            {"startSecond": 0, "endSecond": 7, "viewers": 3, "percent": 100.0},
            {"startSecond": 7, "endSecond": 14, "viewers": 1, "percent": 100 / 3},
            {"startSecond": 14, "endSecond": 20, "viewers": 1, "percent": 100 / 3},
        ],
    }
    # 100 buckets of a 20 s video: 20 one-second slices. Live: Ann [0,20), Bob [0,19).
    live = metrics(api, world, "LIVE", 100, 60)["S20"]["retention"]
    assert [(p["startSecond"], p["viewers"]) for p in live["points"]] == [
        (s, 2 if s < 19 else 1) for s in range(20)
    ]
    # Concurrency of S20 (clipped to 20 s) over its 600 scheduled seconds, by minute.
    concurrency = s20["concurrency"]
    assert concurrency["peakConcurrentViewers"] == 2
    assert concurrency["peakAt"] == when("1T09:00")
    assert [p["viewers"] for p in concurrency["points"]] == [2] + [0] * 9
    assert concurrency["points"][1] == {
        "start": when("1T09:01"), "end": when("1T09:02"), "startSecond": 60, "viewers": 0
    }  # fmt: skip

    su = got["SU"]
    assert su["liveEngagement"] is None and su["retention"] is None  # no duration
    # Ann [100,160), Bob [130,200): both at 130..159; the axis runs past the
    # scheduled 120 s to the last second watched (200): 4 minutes.
    assert su["concurrency"]["peakConcurrentViewers"] == 2
    assert su["concurrency"]["peakAt"] == "2026-12-01T09:02:10+00:00"
    assert [p["viewers"] for p in su["concurrency"]["points"]] == [0, 1, 2, 1]
    by_ten = metrics(api, world, "LIVE", 10, 10)["SU"]["concurrency"]["points"]
    assert [p["viewers"] for p in by_ten] == [0] * 10 + [1, 1, 1, 2, 2, 2, 1, 1, 1, 1]

    sz = got["SZ"]
    assert sz == {"asOf": sz["asOf"], "liveEngagement": None, "recordingEngagement": None,
                  "retention": None, "concurrency": None}  # fmt: skip


def test_a_session_nobody_watched(api: Api) -> None:
    world = make_world(api)
    create_session(api, world.event_admin_token, world.event_id, title="Quiet", videoDuration=5,
                   startTime=when("1T09:00"), endTime=when("1T09:01"))  # fmt: skip
    quiet = metrics(api, world, "LIVE", 100, 30)["Quiet"]
    assert quiet["liveEngagement"] == 0.0 and quiet["recordingEngagement"] == 0.0
    # 100 buckets of a 5 s video: 5 slices; nobody watched: 0 %.
    points = quiet["retention"]["points"]
    assert [(p["startSecond"], p["endSecond"], p["percent"]) for p in points] == [
        (s, s + 1, 0.0) for s in range(5)
    ]
    concurrency = quiet["concurrency"]
    assert concurrency["peakConcurrentViewers"] == 0 and concurrency["peakAt"] is None
    assert [p["viewers"] for p in concurrency["points"]] == [0, 0]
    assert viewers(api, world)["Quiet"]["nodes"] == []


@pytest.mark.parametrize(
    ("field", "argument", "value"),
    [("retention(mode: LIVE, buckets: $v) { viewers }", "buckets", 0),
     ("retention(mode: LIVE, buckets: $v) { viewers }", "buckets", 1001),
     ("concurrency(bucketSeconds: $v) { bucketSeconds }", "bucketSeconds", 0),
     ("concurrency(bucketSeconds: $v) { bucketSeconds }", "bucketSeconds", 86401),
     ("concurrency(bucketSeconds: $v) { bucketSeconds }", "bucketSeconds", 1)],
)  # fmt: skip
def test_bad_arguments_are_400_naming_the_argument(
    api: Api, field: str, argument: str, value: int
) -> None:
    world = make_world(api)
    # 27 hours: 97,200 one-second concurrency points, more than the 10,000 allowed.
    create_session(
        api, world.event_admin_token, world.event_id, startTime=when("1T09:00"),
        endTime=when("2T12:00"),
    )  # fmt: skip
    query = (
        f"query($e: ID!, $v: Int!) {{ event(id: $e) {{ sessions {{ nodes {{ {field} }} }} }} }}"
    )
    error = api.error(query, {"e": world.event_id, "v": value}, world.event_admin_token)
    assert error["extensions"]["code"] == 400
    assert argument in error["message"]


def test_event_analytics_and_the_time_window(api: Api) -> None:
    world, _ = setup(api)

    def analytics(after: str | None = None, before: str | None = None) -> dict[str, Any]:
        variables = {"e": world.event_id, "after": after, "before": before}
        data = api.data(EVENT_ANALYTICS, variables, world.event_admin_token)
        result: dict[str, Any] = data["event"]["analytics"]
        return result

    everything = analytics()
    as_of = datetime.fromisoformat(everything.pop("asOf"))
    assert as_of > datetime.now().astimezone() - timedelta(minutes=5)
    assert everything == {
        "sessions": 3,
        "sessionsWithAnalytics": 2,
        "registrations": 3,  # S20: Ann, Cid; SZ: Ann
        "registeredUsers": 2,
        "attendances": 6,  # S20: Ann, Dee (joined), Bob (live); SU: Ann, Bob (live); SZ: Ann
        "attendees": 3,  # Ann, Bob, Dee
        "uniqueViewers": 3,  # Ann, Bob, Eve
        "uniqueLiveViewers": 2,
        "uniqueRecordingViewers": 3,
        "liveViews": 3,  # S20: Ann (20 >= 20); SU: Ann, Bob
        "recordingViews": 0,  # 5, 15 and 3 seconds of a 20 s video: none reaches 20
        "watchTime": {"live": 20 + 19 + 60 + 70, "recording": 5 + 15 + 3, "total": 192},
        "topSessions": [{"title": "SU", "liveViews": 2}, {"title": "S20", "liveViews": 1}],
    }
    second_day = analytics(after=when("2T00:00"))
    assert second_day["sessions"] == 1 and second_day["sessionsWithAnalytics"] == 0
    assert second_day["registrations"] == 1 and second_day["uniqueViewers"] == 0
    assert second_day["watchTime"] == {"live": 0, "recording": 0, "total": 0}
    assert second_day["topSessions"] == []
    first_day = analytics(before=when("2T00:00"))
    assert first_day["sessions"] == 2 and first_day["registeredUsers"] == 2
    empty = analytics(after=when("3T00:00"))
    assert empty["sessions"] == 0 and empty["asOf"] is None

    window = """query($e: ID!, $a: DateTime, $b: DateTime, $after: String) { event(id: $e) {
      sessions(first: 1, after: $after, startsAfter: $a, startsBefore: $b) {
        totalCount pageInfo { endCursor } nodes { title } } } }"""
    variables: dict[str, Any] = {"e": world.event_id, "a": when("1T09:00"), "b": when("2T09:00")}
    page = api.data(window, variables, world.event_admin_token)["event"]["sessions"]
    assert page["totalCount"] == 2 and page["nodes"] == [{"title": "S20"}]
    variables["after"] = page["pageInfo"]["endCursor"]
    page = api.data(window, variables, world.event_admin_token)["event"]["sessions"]
    assert page["nodes"] == [{"title": "SU"}]
    variables["b"] = when("3T09:00")  # a cursor is bound to its window
    assert api.code(window, variables, world.event_admin_token) == 400
    backwards = {"e": world.event_id, "a": when("2T09:00"), "b": when("1T09:00")}
    assert api.code(window, backwards, world.event_admin_token) == 400


def test_as_of_moves_with_the_data_it_includes(api: Api) -> None:
    world, ids = setup(api)
    query = "query($e: ID!) { event(id: $e) { sessions { nodes { title asOf } } } }"

    def as_of() -> dict[str, str]:
        nodes = api.data(query, {"e": world.event_id}, world.event_admin_token)
        return {n["title"]: n["asOf"] for n in nodes["event"]["sessions"]["nodes"]}

    before = as_of()
    _, late = sign_up(api, "Late")
    record(api, late, ids["S20"], "LIVE", (0, 1))
    after = as_of()
    assert after["S20"] > before["S20"]
    assert after["SU"] == before["SU"] and after["SZ"] == before["SZ"]
    retention = metrics(api, world, "LIVE", 2, 60)["S20"]
    assert retention["retention"]["asOf"] == retention["concurrency"]["asOf"] == after["S20"]
    assert viewers(api, world)["S20"]["asOf"] == after["S20"]


def test_only_hosts_see_viewer_rows(api: Api) -> None:
    world, _ = setup(api)
    variables = {"e": world.event_id, "order": "NAME_ASC", "first": 10}
    assert api.code(VIEWERS, variables, world.attendee_token) == 4030201
    assert api.code(VIEWERS, variables, None) == 401
    other_id, other = sign_up(api, "Olivia")
    grant(api, world.super_token, other_id, "EVENT_ADMIN", eventId=world.event_id)
    assert api.data(VIEWERS, variables, other)["event"]["sessions"]["nodes"]


def seconds(spans: list[tuple[int, int]], duration: int | None) -> set[int]:
    """The reference: a viewer's watched seconds as a plain set, clipped to the duration."""
    limit = duration if duration is not None else 1 << 31
    return {s for a, b in spans for s in range(a, min(b, limit))}


@pytest.mark.parametrize("seed", [20261127, 1, 2])
def test_random_sessions_match_a_reference(api: Api, seed: int) -> None:
    rng = random.Random(seed)
    world = make_world(api)
    host = world.event_admin_token
    people = [sign_up(api, f"P{i}") for i in range(7)]
    durations: dict[str, int | None] = {}
    for index, duration in enumerate([None, 7, 20, 31, 95]):
        session = create_session(
            api, host, world.event_id, title=f"R{index}", videoDuration=duration,
            streamProvider="DIRECT_UPLOAD",
        )  # fmt: skip
        durations[session] = duration
    spans: dict[tuple[str, int, str], list[tuple[int, int]]] = {}
    members: dict[str, set[int]] = {session: set() for session in durations}
    for session, duration in durations.items():
        for person, (_, token) in enumerate(people):
            if rng.random() < 0.3:
                api.data(rng.choice([REGISTER, JOIN]), {"s": session}, token)
                members[session].add(person)
            for mode in ("LIVE", "RECORDING"):
                if rng.random() < 0.4:
                    continue
                reach = (duration or 100) + 10
                mine = []
                for _ in range(rng.randint(1, 5)):
                    start = rng.randrange(0, reach)
                    mine.append((start, start + rng.randint(1, 30)))
                record(api, token, session, mode, *mine)
                spans[(session, person, mode)] = mine
                members[session].add(person)

    buckets, step = rng.randint(1, 40), rng.choice([1, 7, 60])
    for mode in ("LIVE", "RECORDING"):
        got = metrics(api, world, mode, buckets, step)
        rows = viewers(api, world, order="NAME_ASC")
        for index, (session, duration) in enumerate(durations.items()):
            title = f"R{index}"
            watched = {p: seconds(spans.get((session, p, mode), []), duration)
                       for p in range(len(people))}  # fmt: skip
            active = {p: s for p, s in watched.items() if s}
            session_got = got[title]
            # Engagement: the mean of per-viewer percentages, exactly.
            if duration is not None:
                want = (
                    float(sum(Fraction(100 * len(s), duration) for s in active.values())
                          / len(active)) if active else 0.0
                )  # fmt: skip
                key = "liveEngagement" if mode == "LIVE" else "recordingEngagement"
                assert session_got[key] == want, (title, mode)
                # Retention: viewers who watched any second of each slice.
                count = min(buckets, duration)
                points = session_got["retention"]["points"]
                assert len(points) == count
                for i, point in enumerate(points):
                    lo, hi = -(-i * duration // count), -(-(i + 1) * duration // count)
                    assert (point["startSecond"], point["endSecond"]) == (lo, hi)
                    n = sum(1 for s in active.values() if s & set(range(lo, hi)))
                    assert point["viewers"] == n, (title, mode, i)
                    assert point["percent"] == (float(Fraction(100 * n, len(active)))
                                                if active else 0.0)  # fmt: skip
            else:
                assert session_got["retention"] is None
            if mode == "LIVE":
                per_second: dict[int, int] = {}
                for s in active.values():
                    for second in s:
                        per_second[second] = per_second.get(second, 0) + 1
                concurrency = session_got["concurrency"]
                peak = max(per_second.values(), default=0)
                assert concurrency["peakConcurrentViewers"] == peak
                if peak:
                    first = min(s for s, n in per_second.items() if n == peak)
                    began = datetime.fromisoformat("2026-12-01T09:00:00+00:00")
                    assert concurrency["peakAt"] == (began + timedelta(seconds=first)).isoformat()
                last = max((max(s) + 1 for s in active.values()), default=0)
                length = -(-max(3600, last) // step)
                assert [p["viewers"] for p in concurrency["points"]] == [
                    sum(1 for s in active.values() if s & set(range(k * step, (k + 1) * step)))
                    for k in range(length)
                ]
            # Viewer rows: everyone who registered, joined or reported anything.
            listed = rows[title]["nodes"]
            assert [n["user"]["name"] for n in listed] == [
                f"P{p}" for p in sorted(members[session])
            ]
            field = "liveWatchedSeconds" if mode == "LIVE" else "recordingWatchedSeconds"
            assert {n["user"]["name"]: n[field] for n in listed} == {
                f"P{p}": len(watched[p]) for p in members[session]
            }
