"""Time series in the host's time zone (docs/metrics.md, "Timeline"): DST days of 23
and 25 hours, half-hour zones, the stream clock for live, reception for recordings."""

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from conftest import Api
from helpers import World, create_session, make_world, record, sign_up

from gql_server.services import watch

EVENT_TIMELINE = """query($e: ID!, $z: String!, $b: TimelineBucket!, $m: WatchMode,
                          $from: DateTime, $to: DateTime) {
  event(id: $e) { timeline(timeZone: $z, bucket: $b, mode: $m, from: $from, to: $to) {
    bucket timeZone mode points { start end uniqueViewers watchedSeconds newViews } } } }"""
# A few sessions: each timeline may have 10,000 points as far as the cost
# estimate knows (docs/security.md), so a page of them is small.
SESSION_TIMELINE = """query($e: ID!, $z: String!, $b: TimelineBucket!) {
  event(id: $e) { sessions(first: 4) { nodes { id
    timeline(timeZone: $z, bucket: $b) { points { start end uniqueViewers watchedSeconds
                                                   newViews } } } } } }"""


def event_timeline(api: Api, world: World, zone: str, bucket: str = "DAY",
                   **args: Any) -> list[dict[str, Any]]:  # fmt: skip
    variables = {"e": world.event_id, "z": zone, "b": bucket, **args}
    if "mode" in variables:
        variables["m"] = variables.pop("mode")
    data = api.data(EVENT_TIMELINE, variables, world.event_admin_token)
    points: list[dict[str, Any]] = data["event"]["timeline"]["points"]
    return points


def point(start: str, end: str, viewers: int, seconds: int, views: int) -> dict[str, Any]:
    return {"start": start, "end": end, "uniqueViewers": viewers, "watchedSeconds": seconds,
            "newViews": views}  # fmt: skip


def test_a_day_of_23_hours_in_berlin(api: Api) -> None:
    world = make_world(api)
    # 23:30 on Saturday 28 March 2026 in Berlin; clocks go 02:00 -> 03:00 that night.
    session = create_session(api, world.event_admin_token, world.event_id,
                             startTime="2026-03-28T22:30:00+00:00",
                             endTime="2026-03-29T00:30:00+00:00", videoDuration=7200)  # fmt: skip
    record(api, world.attendee_token, session, "LIVE", (0, 3600))
    _, late = sign_up(api, "Late")
    record(api, late, session, "LIVE", (1800, 1900))  # from 23:00 UTC: Sunday in Berlin
    assert event_timeline(api, world, "Europe/Berlin") == [
        point("2026-03-27T23:00:00+00:00", "2026-03-28T23:00:00+00:00", 1, 1800, 1),
        point("2026-03-28T23:00:00+00:00", "2026-03-29T22:00:00+00:00", 2, 1900, 1),
    ]  # Sunday: 23 hours, 1800 + 100 s; the late viewer's 30th second is at 23:00:29 UTC
    assert event_timeline(api, world, "UTC") == [
        point("2026-03-28T00:00:00+00:00", "2026-03-29T00:00:00+00:00", 2, 3700, 2),
    ]


def test_a_day_of_25_hours_and_its_two_one_oclock_hours(api: Api) -> None:
    world = make_world(api)
    # 02:30 CEST on Sunday 25 October 2026; at 03:00 CEST clocks go back to 02:00 CET.
    session = create_session(api, world.event_admin_token, world.event_id,
                             startTime="2026-10-25T00:30:00+00:00",
                             endTime="2026-10-25T01:30:00+00:00", videoDuration=3600)  # fmt: skip
    record(api, world.attendee_token, session, "LIVE", (0, 3600))
    assert event_timeline(api, world, "Europe/Berlin") == [
        point("2026-10-24T22:00:00+00:00", "2026-10-25T23:00:00+00:00", 1, 3600, 1),
    ]
    # Local 02:00-03:00 happens twice: two hours, not one of two.
    assert event_timeline(api, world, "Europe/Berlin", "HOUR") == [
        point("2026-10-25T00:00:00+00:00", "2026-10-25T01:00:00+00:00", 1, 1800, 1),
        point("2026-10-25T01:00:00+00:00", "2026-10-25T02:00:00+00:00", 1, 1800, 0),
    ]
    # Hours in a zone half an hour off UTC start at half past, UTC.
    assert event_timeline(api, world, "Asia/Kolkata", "HOUR") == [
        point("2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00", 1, 3600, 1),
    ]


def test_from_to_mode_and_bad_arguments(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id,
                             startTime="2026-12-01T09:00:00+00:00",
                             endTime="2026-12-01T10:00:00+00:00", videoDuration=600)  # fmt: skip
    record(api, world.attendee_token, session, "LIVE", (0, 60))
    zeros = event_timeline(
        api,
        world,
        "America/Los_Angeles",
        mode="LIVE",
        **{"from": "2026-11-29T12:00:00Z", "to": "2026-12-02T00:00:00Z"},
    )
    assert [(p["start"], p["watchedSeconds"]) for p in zeros] == [
        ("2026-11-29T08:00:00+00:00", 0),  # from (04:00 PST) widened to local midnight
        ("2026-11-30T08:00:00+00:00", 0),
        ("2026-12-01T08:00:00+00:00", 60),  # 09:00 UTC is 01:00 PST on 1 December
    ]
    assert event_timeline(api, world, "UTC", mode="RECORDING") == []
    for zone, word in (("Mars/Olympus_Mons", "Mars/Olympus_Mons"), ("", "''"),
                       ("../../etc/passwd", "../../etc/passwd")):  # fmt: skip
        error = api.error(EVENT_TIMELINE, {"e": world.event_id, "z": zone, "b": "DAY"},
                          world.event_admin_token)  # fmt: skip
        assert error["extensions"]["code"] == 400 and word in error["message"], error
    error = api.error(
        EVENT_TIMELINE,
        {"e": world.event_id, "z": "UTC", "b": "HOUR", "from": "2026-01-01T00:00:00Z",
         "to": "2027-12-31T00:00:00Z"},
        world.event_admin_token,
    )  # fmt: skip
    assert "10000 points" in error["message"]
    error = api.error(
        EVENT_TIMELINE,
        {"e": world.event_id, "z": "UTC", "b": "DAY", "from": "2026-12-02T00:00:00Z",
         "to": "2026-12-01T00:00:00Z"},
        world.event_admin_token,
    )  # fmt: skip
    assert "to must be after from" in error["message"]
    assert api.code(EVENT_TIMELINE, {"e": world.event_id, "z": "UTC", "b": "DAY"},
                    world.attendee_token) == 4030201  # fmt: skip


def test_recordings_count_when_they_were_received(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=100)
    record(api, world.attendee_token, session, "RECORDING", (0, 20))
    record(api, world.attendee_token, session, "RECORDING", (10, 50))  # adds 30: a view
    record(api, world.attendee_token, session, "RECORDING", (0, 50))  # a rewatch: adds 0

    async def received_on_two_days(pool: asyncpg.Pool) -> None:
        # The raw segments as if received at 23:50 and 00:10 in Berlin (winter: +01:00).
        times = ["2026-12-01T22:50:00+00:00", "2026-12-01T23:10:00+00:00",
                 "2026-12-02T09:00:00+00:00"]  # fmt: skip
        ids = [r["id"] for r in await pool.fetch("SELECT id FROM watch_segments ORDER BY id")]
        for segment_id, at in zip(ids, times, strict=True):
            await pool.execute("UPDATE watch_segments SET received_at = $2 WHERE id = $1",
                               segment_id, datetime.fromisoformat(at))  # fmt: skip
        await watch.rebuild_rollups(pool, event_id=int(world.event_id))

    api.run(received_on_two_days)
    assert event_timeline(api, world, "Europe/Berlin") == [
        point("2026-11-30T23:00:00+00:00", "2026-12-01T23:00:00+00:00", 1, 20, 0),
        point("2026-12-01T23:00:00+00:00", "2026-12-02T23:00:00+00:00", 1, 30, 1),
    ]
    data = api.data(SESSION_TIMELINE, {"e": world.event_id, "z": "UTC", "b": "DAY"},
                    world.event_admin_token)  # fmt: skip
    [node] = data["event"]["sessions"]["nodes"]
    assert node["timeline"]["points"] == [
        point("2026-12-01T00:00:00+00:00", "2026-12-02T00:00:00+00:00", 1, 50, 1),
    ]


def test_sessions_without_analytics_have_no_timeline(api: Api) -> None:
    world = make_world(api)
    create_session(api, world.event_admin_token, world.event_id, streamProvider="ZOOM")
    data = api.data(SESSION_TIMELINE, {"e": world.event_id, "z": "UTC", "b": "HOUR"},
                    world.event_admin_token)  # fmt: skip
    assert data["event"]["sessions"]["nodes"][0]["timeline"] is None


ZONES = ["Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]


def reference(watched: dict[tuple[str, str], set[int]], starts: dict[str, datetime],
              thresholds: dict[str, int], zone: ZoneInfo, sessions: set[str],
              ) -> dict[date, tuple[int, int, int]]:  # fmt: skip
    """Per local day: unique viewers, seconds, views, second by second."""
    viewers: dict[date, set[str]] = {}
    seconds: dict[date, int] = {}
    views: dict[date, int] = {}
    for (user, session), positions in watched.items():
        if session not in sessions:
            continue
        for p in positions:
            day = (starts[session] + timedelta(seconds=p)).astimezone(zone).date()
            viewers.setdefault(day, set()).add(user)
            seconds[day] = seconds.get(day, 0) + 1
        ordered = sorted(positions)
        if len(ordered) >= thresholds[session]:
            at = starts[session] + timedelta(seconds=ordered[thresholds[session] - 1])
            day = at.astimezone(zone).date()
            views[day] = views.get(day, 0) + 1
    return {d: (len(viewers[d]), seconds[d], views.get(d, 0)) for d in viewers}


@pytest.mark.parametrize("seed", [11, 12])
def test_random_live_watching_matches_a_second_by_second_reference(api: Api, seed: int) -> None:
    rng = random.Random(seed)
    world = make_world(api)
    host = world.event_admin_token
    people = {f"V{i}": sign_up(api, f"V{i}")[1] for i in range(4)}
    starts: dict[str, datetime] = {}
    thresholds: dict[str, int] = {}
    watched: dict[tuple[str, str], set[int]] = {}
    for _ in range(3):
        start = datetime(2026, 10, 24, 20, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 600))
        duration = rng.choice([None, 1500, 7000])
        session = create_session(api, host, world.event_id, videoDuration=duration,
                                 startTime=start.isoformat(),
                                 endTime=(start + timedelta(hours=2)).isoformat())  # fmt: skip
        starts[session] = start
        thresholds[session] = 30 if duration is None else min(30, duration)
        for name, token in people.items():
            for _ in range(rng.randrange(4)):
                a = rng.randrange(0, 8000)
                b = a + rng.randrange(1, 2500)
                record(api, token, session, "LIVE", (a, b))
                limit = b if duration is None else min(b, duration)
                watched.setdefault((name, session), set()).update(range(a, limit))
    for zone_name in ZONES:
        zone = ZoneInfo(zone_name)
        want = reference(watched, starts, thresholds, zone, set(starts))
        got = event_timeline(api, world, zone_name, mode="LIVE")
        nonzero = {
            datetime.fromisoformat(p["start"]).astimezone(zone).date():
                (p["uniqueViewers"], p["watchedSeconds"], p["newViews"])
            for p in got if p["watchedSeconds"]
        }  # fmt: skip
        assert nonzero == want, (seed, zone_name)
        for p in got:  # each bucket is one local day, midnight to midnight
            start, end = (datetime.fromisoformat(p[k]).astimezone(zone) for k in ("start", "end"))
            assert (start.hour, start.minute, end.hour, end.minute) == (0, 0, 0, 0)
            assert end.date() == start.date() + timedelta(days=1)
    data = api.data(SESSION_TIMELINE, {"e": world.event_id, "z": "Europe/Berlin", "b": "DAY"},
                    host)  # fmt: skip
    zone = ZoneInfo("Europe/Berlin")
    for node in data["event"]["sessions"]["nodes"]:
        want = reference(watched, starts, thresholds, zone, {node["id"]})
        per_day = {
            datetime.fromisoformat(p["start"]).astimezone(zone).date():
                (p["uniqueViewers"], p["watchedSeconds"], p["newViews"])
            for p in (node["timeline"] or {"points": []})["points"] if p["watchedSeconds"]
        }  # fmt: skip
        assert per_day == want, (seed, node["id"])
