"""The player tracker (static/tracker.js) with a real media element in Chromium.

Every check compares the API's numbers with what the page itself read from
media.played (whole seconds: a second counts once all of it was played,
worked out here independently of the tracker).
"""

import json
import math
import os
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from conftest import Api, served
from helpers import create_session, login, make_world
from test_dashboard import BROWSER, install_browser_packages, require_browser

ASGIApp = Any


def whole_seconds(ranges: list[list[float]]) -> int:
    """Distinct whole seconds inside the played ranges (1e-6 of float slack)."""
    seconds: set[int] = set()
    for start, end in ranges:
        seconds.update(range(math.ceil(start - 1e-6), math.floor(end + 1e-6)))
    return len(seconds)


def total(ranges: list[list[int]]) -> int:
    return sum(end - start for start, end in ranges)


class Gate:
    """A fault switch in front of the app, driven over HTTP by the browser script:
    POST /__test/gate/close makes every recordWatch answer 503 until /open."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.closed = False
        self.refused = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/__test/gate"):
            if path.endswith("/close"):
                self.closed = True
            elif path.endswith("/open"):
                self.closed = False
            await self.answer(send, 200, {"refused": self.refused})
            return
        if scope["type"] != "http" or not self.closed or path != "/graphql":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if b"recordWatch" in body:
            self.refused += 1
            error = {"message": "unavailable", "extensions": {"code": 503, "status": 503}}
            await self.answer(send, 503, {"errors": [error]})
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def answer(send: Any, status: int, payload: Any) -> None:
        body = orjson.dumps(payload)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def test_the_tracker_reports_exactly_what_the_media_element_played(
    api: Api, database_dsn: str
) -> None:
    require_browser()
    install_browser_packages()
    world = make_world(api)
    host, viewer = world.event_admin_token, world.attendee_token
    spare = login(api, api.data("{ me { email } }", token=viewer)["me"]["email"])  # signs out
    past = {"startTime": "2026-11-01T09:00:00+00:00", "endTime": "2026-11-01T10:00:00+00:00"}
    now = datetime.now(UTC)
    live_times = {"startTime": (now - timedelta(seconds=120)).isoformat(),
                  "endTime": (now + timedelta(hours=1)).isoformat()}  # fmt: skip
    ids = {
        "event": world.event_id,
        "clip40": create_session(api, host, world.event_id, videoDuration=40, **past),
        "clip20": create_session(api, host, world.event_id, videoDuration=20, **past),
        "tail": create_session(api, host, world.event_id, videoDuration=600, **past),
        "outage": create_session(api, host, world.event_id, videoDuration=600, **past),
        "live": create_session(api, host, world.event_id, title="Live clip",
                               videoDuration=3600, **live_times),
    }  # fmt: skip
    gates: list[Gate] = []

    def gate(app: ASGIApp) -> Gate:
        gates.append(Gate(app))
        return gates[-1]

    with served(database_dsn, wrap=gate) as url:
        result = subprocess.run(
            ["node", "tracker.mjs", url], cwd=BROWSER, capture_output=True, text=True,
            timeout=300, check=False,
            env={**os.environ, "SESSIONS": json.dumps(ids), "VIEWER": viewer, "HOST": host,
                 "SPARE": spare},
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["signedOut"] == {"stored": None, "player": True, "status": 401}
    assert seen["problems"] == []

    # 40 s clip at 4x, paused, rewatched, skipped ahead: 29 s is not a view, 30 s is.
    assert seen["mode40"] == "RECORDING"
    assert whole_seconds(seen["at29"]["played"]) == 29
    assert seen["at29"]["api"]["recordingWatchedSeconds"] == 29
    assert seen["at29"]["api"]["recordingView"] is False
    assert whole_seconds(seen["at30"]["played"]) == 30
    assert seen["at30"]["api"]["recordingWatchedSeconds"] == 30
    assert seen["at30"]["api"]["recordingView"] is True
    assert seen["at30"]["api"]["liveWatchedSeconds"] == 0

    # 20 s clip: a view only when every second was played.
    assert (
        seen["short"]["api"]["recordingWatchedSeconds"]
        == 19
        == (whole_seconds(seen["short"]["played"]))
    )
    assert seen["short"]["api"]["recordingView"] is False
    assert seen["whole"]["api"]["recordingWatchedSeconds"] == 20
    assert seen["whole"]["api"]["recordingView"] is True

    # Leaving the page: what the periodic flush had not sent arrives anyway.
    tail = seen["tail"]
    assert total(tail["before"]["acknowledged"]) < total(tail["before"]["watched"])
    assert tail["api"]["recordingWatchedSeconds"] == whole_seconds(tail["played"]) > 0

    # A 503 spell: retried with backoff, nothing lost, nothing counted twice.
    outage = seen["outage"]
    assert outage["during"]["acknowledged"] == [] and outage["during"]["watched"]
    assert outage["refused"]["refused"] >= 2  # the first try and at least one retry
    assert outage["api"]["recordingWatchedSeconds"] == whole_seconds(outage["played"]) > 0
    assert gates[0].refused == outage["refused"]["refused"]

    # Live: positions are seconds since the stream began, by the wall clock.
    assert seen["liveMode"] == "LIVE"
    live = seen["live"]
    [[start, end]] = live["state"]["watched"]
    stream_start = (now - timedelta(seconds=120)).timestamp() * 1000
    assert abs(start - (live["began"] - stream_start) / 1000) <= 2
    assert 2 <= end - start <= math.ceil((live["ended"] - live["began"]) / 1000)
    assert live["api"]["liveWatchedSeconds"] == end - start
    assert live["api"]["recordingWatchedSeconds"] == 0
    # The host's dashboard saw the attendee arrive, through the subscription.
    assert "0 attended" in seen["hostBefore"] and "1 attended" in seen["hostAfter"]


def test_the_youtube_and_vimeo_adapters_report_what_stand_in_players_played() -> None:
    # Stand-ins with the IFrame API's and the Player SDK's methods (the real
    # services cannot be reached here), polled as the adapters poll them.
    require_browser()
    result = subprocess.run(
        ["node", "adapters.mjs"], cwd=BROWSER, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    for player in ("youtube", "vimeo"):
        played = seen[player]["played"]  # 0..~5.2 (paused, 2..5.2 rewatched), 10..~12.8
        expected = sorted(
            {s for a, b in played for s in range(math.ceil(a - 1e-6), math.floor(b + 1e-6))}
        )
        assert seen[player]["reported"] == expected, player
        assert 5 not in expected and 10 in expected  # the seek ahead skipped 5..10
