"""The edge cases of analytics-semantics.md, each through the GraphQL API.

Expected numbers are written by hand (with the arithmetic in comments), or
come from the naive reference in helpers.py where noted.
"""

from typing import Any

import pytest
from conftest import Api
from helpers import (
    World,
    create_session,
    expected_metrics,
    record,
    sessions_by_id,
    sign_up,
)


def metrics(api: Api, world: World, session_id: str) -> dict[str, Any]:
    return sessions_by_id(api, world.super_token, world.event_id)[session_id]


def watch_time(live: int, recording: int) -> dict[str, int]:
    return {"live": live, "recording": recording, "total": live + recording}


def test_overlapping_nested_adjacent_and_duplicated_segments_count_each_second_once(
    api: Api, world: World
) -> None:
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=600)
    # overlapping [0,20)+[10,30) = [0,30): 30 s; nested [40,50) inside [35,60): 25 s;
    # adjacent [100,110)+[110,120): 20 s; duplicated [200,205) x3: 5 s.  Total 80 s.
    spans = [(0, 20), (10, 30), (35, 60), (40, 50), (100, 110), (110, 120)]
    spans += [(200, 205)] * 3
    assert record(api, world.attendee_token, session, "LIVE", *spans) == 9
    got = metrics(api, world, session)
    assert got["watchTime"] == watch_time(80, 0)
    assert got["liveViews"] == 1
    assert got["avgAttendedDuration"] == 80
    # The same segments again (a retried batch) change nothing, though they are accepted.
    assert record(api, world.attendee_token, session, "LIVE", *spans) == 9
    assert metrics(api, world, session) == got


def test_adjacent_segments_join_without_gap(api: Api, world: World) -> None:
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=600)
    record(api, world.attendee_token, session, "LIVE", (0, 10))
    record(api, world.attendee_token, session, "LIVE", (10, 20))
    assert metrics(api, world, session)["watchTime"]["live"] == 20


@pytest.mark.parametrize(
    ("spans", "is_view"),
    [
        ([(0, 20)], True),  # every second of a 20 s video
        ([(0, 19)], False),  # one second short
        ([(0, 10), (10, 20)], True),  # adjacent halves
        ([(1, 20)], False),  # misses second 0
        ([(0, 25)], True),  # clipped to 20, still all of it
    ],
)
def test_a_20_second_video_counts_a_view_only_when_all_of_it_was_watched(
    api: Api, world: World, spans: list[tuple[int, int]], is_view: bool
) -> None:
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=20)
    record(api, world.attendee_token, session, "RECORDING", *spans)
    got = metrics(api, world, session)
    assert got["recordingViews"] == int(is_view)
    assert got["watchTime"]["recording"] == min(20, sum(b - a for a, b in spans))


@pytest.mark.parametrize("duration", [30, 31])
def test_exactly_30_distinct_seconds_is_a_view_for_30_and_31_second_videos(
    api: Api, world: World, duration: int
) -> None:
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=duration)
    viewer_a = sign_up(api)[1]
    viewer_b = sign_up(api)[1]
    record(api, viewer_a, session, "LIVE", (0, 15), (15, 30))  # 30 distinct seconds
    record(api, viewer_b, session, "LIVE", (1, 30), (5, 10))  # 29 distinct seconds
    got = metrics(api, world, session)
    assert got["liveViews"] == 1
    assert got["watchTime"]["live"] == 59
    assert got["avgAttendedDuration"] == 29.5


def test_segments_past_the_duration_are_clipped_and_one_starting_past_it_counts_nothing(
    api: Api, world: World
) -> None:
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=100)
    # [90,130) counts 10 s; [100,150) and [500,600) start at/after D: accepted, 0 s.
    assert record(api, world.attendee_token, session, "LIVE", (90, 130), (100, 150)) == 2
    assert record(api, world.attendee_token, session, "RECORDING", (500, 600)) == 1
    got = metrics(api, world, session)
    assert got["watchTime"] == watch_time(10, 0)
    assert got["liveViews"] == 0 and got["recordingViews"] == 0
    # Only users with W(u, LIVE) > 0 count in the average: 10 / 1.
    assert got["avgAttendedDuration"] == 10


def test_unknown_duration_uses_threshold_30_and_no_clipping(api: Api, world: World) -> None:
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=None)
    viewer = sign_up(api)[1]
    record(api, world.attendee_token, session, "LIVE", (1000, 1030))  # 30 s far out: a view
    record(api, viewer, session, "LIVE", (0, 29))  # 29 s: not a view
    got = metrics(api, world, session)
    assert got["duration"] is None
    assert got["analyticsAvailable"] is True
    assert got["liveViews"] == 1
    assert got["watchTime"] == watch_time(59, 0)


def test_the_same_user_in_both_modes_counts_in_both_views_separately(
    api: Api, world: World
) -> None:
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=600)
    record(api, world.attendee_token, session, "LIVE", (0, 40))
    record(api, world.attendee_token, session, "RECORDING", (0, 40), (20, 50))
    got = metrics(api, world, session)
    assert (got["liveViews"], got["recordingViews"]) == (1, 1)
    assert got["watchTime"] == watch_time(40, 50)
    assert got["avgAttendedDuration"] == 40  # recording seconds are not in the live average


@pytest.mark.parametrize(
    ("format", "provider", "has_video"),
    [
        ("MAIN_STAGE", "ZOOM", True),
        ("BREAKOUT_SESSION", "FACEBOOK", True),
        ("EXPO", "WISTIA", True),
        ("WORKSHOP", None, False),
        ("MEET_UP", None, False),
        ("BREAK", None, False),
    ],
)
def test_sessions_without_analytics_report_nulls_not_zeros(
    api: Api, world: World, format: str, provider: str | None, has_video: bool
) -> None:
    session = create_session(
        api,
        world.event_admin_token,
        world.event_id,
        format=format,
        streamProvider=provider,
        videoDuration=900 if has_video else None,
    )
    api.data(
        "mutation($s: ID!) { registerForSession(sessionId: $s) joinSession(sessionId: $s) }",
        {"s": session},
        world.attendee_token,
    )
    got = metrics(api, world, session)
    assert got["analyticsAvailable"] is False
    assert got["duration"] == (900 if has_video else None)
    for field in ("liveViews", "recordingViews", "avgAttendedDuration", "watchTime"):
        assert got[field] is None, field
    # Registrations and joins are counted whatever the provider.
    assert (got["registeredUserCount"], got["attendeeCount"]) == (1, 1)
    # And players cannot report watching them.
    error = api.error(
        "mutation($s: [WatchSegmentInput!]!) { recordWatch(segments: $s) { accepted } }",
        {"s": [{"sessionId": session, "mode": "LIVE", "startSecond": 0, "endSecond": 10}]},
        world.attendee_token,
    )
    assert error["extensions"] == {"code": 400, "status": 400}
    assert "segments[0]" in error["message"]


def test_a_session_nobody_touched_has_zero_counts(api: Api, world: World) -> None:
    session = create_session(api, world.event_admin_token, world.event_id)
    got = metrics(api, world, session)
    assert got["registeredUserCount"] == 0 and got["attendeeCount"] == 0
    assert got["liveViews"] == 0 and got["recordingViews"] == 0
    assert got["avgAttendedDuration"] == 0
    assert got["watchTime"] == watch_time(0, 0)


def test_registrations_and_joins_are_sets(api: Api, world: World) -> None:
    session = create_session(api, world.event_admin_token, world.event_id)
    other = sign_up(api)[1]
    both = "mutation($s: ID!) { registerForSession(sessionId: $s) joinSession(sessionId: $s) }"
    api.data(both, {"s": session}, world.attendee_token)
    api.data(both, {"s": session}, world.attendee_token)  # twice counts once
    api.data(both, {"s": session}, other)
    got = metrics(api, world, session)
    assert (got["registeredUserCount"], got["attendeeCount"]) == (2, 2)
    unregister = "mutation($s: ID!) { unregisterFromSession(sessionId: $s) }"
    api.data(unregister, {"s": session}, other)
    api.data(unregister, {"s": session}, other)  # idempotent too
    got = metrics(api, world, session)
    assert (got["registeredUserCount"], got["attendeeCount"]) == (1, 2)


def test_setting_the_duration_later_reapplies_clipping_and_threshold(
    api: Api, world: World
) -> None:
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=None)
    a, b, c = (sign_up(api)[1] for _ in range(3))
    watches = {
        ("a", "LIVE"): [(0, 20)],  # 20 s: no view at T=30; all of a 20 s video: a view
        ("b", "LIVE"): [(10, 60)],  # 50 s unclipped; 10 s once D=20
        ("c", "RECORDING"): [(25, 40)],  # starts past D=20: counts nothing then
    }
    record(api, a, session, "LIVE", (0, 20))
    record(api, b, session, "LIVE", (10, 60))
    record(api, c, session, "RECORDING", (25, 40))
    before = metrics(api, world, session)
    assert {k: before[k] for k in ("liveViews", "recordingViews", "watchTime")} == {
        k: expected_metrics(watches, None)[k] for k in ("liveViews", "recordingViews", "watchTime")
    }
    assert before["liveViews"] == 1 and before["watchTime"] == watch_time(70, 15)

    update = "mutation($s: ID!, $d: Int) { updateSession(sessionId: $s, input: {videoDuration: $d}) { duration } }"  # noqa: E501
    assert api.data(update, {"s": session, "d": 20}, world.event_admin_token)["updateSession"] == {
        "duration": 20
    }
    after = metrics(api, world, session)
    # As if D = 20 had always been known: a 20/20 (view), b 10/20, c 0.
    assert after["liveViews"] == 1
    assert after["recordingViews"] == 0
    assert after["watchTime"] == watch_time(30, 0)
    assert after["avgAttendedDuration"] == 15
    # New segments after the change are clipped with the new duration.
    record(api, c, session, "RECORDING", (0, 30))
    assert metrics(api, world, session)["recordingViews"] == 1
    # Clearing the duration brings back the unclipped numbers (b: 50 s, c: 40 s).
    api.data(update, {"s": session, "d": None}, world.event_admin_token)
    cleared = metrics(api, world, session)
    assert cleared["watchTime"] == watch_time(70, 40)
    assert cleared["liveViews"] == 1 and cleared["recordingViews"] == 1
