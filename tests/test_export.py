"""GET /events/{id}/sessions.csv: the overview as a file, same rules and codes as the API."""

import csv
import io

import pytest
from conftest import Api
from helpers import create_session, make_world, record
from test_metrics import setup

from gql_server import export


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
        "Registered": "2", "Attended": "2", "Live Views": "1",
        "Live Avg Watch Time (s)": "19.5",  # (20 + 19) / 2
        "Live Engagement (%)": "97.5", "Recording Views": "0",
        "Recording Avg Watch Time (s)": str((5 + 15 + 3) / 3),
        "Recording Engagement (%)": str(115 / 3),
        "Live Watch Time (s)": "39", "Recording Watch Time (s)": "23",
    }  # fmt: skip
    assert su["Length (s)"] == "" and su["Live Engagement (%)"] == ""  # unknown duration
    assert su["Live Views"] == "2" and su["Live Avg Watch Time (s)"] == "65.0"
    # Zoom: no analytics, so empty cells (null), not zeros; counts are still there.
    assert sz["Live Views"] == "" and sz["Recording Watch Time (s)"] == ""
    assert sz["Registered"] == "1" and sz["Attended"] == "1"


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
