"""Creating and changing sessions, and the event.sessions connection."""

import base64
import json
from typing import Any

import pytest
from conftest import Api
from helpers import (
    CREATE_SESSION,
    World,
    create_session,
    record,
    session_input,
    sign_up,
)

from gql_server.values.cursors import _search_digest

PAGE = """
query($e: ID!, $first: Int, $after: String, $search: String, $order: SessionOrder) {
  event(id: $e) {
    sessions(first: $first, after: $after, search: $search, orderBy: $order) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes { id title startTime liveViews }
      edges { cursor node { id } }
    }
  }
}
"""


def page(api: Api, world: World, **args: Any) -> dict[str, Any]:
    result = api.data(PAGE, {"e": world.event_id, **args}, world.super_token)
    connection: dict[str, Any] = result["event"]["sessions"]
    return connection


def all_pages(api: Api, world: World, first: int, **args: Any) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        got = page(api, world, first=first, after=after, **args)
        assert [e["node"]["id"] for e in got["edges"]] == [n["id"] for n in got["nodes"]]
        ids += [n["id"] for n in got["nodes"]]
        if not got["pageInfo"]["hasNextPage"]:
            return ids
        after = got["pageInfo"]["endCursor"]
        assert after == got["edges"][-1]["cursor"]


def test_create_session_returns_what_was_given(api: Api, world: World) -> None:
    data = api.data(
        "mutation($e: ID!, $i: CreateSessionInput!) { createSession(eventId: $e, input: $i) {"
        " id sessionId title startTime endTime format streamProvider duration } }",
        {
            "e": world.event_id,
            "i": session_input(
                title="  Keynote  ", startTime="2026-12-01T10:00:00+01:00", videoDuration=1800
            ),
        },
        world.event_admin_token,
    )["createSession"]
    assert data["id"] == data["sessionId"]
    assert data["title"] == "Keynote"
    assert data["startTime"] == "2026-12-01T09:00:00+00:00"  # normalized to UTC
    assert (data["format"], data["streamProvider"], data["duration"]) == (
        "MAIN_STAGE",
        "YOUTUBE",
        1800,
    )


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"endTime": "2026-12-01T09:00:00+00:00"}, "endTime must be after startTime"),
        ({"endTime": "2026-12-01T08:00:00+00:00"}, "endTime must be after startTime"),
        ({"format": "WORKSHOP"}, "streamProvider must be null for format WORKSHOP"),
        ({"format": "MEET_UP", "streamProvider": "ZOOM"}, "streamProvider must be null"),
        ({"videoDuration": 0}, "videoDuration must be a positive"),
        ({"videoDuration": -5}, "videoDuration must be a positive"),
        ({"title": "   "}, "title must not be empty"),
    ],
)
def test_invalid_sessions_are_refused_with_400_and_not_written(
    api: Api, world: World, fields: dict[str, Any], words: str
) -> None:
    error = api.error(
        CREATE_SESSION, {"e": world.event_id, "i": session_input(**fields)}, world.super_token
    )
    assert error["extensions"] == {"code": 400, "status": 400}
    assert words in error["message"]
    assert page(api, world)["totalCount"] == 0


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T09:00:00",
        "yesterday",
        "2026-13-01T00:00:00Z",
        # Off the calendar once in UTC (were 500s), and before the epoch.
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:00:00-02:00",
        "1969-12-31T23:59:59+00:00",
    ],
)
def test_date_times_without_offset_or_invalid_are_400(api: Api, world: World, value: str) -> None:
    error = api.error(
        CREATE_SESSION,
        {"e": world.event_id, "i": session_input(startTime=value)},
        world.super_token,
    )
    assert error["extensions"] == {"code": 400, "status": 400}
    # As a literal in the document too.
    literal = api.error(
        f'mutation {{ createSession(eventId: "{world.event_id}", input: {{title: "t",'
        f' startTime: "{value}", endTime: "2026-12-01T10:00:00+00:00", format: OTHER}})'
        " { id } }",
        token=world.super_token,
    )
    assert literal["extensions"]["code"] == 400
    assert page(api, world)["totalCount"] == 0


def test_times_outside_the_range_are_400_in_updates_and_cursors(api: Api, world: World) -> None:
    session = make_sessions(api, world, 1)[0]
    for value in ("0001-01-01T00:30:00+01:00", "9999-12-31T23:00:00-02:00"):
        error = api.error(UPDATE, {"s": session, "i": {"endTime": value}}, world.super_token)
        assert error["extensions"] == {"code": 400, "status": 400}
        assert "outside 1970-01-01 .. 9999-12-31 (UTC)" in error["message"]
        # A forged cursor holding such a time.
        payload = {"o": "START_TIME_ASC", "s": _search_digest(None), "k": [value, 1]}
        forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
        variables = {"e": world.event_id, "after": forged, "order": "START_TIME_ASC"}
        assert api.error(PAGE, variables, world.super_token)["extensions"]["code"] == 400
    # The largest time there is comes back with its offset.
    last = "9999-12-31T23:59:59+00:00"
    updated = api.data(UPDATE, {"s": session, "i": {"endTime": last}}, world.super_token)
    assert updated["updateSession"]["endTime"] == last


UPDATE = """
mutation($s: ID!, $i: UpdateSessionInput!) {
  updateSession(sessionId: $s, input: $i) { title format streamProvider duration endTime }
}
"""


def test_update_changes_only_the_given_fields_and_null_clears(api: Api, world: World) -> None:
    session = create_session(api, world.event_admin_token, world.event_id, title="Old")
    got = api.data(UPDATE, {"s": session, "i": {"title": "New"}}, world.event_admin_token)
    assert got["updateSession"] == {
        "title": "New",
        "format": "MAIN_STAGE",
        "streamProvider": "YOUTUBE",
        "duration": 600,
        "endTime": "2026-12-01T10:00:00+00:00",
    }
    cleared = api.data(
        UPDATE, {"s": session, "i": {"streamProvider": None}}, world.event_admin_token
    )["updateSession"]
    assert cleared["streamProvider"] is None and cleared["duration"] is None  # no video now
    # Now it may become a workshop (no provider).
    workshop = api.data(UPDATE, {"s": session, "i": {"format": "WORKSHOP"}}, world.super_token)
    assert workshop["updateSession"]["format"] == "WORKSHOP"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"title": None}, "title cannot be null"),
        ({"startTime": None}, "startTime cannot be null"),
        ({"format": None}, "format cannot be null"),
        ({"format": "WORKSHOP"}, "streamProvider must be null for format WORKSHOP"),
        ({"endTime": "2026-12-01T08:00:00+00:00"}, "endTime must be after startTime"),
        ({"videoDuration": 0}, "videoDuration must be a positive"),
    ],
)
def test_invalid_updates_are_400_and_change_nothing(
    api: Api, world: World, change: dict[str, Any], words: str
) -> None:
    session = create_session(api, world.event_admin_token, world.event_id, title="Same")
    error = api.error(UPDATE, {"s": session, "i": change}, world.event_admin_token)
    assert error["extensions"]["code"] == 400
    assert words in error["message"]
    assert page(api, world)["nodes"][0]["title"] == "Same"


def test_update_of_an_unknown_session_is_404800_before_the_host_check(
    api: Api, world: World
) -> None:
    for unknown in ("77777", "nope"):
        error = api.error(UPDATE, {"s": unknown, "i": {"title": "x"}}, world.attendee_token)
        assert error["extensions"] == {"code": 404800, "status": 404}
    session = create_session(api, world.event_admin_token, world.event_id)
    error = api.error(UPDATE, {"s": session, "i": {"title": "x"}}, world.attendee_token)
    assert error["extensions"] == {"code": 4030201, "status": 403}


def make_sessions(api: Api, world: World, count: int) -> list[str]:
    """Sessions with deliberately tied start times and titles."""
    ids = []
    for i in range(count):
        ids.append(
            create_session(
                api,
                world.event_admin_token,
                world.event_id,
                title=["beta", "Alpha", "gamma", "alpha"][i % 4] + f" {i // 4}",
                startTime=f"2026-12-01T{9 + i % 3:02d}:00:00+00:00",
                endTime="2026-12-01T23:00:00+00:00",
            )
        )
    return ids


@pytest.mark.parametrize("first", [1, 3, 7, 100])
@pytest.mark.parametrize("order", ["START_TIME_ASC", "START_TIME_DESC", "TITLE_ASC"])
def test_paging_visits_every_session_once_in_order(
    api: Api, world: World, first: int, order: str
) -> None:
    ids = make_sessions(api, world, 13)
    starts = {i: 9 + n % 3 for n, i in enumerate(ids)}
    titles = {
        i: ["beta", "Alpha", "gamma", "alpha"][n % 4] + f" {n // 4}" for n, i in enumerate(ids)
    }
    want = {
        "START_TIME_ASC": sorted(ids, key=lambda i: (starts[i], int(i))),
        "START_TIME_DESC": sorted(ids, key=lambda i: (starts[i], int(i)), reverse=True),
        "TITLE_ASC": sorted(ids, key=lambda i: (titles[i].lower(), int(i))),
    }[order]
    assert all_pages(api, world, first, order=order) == want


def test_live_views_order_puts_sessions_without_analytics_last(api: Api, world: World) -> None:
    token = world.event_admin_token
    zoom = create_session(api, token, world.event_id, streamProvider="ZOOM")
    popular = create_session(api, token, world.event_id)
    quiet = create_session(api, token, world.event_id)
    workshop = create_session(api, token, world.event_id, format="WORKSHOP", streamProvider=None)
    unwatched = create_session(api, token, world.event_id)
    for _ in range(2):
        viewer = sign_up(api)[1]
        record(api, viewer, popular, "LIVE", (0, 40))
    record(api, world.attendee_token, quiet, "LIVE", (0, 40))
    ids = all_pages(api, world, 2, order="LIVE_VIEWS_DESC")
    assert ids == [popular, quiet, unwatched, zoom, workshop]


def test_search_matches_title_parts_case_insensitively_and_literally(
    api: Api, world: World
) -> None:
    make_sessions(api, world, 8)
    special = create_session(api, world.event_admin_token, world.event_id, title="100%_done")
    got = page(api, world, search="ALPHA")
    assert got["totalCount"] == 4
    assert sorted(n["title"] for n in got["nodes"]) == ["Alpha 0", "Alpha 1", "alpha 0", "alpha 1"]
    assert [n["id"] for n in page(api, world, search="%_")["nodes"]] == [special]
    assert page(api, world, search="zzz")["totalCount"] == 0
    paged = all_pages(api, world, 1, search="alpha", order="TITLE_ASC")
    assert len(paged) == 4


@pytest.mark.parametrize("first", [0, -1, 1001])
def test_first_outside_1_to_1000_is_400(api: Api, world: World, first: int) -> None:
    error = api.error(PAGE, {"e": world.event_id, "first": first}, world.super_token)
    assert error["extensions"] == {"code": 400, "status": 400}
    assert "first" in error["message"]


def test_cursors_are_bound_to_their_order_and_search(api: Api, world: World) -> None:
    make_sessions(api, world, 5)
    cursor = page(api, world, first=2, order="TITLE_ASC")["pageInfo"]["endCursor"]
    for args in (
        {"order": "START_TIME_ASC"},
        {"order": "TITLE_ASC", "search": "alpha"},
        {"after": "not-a-cursor"},
        {"after": "eyJvIjoiVElUTEVfQVNDIn0"},  # valid base64 JSON, wrong shape
        {"after": ""},
    ):
        variables = {"e": world.event_id, "after": cursor, **args}
        error = api.error(PAGE, variables, world.super_token)
        assert error["extensions"] == {"code": 400, "status": 400}, args
    # With the same order and search it works.
    assert page(api, world, first=2, order="TITLE_ASC", after=cursor)["nodes"]


def test_an_empty_event_has_an_empty_connection(api: Api, world: World) -> None:
    got = page(api, world)
    assert got == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "nodes": [],
        "edges": [],
    }


def test_cursors_are_the_bytes_they_always_were() -> None:
    # encode_cursor writes with orjson where that gives json.dumps' bytes
    # (printable ASCII keys, times, ints): cursors clients hold stay valid
    # and equal. Keys over the whole of Unicode, DEL and control characters.
    import random
    from datetime import UTC, datetime, timedelta

    from gql_server.values.cursors import decode_cursor, encode_cursor

    def as_before(order: str, search: str | None, key: tuple[Any, int]) -> str:
        first = key[0].isoformat() if isinstance(key[0], datetime) else key[0]
        payload = {"o": order, "s": _search_digest(search), "k": [first, key[1]]}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    rng = random.Random(4)
    alphabets = [(32, 126), (0, 127), (0, 0x10FFFF)]
    for _ in range(3000):
        low, high = rng.choice(alphabets)
        text = "".join(chr(rng.randint(low, high)) for _ in range(rng.randint(0, 10)))
        text = text.encode("utf-8", "replace").decode("utf-8", "replace")  # no surrogates
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randint(0, 10**14))
        row_id = rng.randint(1, 2**31)
        search = rng.choice([None, "", text])
        views = rng.randint(-(2**31), 2**31 - 1)
        keys = [("TITLE_ASC", (text, row_id)), ("START_TIME_ASC", (when, row_id)),
                ("LIVE_VIEWS_DESC", (views, row_id))]  # fmt: skip
        for order, key in keys:
            cursor = encode_cursor(order, search, key)
            assert cursor == as_before(order, search, key), (order, key)
            assert decode_cursor(cursor, order, search) == key


def test_sums_past_32_bits_have_a_long_twin_and_a_documented_error(api: Api) -> None:
    # Seconds watched add up: 100,000 viewers of six hours pass 2^31 - 1. GraphQL's
    # Int answered null with a 500 (the dashboard lost its totals); now the Int
    # field is an error with code 4220100 and its Long twin gives the number.
    from helpers import make_world, record

    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    record(api, world.attendee_token, session, "LIVE", (0, 40))

    async def inflate(pool: Any) -> None:
        await pool.execute(
            "UPDATE session_stats SET live_seconds = 3000000000, recording_seconds = 5"
            " WHERE session_id = $1", int(session),
        )  # fmt: skip

    api.run(inflate)
    longs = "watchTime { liveSeconds recordingSeconds totalSeconds }"
    query = f"""query($e: ID!) {{ event(id: $e) {{ analytics {{ {longs} }}
      sessions {{ nodes {{ {longs} }} }} }} }}"""
    data = api.data(query, {"e": world.event_id}, world.event_admin_token)
    want = {"liveSeconds": 3_000_000_000, "recordingSeconds": 5, "totalSeconds": 3_000_000_005}
    assert data["event"]["analytics"]["watchTime"] == want
    assert data["event"]["sessions"]["nodes"] == [{"watchTime": want}]
    ints = "query($e: ID!) { event(id: $e) { analytics { watchTime { live } } } }"
    [error] = api.gql(ints, {"e": world.event_id}, world.event_admin_token)["errors"]
    assert error["extensions"] == {"code": 4220100, "status": 422}
    assert error["path"] == ["event", "analytics", "watchTime", "live"]
