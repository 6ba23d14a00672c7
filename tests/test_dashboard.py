"""The host dashboard: served pages, the API it relies on, and the page in a real browser.

The browser test drives Debian's chromium with playwright-core (tests/browser,
pinned in its package-lock.json; npm installs it on first use). Without a
chromium it is skipped with the reason in the summary, so the README's test
line works on any machine; .ci/run installs chromium and sets
GQL_REQUIRE_BROWSER=1, which turns a missing browser into a failure. Its
screenshot is saved to artifacts/dashboard.png.
"""

import asyncio
import itertools
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import FAST_HASHING, Api, served
from helpers import create_event, create_organizer, create_session, grant, make_world, sign_up
from mail_sink import link_of, shared_sink

from gql_server.auth import Passwords
from gql_server.db import create_pool
from gql_server.demo import DEMO_PASSWORD, load_demo
from gql_server.settings import Settings

ROOT = Path(__file__).parent.parent
BROWSER = Path(__file__).parent / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HOSTED = "{ hostedEvents { name } }"


def test_the_dashboard_and_its_assets_are_served(api: Api) -> None:
    for path in ("/", "/dashboard"):
        page = api.client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/static/dashboard.js">' in page.text
    script = api.client.get("/static/dashboard.js")
    assert script.status_code == 200 and "graphql-transport-ws" in script.text
    assert api.client.get("/static/vendor/uplot-1.6.32/uPlot.esm.js").status_code == 200
    assert api.client.get("/static/nope.js").status_code == 404


def test_hosted_events_follow_the_role_rules(api: Api) -> None:
    world = make_world(api)
    other_organizer = create_organizer(api, world.super_token, "Other")
    create_event(api, world.super_token, other_organizer, "Elsewhere")

    def names(token: str) -> list[str]:
        return [e["name"] for e in api.data(HOSTED, token=token)["hostedEvents"]]

    assert names(world.super_token) == ["Elsewhere", "Event"]  # newest first
    assert names(world.organizer_admin_token) == ["Event"]
    assert names(world.event_admin_token) == ["Event"]
    assert names(world.attendee_token) == []
    assert api.code(HOSTED) == 401
    assert api.code("{ hostedEvents(first: 0) { id } }", token=world.super_token) == 400
    _, newcomer = sign_up(api)
    assert names(newcomer) == []


def test_one_session_of_an_event(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id, title="One")
    other_event = create_event(api, world.super_token, world.organizer_id, "Other")
    elsewhere = create_session(api, world.super_token, other_event, title="Elsewhere")
    query = "query($e: ID!, $s: ID!) { event(id: $e) { session(id: $s) { title liveViews } } }"
    got = api.data(query, {"e": world.event_id, "s": session}, world.event_admin_token)
    assert got["event"]["session"] == {"title": "One", "liveViews": 0}
    for missing in (elsewhere, "999999", "not-an-id"):
        got = api.data(query, {"e": world.event_id, "s": missing}, world.event_admin_token)
        assert got["event"]["session"] is None
    other_host_id, other_host = sign_up(api)
    grant(api, world.super_token, other_host_id, "EVENT_ADMIN", eventId=other_event)
    got = api.data(query, {"e": other_event, "s": elsewhere}, other_host)
    assert got["event"]["session"] == {"title": "Elsewhere", "liveViews": 0}
    assert api.code(query, {"e": world.event_id, "s": session}, other_host) == 4030201


def _browser_available() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node and npm are needed"
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


ROW_QUERY = """
query($e: ID!) { event(id: $e) { sessions(first: 20) { nodes {
  title format streamProvider startTime endTime duration liveViews recordingViews
  registeredUserCount attendeeCount
  watchTime { live recording } avgAttendedDuration avgRecordingDuration noShowCount
  liveEngagement } } } }
"""


TOTALS_QUERY = """query($e: ID!) { event(id: $e) { analytics {
  sessions uniqueViewers liveViews recordingViews watchTime { live recording } } } }"""


def _a_live_session(http: httpx2.Client, host: dict[str, str], event_id: int) -> tuple[str, str]:
    """A session on now, watched by one viewer; returns it and a second viewer's token."""
    now = datetime.now(UTC)
    new_session = (
        "mutation($e: ID!, $i: CreateSessionInput!)"
        " { createSession(eventId: $e, input: $i) { id } }"
    )
    spec = {
        "title": "Live now",
        "format": "MAIN_STAGE",
        "streamProvider": "YOUTUBE",
        "startTime": (now - timedelta(minutes=10)).isoformat(),
        "endTime": (now + timedelta(minutes=50)).isoformat(),
        "videoDuration": 3600,
    }
    body = {"query": new_session, "variables": {"e": event_id, "i": spec}}
    session_id: str = http.post("/graphql", json=body, headers=host).json()["data"][
        "createSession"
    ]["id"]
    tokens = []
    emails = [f"{name}-live@demo.example" for name in ("first", "second")]
    # The demo event is attendees only: the host lists them first.
    add = "mutation($e: ID!, $m: [String!]!) { addEventAttendees(eventId: $e, emails: $m) { added } }"  # noqa: E501
    http.post("/graphql", json={"query": add, "variables": {"e": event_id, "m": emails}},
              headers=host)  # fmt: skip
    sink = shared_sink().sink
    for email in emails:
        # Listed addresses count once their owners open the link mailed at sign-up.
        mailed = len(sink.to(email))
        sign_up = 'mutation($e: String!) { signUp(email: $e, password: "pass-word-1", name: "V") { id } }'  # noqa: E501
        http.post("/graphql", json={"query": sign_up, "variables": {"e": email}})
        _, link_token = link_of(sink.wait_for(email, mailed + 1)[-1])
        verify = "mutation($t: String!) { verifyEmail(token: $t) { emailVerified } }"
        verified = http.post("/graphql", json={"query": verify, "variables": {"t": link_token}})
        assert verified.json()["data"]["verifyEmail"]["emailVerified"] is True
        login = 'mutation($e: String!) { login(email: $e, password: "pass-word-1") { token } }'
        answer = http.post("/graphql", json={"query": login, "variables": {"e": email}}).json()
        tokens.append(answer["data"]["login"]["token"])
    record = (
        "mutation($s: ID!) { recordWatch(segments: [{sessionId: $s, mode: LIVE,"
        " startSecond: 0, endSecond: 40}]) { accepted } }"
    )
    auth = {"Authorization": f"Bearer {tokens[0]}"}
    http.post("/graphql", json={"query": record, "variables": {"s": session_id}}, headers=auth)
    return session_id, tokens[1]


def _shown(value: Any) -> str:
    return "—" if value is None else str(value)


def _duration(value: float | None) -> str:
    """As the dashboard shows durations: "45 s", "12 min 05 s", "1 h 05 min"."""
    if value is None:
        return "—"
    total = int(value + 0.5)  # JavaScript's Math.round (halves up)
    hours, minutes, seconds = total // 3600, total % 3600 // 60, total % 60
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def test_durations_read_as_hosts_expect() -> None:
    assert [_duration(v) for v in (None, 0, 45, 59.5, 60, 725, 3600, 3900, 86399)] == [
        "—", "0 s", "45 s", "1 min 00 s", "1 min 00 s", "12 min 05 s", "1 h 00 min",
        "1 h 05 min", "23 h 59 min",
    ]  # fmt: skip


def require_browser() -> None:
    missing = _browser_available()
    if missing:
        if os.environ.get("GQL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test must run here: {missing}")
        pytest.skip(f"browser test not run: {missing}")


def install_browser_packages() -> None:
    """npm ci (pinned by package-lock.json) unless every package is there already."""
    wanted = json.loads((BROWSER / "package.json").read_text())["dependencies"]
    if not all((BROWSER / "node_modules" / name).exists() for name in wanted):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER, check=True,
                       capture_output=True)  # fmt: skip


def test_graphiql_works_offline_under_its_content_security_policy(database_dsn: str) -> None:
    require_browser()
    install_browser_packages()
    with served(database_dsn) as url:
        result = subprocess.run(
            ["node", "graphiql.mjs", url], cwd=BROWSER, capture_output=True, text=True,
            timeout=180, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # Nothing but the server was asked for anything: GraphiQL works offline.
    assert seen["problems"] == [] and seen["outside"] == []
    assert len(seen["assets"]) == 7  # React, GraphiQL, the explorer, their styles
    assert "script-src 'self' 'sha256-" in seen["csp"] and "unpkg" not in seen["csp"]
    assert '"__typename": "Query"' in seen["result"]


FORMATS = {"MAIN_STAGE": "Main stage", "BREAKOUT_SESSION": "Breakout session",
           "MEET_UP": "Meet-up", "WORKSHOP": "Workshop", "EXPO": "Expo", "BREAK": "Break",
           "OTHER": "Other"}  # fmt: skip
PROVIDERS = {"YOUTUBE": "YouTube", "VIMEO": "Vimeo", "VOXEET": "Voxeet (Dolby.io)",
             "TOKBOX": "TokBox (Vonage)", "DIRECT_UPLOAD": "Direct upload", "ZOOM": "Zoom",
             "FACEBOOK": "Facebook Live", "WISTIA": "Wistia", None: "No stream"}  # fmt: skip
KIND = {(f, p): f"{fl} · {pl}" for f, fl in FORMATS.items() for p, pl in PROVIDERS.items()}


def test_the_dashboard_in_chromium(database_dsn: str) -> None:
    require_browser()
    install_browser_packages()

    async def demo() -> int:
        pool = await create_pool(database_dsn, min_size=1, max_size=2)
        try:
            made = await load_demo(pool, Passwords(Settings(**FAST_HASHING)), viewers=60)
            return made.event_id
        finally:
            await pool.close()

    event_id = asyncio.run(demo())
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    screenshot = artifacts / "dashboard.png"
    with served(database_dsn) as url, httpx2.Client(base_url=url) as http:
        login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
        variables = {"e": "host@demo.example", "p": DEMO_PASSWORD}
        answer = http.post("/graphql", json={"query": login, "variables": variables}).json()
        headers = {"Authorization": f"Bearer {answer['data']['login']['token']}"}
        live_id, viewer_token = _a_live_session(http, headers, event_id)
        body = {"query": ROW_QUERY, "variables": {"e": event_id}}
        expected = http.post("/graphql", json=body, headers=headers).json()
        totals_query = {"query": TOTALS_QUERY, "variables": {"e": event_id}}
        http_totals = http.post("/graphql", json=totals_query, headers=headers).json()["data"][
            "event"
        ]["analytics"]
        result = subprocess.run(
            ["node", "dashboard.mjs", url, str(screenshot)],
            cwd=BROWSER,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env={
                **os.environ,
                "VIEWER_TOKEN": viewer_token,
                "LIVE_SESSION_ID": live_id,
                "TZ": "UTC",
            },
        )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["problems"] == []
    assert seen["who"] == "Signed in as Harry Host"
    assert seen["signInHidden"] is True

    nodes = expected["data"]["event"]["sessions"]["nodes"]
    assert len(seen["rows"]) == len(nodes) == 20
    for row, node in zip(seen["rows"], nodes, strict=True):
        # A session on now is marked LIVE below its title ("Live now", and the
        # demo's sessions that are on while the test runs).
        start, end = (datetime.fromisoformat(node[k]) for k in ("startTime", "endTime"))
        on = start <= datetime.now(UTC) < end
        assert row["title"] == node["title"]
        assert ("live" in row) == on and row.get("live", "LIVE") == "LIVE"
        assert row["kind"] == KIND[node["format"], node["streamProvider"]], row["kind"]
        assert row["liveViews"] == _shown(node["liveViews"])
        assert row["recordingViews"] == _shown(node["recordingViews"])
        assert row["registeredUserCount"] == str(node["registeredUserCount"])
        assert row["attendeeCount"] == str(node["attendeeCount"])
        assert row["duration"] == _duration(node["duration"])
        assert row["avgAttendedDuration"] == _duration(node["avgAttendedDuration"])
        assert row["noShowCount"] == str(node["noShowCount"])
        # The rest of a session's numbers are in its detail (the table fits 1366 px).
        assert {"watchTimeLive", "avgRecordingDuration", "recordingEngagement"}.isdisjoint(row)
        if node["liveEngagement"] is None:
            assert row["liveEngagement"] == "—"
        else:
            assert (
                abs(float(row["liveEngagement"].removesuffix(" %")) - node["liveEngagement"])
                <= 0.05
            )

    totals = http_totals
    assert seen["totals"] == {
        "sessions": str(totals["sessions"]), "uniqueViewers": str(totals["uniqueViewers"]),
        "liveViews": str(totals["liveViews"]), "recordingViews": str(totals["recordingViews"]),
        "liveWatchTime": _duration(totals["watchTime"]["live"]),
        "recordingWatchTime": _duration(totals["watchTime"]["recording"]),
    }  # fmt: skip
    labels = seen["barLabels"]
    assert len(labels) == sum(1 for n in nodes if n["liveViews"] is not None)
    for above, below in itertools.pairwise(labels):  # one row each: none overlaps the next
        assert above["bottom"] <= below["top"], (above, below)
    assert seen["timeZone"] == "UTC"  # the browser's (the test runs chromium in UTC)
    assert seen["sidewaysTable"] == 0 and seen["detail"]["sideways"] == 0  # at 1366 px
    assert seen["sideways1920"] == 0
    assert seen["titleLines"] <= 2
    assert seen["detail"]["hash"].startswith("#session=")
    assert -1 <= seen["detail"]["top"] < 900  # the detail opened where the eye is
    assert seen["detail"]["kind"].startswith("Main stage · YouTube · ")
    assert "Recording engagement" in seen["detail"]["facts"]
    assert seen["afterBack"] == ""  # the back button closed it
    dash = "\N{EN DASH}"
    assert re.fullmatch(rf"1{dash}\d+ of \d+ (people|person)", seen["viewerCount"])
    if "viewerNext" in seen:
        assert seen["viewerNext"].startswith(f"21{dash}")
    assert seen["viewerSearched"]["names"]
    assert all(n.startswith("Viewer 1") for n in seen["viewerSearched"]["names"])
    assert seen["rowBefore"] == "1" and seen["rowAfter"] == "2"  # the row moved with it
    assert int(seen["cardAfter"]) == int(seen["cardBefore"]) + 1  # and the headline card
    assert " days in UTC; busiest: " in seen["timelineNote"]
    assert " hours in Asia/Kolkata; busiest: " in seen["timelineHours"]
    assert seen["viewerRows"] and all(r["plays"].isdigit() for r in seen["viewerRows"])
    assert seen["attendee"]["name"] == seen["viewerRows"][0]["name"]
    assert seen["attendee"]["summary"].startswith("Active from ")
    assert all(i.startswith("Live ") for i in seen["attendee"]["intervals"])
    assert seen["detail"]["title"] == "Opening keynote"
    assert seen["detail"]["concurrency"].startswith("Peak: ")
    assert (
        "at once" in seen["detail"]["concurrency"]
        and "busiest minute" in seen["detail"]["concurrency"]
    )
    assert "live viewers" in seen["detail"]["retention"]
    assert seen["searched"] == ["Opening keynote", "Closing keynote"]
    views = [int(v) if v != "—" else -1 for v in seen["byLiveViews"]]
    assert views == sorted(views, reverse=True)
    assert seen["liveBefore"].startswith("1 live view,")  # singular
    assert seen["recorded"] == 1
    assert seen["liveAfter"].startswith("2 live views") and "live now" in seen["liveAfter"]
    assert "host 10.0.0.1 is a private address" in seen["webhookRefused"]
    assert seen["webhookSecret"].startswith("whsec_")
    assert seen["webhookRow"]["url"] == "https://93.184.216.34/hooks"
    assert seen["webhookRow"]["eventTypes"] == "session.ended, session.updated, event.report"
    assert seen["reportMessage"] == "An event report is on its way to 1 endpoint(s)."
    assert seen["deliveriesTitle"].startswith("Deliveries to https://93.184.216.34/hooks (1,")
    assert seen["delivery"]["eventType"] == "event.report"
    assert seen["delivery"]["status"] == "PENDING"
    assert seen["expired"] == "Your sign-in has expired or is not valid. Please sign in again."
    assert seen["notHost"] == "You do not host any event yet."
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")
