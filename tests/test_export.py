"""GET /events/{id}/sessions.csv: the overview as a file, same rules and codes as the API."""

import csv
import io
import json
from typing import Any

import pytest
from conftest import Api
from helpers import create_session, make_world, record, sign_up
from test_metrics import setup

from gql_server.web import export


def download(api: Api, event_id: str, token: str | None) -> tuple[int, str, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = api.client.get(f"/events/{event_id}/sessions.csv", headers=headers)
    return response.status_code, response.content.decode("utf-8"), dict(response.headers)


def test_the_overview_as_csv(api: Api) -> None:
    world, ids = setup(api)
    status, body, headers = download(api, world.event_id, world.event_admin_token)
    assert status == 200
    assert headers["content-type"] == "text/csv; charset=utf-8"
    assert headers["content-disposition"] == (
        f'attachment; filename="event-{world.event_id}-sessions.csv"'
    )
    assert body.startswith('\ufeff"Session ID","Name","Date",')
    rows = list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))
    assert [r["Name"] for r in rows] == ["S20", "SU", "SZ"]
    s20, su, sz = rows
    assert s20 == {
        "Session ID": ids["S20"], "Name": "S20", "Date": "2026-12-01T09:00:00+00:00",
        "Length (s)": "20", "Format": "MAIN_STAGE", "Stream Provider": "YOUTUBE",
        "Registered": "2", "Attended": "3",  # Ann and Dee joined, Bob watched live
        "Live Views": "1",
        "Live Avg Watch Time (s)": "19.5",  # (20 + 19) / 2
        "Live Engagement (%)": "97.5", "Recording Views": "0",
        "Recording Avg Watch Time (s)": str((5 + 15 + 3) / 3),
        "Recording Engagement (%)": str(115 / 3),
        "Live Watch Time (s)": "39", "Recording Watch Time (s)": "23",
        "No-shows": "1",  # Cid registered, never joined nor watched
    }  # fmt: skip
    assert su["Length (s)"] == "" and su["Live Engagement (%)"] == ""  # unknown duration
    assert su["Live Views"] == "2" and su["Live Avg Watch Time (s)"] == "65.0"
    # Zoom: no analytics, so empty cells (null), not zeros; counts are still there.
    assert sz["Live Views"] == "" and sz["Recording Watch Time (s)"] == ""
    assert sz["Registered"] == "1" and sz["Attended"] == "1"
    query = "query($e: ID!) { event(id: $e) { sessions { nodes { title noShowCount } } } }"
    nodes = api.data(query, {"e": world.event_id}, world.event_admin_token)["event"]["sessions"]
    assert {r["Name"]: int(r["No-shows"]) for r in rows} == {
        n["title"]: n["noShowCount"] for n in nodes["nodes"]
    }


def test_quoting_unicode_and_formulas(api: Api) -> None:
    world = make_world(api)
    titles = ['Keynote, "the future"\nof events', "Ünïcode — 東京 🎤", "=HYPERLINK(1)", "-1+1",
              ";=1+1"]  # fmt: skip
    for title in titles:
        create_session(api, world.event_admin_token, world.event_id, title=title)
    _, body, _ = download(api, world.event_id, world.super_token)
    names = [r["Name"] for r in csv.DictReader(io.StringIO(body.removeprefix("\ufeff")))]
    assert names == [titles[0], titles[1], "'=HYPERLINK(1)", "'-1+1", ";=1+1"]
    # Every text cell is quoted: split on ";", `;=1+1` would be a formula cell.
    assert '",";=1+1","' in body


def test_pages_are_streamed_in_order(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "MAX_PAGE_SIZE", 2)
    world = make_world(api)
    for i in range(5):
        session = create_session(api, world.event_admin_token, world.event_id, title=f"T{i}",
                                 startTime=f"2026-12-01T0{i}:00:00+00:00",
                                 endTime=f"2026-12-01T0{i}:30:00+00:00")  # fmt: skip
        record(api, world.attendee_token, session, "LIVE", (0, 10 * (i + 1)))
    _, body, _ = download(api, world.event_id, world.event_admin_token)
    rows = list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))
    assert [(r["Name"], r["Live Watch Time (s)"]) for r in rows] == [
        (f"T{i}", str(10 * (i + 1))) for i in range(5)
    ]


def test_same_rules_and_codes_as_the_api(api: Api) -> None:
    world = make_world(api)
    cases = [
        (world.event_id, None, 401, 401),
        (world.event_id, "not-a-token", 401, 401),
        (world.event_id, world.attendee_token, 403, 4030201),
        ("999999", world.event_admin_token, 404, 4040200),
        ("not-an-id", world.event_admin_token, 404, 4040200),
    ]
    for event_id, token, status, code in cases:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = api.client.get(f"/events/{event_id}/sessions.csv", headers=headers)
        assert response.status_code == status, (event_id, token)
        assert response.json()["errors"][0]["extensions"] == {"code": code, "status": status}
    status, _, _ = download(api, world.event_id, world.organizer_admin_token)
    assert status == 200


def viewer_export(api: Api, event_id: str, token: str | None, fmt: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return api.client.get(f"/events/{event_id}/viewers.{fmt}", headers=headers)


def test_one_row_per_session_and_person_as_csv_and_ndjson(api: Api) -> None:
    world = make_world(api)
    host = world.event_admin_token
    s60 = create_session(api, host, world.event_id, title="=Sixty", videoDuration=60)
    zoom = create_session(api, host, world.event_id, title="Zoom", streamProvider="ZOOM")
    _, ann = sign_up(api, "Ann")
    _, bob = sign_up(api, "-Bob")
    record(api, ann, s60, "LIVE", (0, 45))
    record(api, ann, s60, "RECORDING", (0, 10))
    api.data("mutation($s: ID!) { registerForSession(sessionId: $s) }", {"s": s60}, bob)
    api.data("mutation($s: ID!) { joinSession(sessionId: $s) }", {"s": zoom}, ann)

    response = viewer_export(api, world.event_id, host, "ndjson")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in response.text.splitlines()]
    by = {(r["sessionTitle"], r["name"]): r for r in rows}
    assert len(rows) == 3
    ann60 = by[("=Sixty", "Ann")]
    assert {k: ann60[k] for k in ("sessionId", "registered", "joined", "liveWatchedSeconds",
            "recordingWatchedSeconds", "liveView", "recordingView", "liveEngagement",
            "recordingEngagement")} == {
        # Watching live is attending: `joined` says so even without a joinSession.
        "sessionId": s60, "registered": False, "joined": True, "liveWatchedSeconds": 45,
        "recordingWatchedSeconds": 10, "liveView": True, "recordingView": False,
        "liveEngagement": 75.0, "recordingEngagement": 100 * 10 / 60,
    }  # fmt: skip
    assert ann60["firstWatchedAt"] <= ann60["lastWatchedAt"]
    bob60 = by[("=Sixty", "-Bob")]
    assert bob60["registered"] is True and bob60["liveWatchedSeconds"] == 0
    assert bob60["firstWatchedAt"] is None and bob60["liveView"] is False
    ann_zoom = by[("Zoom", "Ann")]  # no analytics: nulls, not zeros
    assert ann_zoom["joined"] is True and ann_zoom["liveWatchedSeconds"] is None

    response = viewer_export(api, world.event_id, host, "csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    body = response.content.decode("utf-8")
    assert body.startswith('\ufeff"sessionId","sessionTitle","userId","email","name",')
    table = list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))
    assert len(table) == 3
    assert {r["sessionTitle"] for r in table} == {"'=Sixty", "Zoom"}  # formula-safe
    assert {r["name"] for r in table} >= {"'-Bob", "Ann"}
    csv_ann = next(r for r in table if r["name"] == "Ann" and r["sessionTitle"] == "'=Sixty")
    assert (csv_ann["liveView"], csv_ann["liveWatchedSeconds"]) == ("true", "45")
    zoom_row = next(r for r in table if r["sessionTitle"] == "Zoom")
    assert zoom_row["liveWatchedSeconds"] == "" and zoom_row["joined"] == "true"


def test_the_viewer_export_has_the_same_rules_and_codes(api: Api) -> None:
    world = make_world(api)
    for fmt in ("csv", "ndjson"):
        assert viewer_export(api, world.event_id, None, fmt).status_code == 401
        refused = viewer_export(api, world.event_id, world.attendee_token, fmt)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"]["code"] == 4030201
        missing = viewer_export(api, "999999", world.super_token, fmt)
        assert missing.json()["errors"][0]["extensions"]["code"] == 4040200
        assert viewer_export(api, world.event_id, world.super_token, fmt).status_code == 200
    assert viewer_export(api, world.event_id, world.super_token, "xlsx").status_code == 404


def test_the_viewer_export_streams_in_chunks(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from gql_server.repo import exports as repo

    monkeypatch.setattr(repo, "PREFETCH", 2)
    chunks: list[int] = []
    rows_of = repo.viewer_rows

    async def counted(*args: Any, **kwargs: Any) -> Any:
        async for chunk in rows_of(*args, **kwargs):
            chunks.append(len(chunk))
            yield chunk

    monkeypatch.setattr(repo, "viewer_rows", counted)
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    for _ in range(5):
        api.data("mutation($s: ID!) { registerForSession(sessionId: $s) }", {"s": session},
                 sign_up(api)[1])  # fmt: skip
    rows = viewer_export(api, world.event_id, world.super_token, "ndjson").text.splitlines()
    ids = [json.loads(r)["userId"] for r in rows]
    assert len(ids) == 5 and ids == sorted(ids, key=int)
    assert chunks == [2, 2, 1]  # read through the cursor, never the whole event at once


def test_a_stalled_download_holds_no_connection_and_is_dropped(
    api: Api, database_dsn: str
) -> None:
    # Clients reading 1 byte/s used to keep a pooled connection and a
    # repeatable-read transaction each ("idle in transaction") until they left:
    # 12 of them took every connection. Over a real server: the export is read
    # from the database before its first byte is sent, at most export_per_token
    # (here 1) run at once for a token (429 with Retry-After beyond), and a
    # client that takes nothing for export_stall_seconds is dropped.
    import socket
    import time
    from urllib.parse import urlsplit

    import httpx2
    from conftest import served

    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)

    async def crowd(pool: Any) -> None:  # far more than the sockets' buffers hold
        await pool.execute(
            "INSERT INTO users (email, name, password_hash) SELECT 'crowd' || g ||"
            " '@example.com', 'Crowd ' || g, 'x' FROM generate_series(1, 30000) g"
        )
        await pool.execute(
            "INSERT INTO session_registrations (event_id, session_id, user_id)"
            " SELECT $1, $2, id FROM users WHERE email LIKE 'crowd%'",
            int(world.event_id), int(session),
        )  # fmt: skip

    async def idle_in_transaction(pool: Any) -> int:
        n: int = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE state = 'idle in transaction' AND datname = current_database()"
        )
        return n

    api.run(crowd)
    path = f"/events/{world.event_id}/viewers.csv"
    request = (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer"
               f" {world.event_admin_token}\r\n\r\n").encode()  # fmt: skip
    with served(database_dsn, export_stall_seconds=6, export_per_token=1) as url:
        address = urlsplit(url)
        stalled = []
        for _ in range(1):
            # A small receive window (set before connecting), so the server's
            # writes wait for this client as soon as its own buffer is full.
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.settimeout(30)
            client.connect((address.hostname, address.port))
            client.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                head += client.recv(1)
            assert head.startswith(b"HTTP/1.1 200")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            stalled.append((client, length))
        # It is stalled: no transaction is held, and everyone else is served.
        assert api.run(idle_in_transaction) == 0
        with httpx2.Client(base_url=url, timeout=30) as http:
            assert http.get("/healthz").status_code == 200
            auth = {"Authorization": f"Bearer {world.event_admin_token}"}
            third = http.get(path, headers=auth)
            assert third.status_code == 429 and third.headers["retry-after"] == "10"
            assert third.json()["errors"][0]["extensions"] == {"code": 429, "status": 429}
            # Past the stall bound it is dropped and gives its slot back.
            deadline = time.monotonic() + 30
            while (again := http.get(path, headers=auth)).status_code == 429:
                assert time.monotonic() < deadline, "the stalled downloads were not dropped"
                time.sleep(0.2)
            for client, length in stalled:
                received = 0
                while chunk := client.recv(1 << 16):
                    received += len(chunk)
                assert received < length  # the connection closed before the end
                client.close()
            assert again.status_code == 200 and again.content.count(b"\r\n") == 30001
