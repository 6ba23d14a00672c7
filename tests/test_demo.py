"""The demo event shows every metric, and its numbers agree with each other."""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import FAST_HASHING, Api
from helpers import login, sign_up

from gql_server.analytics.rules import analytics_available
from gql_server.auth import Passwords
from gql_server.db import Pool
from gql_server.demo import DEMO_PASSWORD, DemoAudience, DemoLogins, load_demo
from gql_server.repo.verify import find_rollup_mismatches
from gql_server.settings import Settings

QUERY = """
query($e: ID!) { event(id: $e) {
  analytics { sessions sessionsWithAnalytics uniqueViewers uniqueLiveViewers
              watchTime { live recording } liveViews recordingViews asOf
              topSessions(first: 3) { title } }
  sessions(first: 60) { totalCount nodes {
    title duration analyticsAvailable liveViews recordingViews watchTime { live recording }
    liveEngagement recordingEngagement asOf
    viewers(first: 100) { totalCount nodes { liveWatchedSeconds recordingWatchedSeconds
                                              liveView recordingView } }
    retention(mode: LIVE, buckets: 10) { viewers points { viewers percent } }
    concurrency(bucketSeconds: 300) { peakConcurrentViewers peakAt points { viewers } } } } } }
"""


def test_the_demo_shows_every_metric_consistently(api: Api) -> None:
    async def load(pool: Pool) -> DemoLogins:
        return await load_demo(pool, Passwords(Settings(**FAST_HASHING)), viewers=80)

    demo = api.run(load)  # 37 sessions and 80 viewers: pages of 100 hold them all
    token = login(api, "host@demo.example", DEMO_PASSWORD)
    event = api.data(QUERY, {"e": str(demo.event_id)}, token)["event"]
    sessions: dict[str, Any] = {n["title"]: n for n in event["sessions"]["nodes"]}
    with_analytics = [n for n in sessions.values() if n["analyticsAvailable"]]

    totals = event["analytics"]
    assert totals["sessions"] == event["sessions"]["totalCount"] == len(sessions)
    assert totals["sessionsWithAnalytics"] == len(with_analytics)
    assert totals["watchTime"]["live"] == sum(n["watchTime"]["live"] for n in with_analytics)
    assert totals["liveViews"] == sum(n["liveViews"] for n in with_analytics) > 0
    assert totals["recordingViews"] == sum(n["recordingViews"] for n in with_analytics) > 0
    assert 0 < totals["uniqueLiveViewers"] <= totals["uniqueViewers"] <= 80
    assert len(totals["topSessions"]) == 3

    for node in with_analytics:
        rows = node["viewers"]["nodes"]
        # Per-viewer rows add up to the session's numbers.
        assert sum(r["liveWatchedSeconds"] for r in rows) == node["watchTime"]["live"]
        assert sum(r["recordingWatchedSeconds"] for r in rows) == node["watchTime"]["recording"]
        assert sum(r["liveView"] for r in rows) == node["liveViews"]
        assert sum(r["recordingView"] for r in rows) == node["recordingViews"]
        live_viewers = sum(r["liveWatchedSeconds"] > 0 for r in rows)
        peak = node["concurrency"]["peakConcurrentViewers"]
        assert peak <= live_viewers and (peak > 0) == (live_viewers > 0)
        assert max(p["viewers"] for p in node["concurrency"]["points"]) <= live_viewers
        if node["duration"] is None:
            assert node["retention"] is None and node["liveEngagement"] is None
        else:
            assert node["retention"]["viewers"] == live_viewers
            assert all(p["viewers"] <= live_viewers for p in node["retention"]["points"])
            assert 0 <= node["liveEngagement"] <= 100

    keynote = sessions["Opening keynote"]
    assert keynote["concurrency"]["peakConcurrentViewers"] > 1
    assert keynote["liveEngagement"] > 0
    teaser = sessions["Sponsor teaser (20 s)"]
    assert len(teaser["retention"]["points"]) == 10
    assert any(p["percent"] == 100.0 for p in teaser["retention"]["points"])
    assert sessions["Fireside chat (duration unknown)"]["concurrency"]["peakAt"]
    zoom = sessions["Partner livestream on Zoom"]
    assert zoom["retention"] is None and zoom["concurrency"] is None
    assert zoom["viewers"]["totalCount"] > 0  # registrations and joins still listed
    assert api.run(find_rollup_mismatches) == []


def test_the_demo_event_counts_only_its_listed_viewers(api: Api) -> None:
    async def load(pool: Pool) -> DemoLogins:
        return await load_demo(pool, Passwords(Settings(**FAST_HASHING)), viewers=5)

    demo = api.run(load)
    host = login(api, "host@demo.example", DEMO_PASSWORD)
    event = {"e": str(demo.event_id)}
    listed = api.data(
        "query($e: ID!) { event(id: $e) { attendance attendees { totalCount } } }", event, host
    )["event"]
    assert listed == {"attendance": "ATTENDEES_ONLY", "attendees": {"totalCount": 5}}
    keynote = """query($e: ID!) { event(id: $e) { sessions(search: "Opening keynote") {
      nodes { id registeredUserCount } } } }"""

    def registered() -> tuple[str, int]:
        node = api.data(keynote, event, host)["event"]["sessions"]["nodes"][0]
        return node["id"], node["registeredUserCount"]

    session_id, _ = registered()
    register = "mutation($s: ID!) { registerForSession(sessionId: $s) }"
    viewer = login(api, "viewer00001@demo.example", DEMO_PASSWORD)
    assert api.data(register, {"s": session_id}, viewer) == {"registerForSession": True}
    before = registered()
    _, outsider = sign_up(api)
    assert api.code(register, {"s": session_id}, outsider) == 4030202
    assert registered() == before  # the outsider moved nothing


def test_loading_the_demo_again_reuses_it_and_prints_its_logins(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    from gql_server import cli

    api.run(lambda pool: load_demo(pool, Passwords(Settings(**FAST_HASHING)), viewers=3))
    before = api.run(lambda pool: pool.fetchval("SELECT count(*) FROM events"))
    capsys.readouterr()
    api.run(lambda pool: cli._demo(pool, only_if_empty=False))  # gql-server demo, again
    api.run(lambda pool: cli._demo(pool, only_if_empty=True))  # serve --demo, again
    assert api.run(lambda pool: pool.fetchval("SELECT count(*) FROM events")) == before
    printed = capsys.readouterr().err
    assert printed.count("The demo event is loaded already") == 2
    assert printed.count("host@demo.example") == 2 and DEMO_PASSWORD in printed


def test_the_demo_lives_around_the_moment_it_is_loaded(api: Api) -> None:
    """Issue 29: sessions that ended (recordings watched since), live ones, upcoming ones;
    slots that do not overlap and fit their videos; everything received when it would
    have happened, never in the future and never all at the moment of loading."""
    now = datetime.now(UTC)
    api.run(lambda pool: load_demo(pool, Passwords(Settings(**FAST_HASHING)), viewers=40))
    rows = api.run(lambda pool: pool.fetch(
        "SELECT id, title, start_time, end_time, video_duration, format, stream_provider"
        " FROM sessions ORDER BY start_time, id"))  # fmt: skip
    loaded = datetime.now(UTC)
    for row in rows:  # every video fits its slot
        length = (row["end_time"] - row["start_time"]).total_seconds()
        assert row["video_duration"] is None or row["video_duration"] <= length, row["title"]
    tracks: dict[str, list[Any]] = {}
    for row in rows:
        if "(all day)" not in row["title"]:
            tracks.setdefault("breakout" if row["title"].startswith("Breakout") else "main",
                              []).append(row)  # fmt: skip
    for track in tracks.values():  # one session at a time on each track
        assert all(a["end_time"] <= b["start_time"] for a, b in itertools.pairwise(track))
    ended = [r for r in rows if r["end_time"] <= now]
    live = [r for r in rows if r["start_time"] <= now < r["end_time"]]
    upcoming = [r for r in rows if r["start_time"] > loaded]
    assert len(ended) >= 10 and len(upcoming) >= 5
    assert any(analytics_available(r["format"], r["stream_provider"]) for r in live)
    assert min(r["start_time"] for r in rows) < now - timedelta(days=1)  # days of history

    segments = api.run(lambda pool: pool.fetch(
        "SELECT w.mode, w.received_at, s.start_time, s.end_time FROM watch_segments w"
        " JOIN sessions s ON s.id = w.session_id"))  # fmt: skip
    assert {s["mode"] for s in segments} == {"LIVE", "RECORDING"}
    for segment in segments:
        assert segment["received_at"] <= loaded
        assert segment["received_at"] >= segment["start_time"]
        if segment["mode"] == "RECORDING":  # recordings exist once a session ended
            assert segment["received_at"] >= segment["end_time"]
    # Watching the recordings spread over the days since, not the moment of loading.
    slots = api.run(lambda pool: pool.fetchval(
        "SELECT count(DISTINCT slot) FROM watch_slots WHERE mode = 'RECORDING'"))  # fmt: skip
    assert slots >= 10
    idle = api.run(lambda pool: pool.fetchval(
        "SELECT count(*) FROM session_joins j JOIN sessions s ON s.id = j.session_id"
        " WHERE s.start_time > $1", loaded))  # fmt: skip
    assert idle == 0  # nobody joined what has not begun
    assert api.run(find_rollup_mismatches) == []


def test_the_demo_audience_keeps_watching_what_is_live(api: Api) -> None:
    api.run(lambda pool: load_demo(pool, Passwords(Settings(**FAST_HASHING)), viewers=20))
    live_seconds = (
        "SELECT coalesce(sum(st.live_seconds), 0) FROM session_stats st"
        " JOIN sessions s ON s.id = st.session_id WHERE s.start_time <= now()"
        " AND now() < s.end_time"
    )
    before = api.run(lambda pool: pool.fetchval(live_seconds))

    async def one_heartbeat(pool: Pool) -> int:
        return await DemoAudience(pool).run_once()

    assert api.run(one_heartbeat) > 0
    assert api.run(lambda pool: pool.fetchval(live_seconds)) > before
    assert api.run(find_rollup_mismatches) == []  # through the same counters as the API
