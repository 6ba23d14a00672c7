"""Event attendance: who may move an event's numbers (OPEN, or ATTENDEES_ONLY with a list)."""

from typing import Any

import pytest
from conftest import Api
from helpers import (
    PASSWORD,
    RECORD,
    World,
    create_event,
    create_session,
    login,
    make_world,
    record,
    sign_up,
    verify_email,
)
from mail_sink import shared_sink

from gql_server.db import Pool

SET = """mutation($e: ID!, $a: EventAttendance!) {
  setEventAttendance(eventId: $e, attendance: $a) { id attendance } }"""
ADD = """mutation($e: ID!, $m: [String!]!) {
  addEventAttendees(eventId: $e, emails: $m) { added alreadyListed } }"""
REMOVE = "mutation($e: ID!, $m: [String!]!) { removeEventAttendees(eventId: $e, emails: $m) }"
LIST = """query($e: ID!, $first: Int, $after: String, $search: String) { event(id: $e) {
  attendance attendees(first: $first, after: $after, search: $search) {
    totalCount pageInfo { hasNextPage endCursor } nodes { email addedAt } } } }"""
COUNTS = """query($e: ID!) { event(id: $e) { sessions { nodes {
  id registeredUserCount attendeeCount liveViews watchTime { live } } } } }"""
REGISTER = "mutation($s: ID!) { registerForSession(sessionId: $s) }"
UNREGISTER = "mutation($s: ID!) { unregisterFromSession(sessionId: $s) }"
JOIN = "mutation($s: ID!) { joinSession(sessionId: $s) }"


def attendees_only(api: Api, world: World) -> None:
    set_to = api.data(SET, {"e": world.event_id, "a": "ATTENDEES_ONLY"}, world.event_admin_token)
    assert set_to["setEventAttendance"]["attendance"] == "ATTENDEES_ONLY"


def email_of(api: Api, token: str) -> str:
    email: str = api.data("{ me { email } }", token=token)["me"]["email"]
    return email


def segment(session: str, mode: str = "LIVE", start: int = 0, end: int = 60) -> dict[str, Any]:
    return {"sessionId": session, "mode": mode, "startSecond": start, "endSecond": end}


def counts(api: Api, world: World) -> dict[str, Any]:
    nodes = api.data(COUNTS, {"e": world.event_id}, world.super_token)["event"]["sessions"]
    return {n["id"]: n for n in nodes["nodes"]}


def raw_segments(api: Api) -> int:
    async def count(pool: Pool) -> int:
        found: int = await pool.fetchval("SELECT count(*) FROM watch_segments")
        return found

    return api.run(count)


def test_an_event_is_open_by_default_and_anyone_signed_in_counts(api: Api) -> None:
    world = make_world(api)
    assert api.data(LIST, {"e": world.event_id}, world.super_token)["event"]["attendance"] == (
        "OPEN"
    )
    session = create_session(api, world.event_admin_token, world.event_id)
    _, outsider = sign_up(api)
    assert api.data(REGISTER, {"s": session}, outsider) == {"registerForSession": True}
    assert record(api, outsider, session, "LIVE", (0, 40)) == 1
    assert counts(api, world)[session]["liveViews"] == 1


def test_attendees_only_refuses_outsiders_with_4030202_and_writes_nothing(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    zoom = create_session(api, world.event_admin_token, world.event_id, streamProvider="ZOOM")
    attendees_only(api, world)
    before = counts(api, world)
    for query in (REGISTER, JOIN):
        error = api.error(query, {"s": session}, world.attendee_token)
        assert error["extensions"] == {"code": 4030202, "status": 403}
    error = api.error(RECORD, {"s": [segment(session)]}, world.attendee_token)
    assert error["extensions"] == {"code": 4030202, "status": 403}
    assert error["message"] == "segments[0]: Not on this event's attendee list"
    # Nothing about another event's session leaks: not its provider, not that it has no video.
    error = api.error(RECORD, {"s": [segment(zoom)]}, world.attendee_token)
    assert error["extensions"]["code"] == 4030202 and "ZOOM" not in error["message"]
    assert counts(api, world) == before
    assert raw_segments(api) == 0
    # An unknown session is still 404800 (existence before attendance).
    assert api.code(REGISTER, {"s": "999999"}, world.attendee_token) == 404800


def test_listed_people_count_whatever_the_case_and_even_before_signing_up(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    attendees_only(api, world)
    listed = email_of(api, world.attendee_token)
    added = api.data(
        ADD, {"e": world.event_id, "m": [f"  {listed.upper()} ", "later@example.com"]},
        world.event_admin_token,
    )  # fmt: skip
    assert added["addEventAttendees"] == {"added": 2, "alreadyListed": 0}
    again = api.data(ADD, {"e": world.event_id, "m": [listed, listed]}, world.event_admin_token)
    assert again["addEventAttendees"] == {"added": 0, "alreadyListed": 1}
    assert api.data(REGISTER, {"s": session}, world.attendee_token)["registerForSession"]
    assert api.data(JOIN, {"s": session}, world.attendee_token)["joinSession"]
    assert record(api, world.attendee_token, session, "LIVE", (0, 40)) == 1
    # Someone listed before they had an account signs up with the address: refused
    # until they open the link mailed to it, then counted.
    mailed = len(shared_sink().sink.to("later@example.com"))
    api.data(
        'mutation { signUp(email: "Later@Example.com", password: "password-123", name: "L")'
        " { id } }"
    )
    later = login(api, "later@example.com", PASSWORD)
    assert api.code(RECORD, {"s": [segment(session)]}, later) == 4030202
    verify_email(api, "later@example.com", nth=mailed + 1)
    assert record(api, later, session, "LIVE", (0, 40)) == 1
    # Both attended: one joined, the other watched live (which is attending).
    assert counts(api, world)[session] | {"id": None} == {
        "id": None, "registeredUserCount": 1, "attendeeCount": 2, "liveViews": 2,
        "watchTime": {"live": 80},
    }  # fmt: skip


def test_taken_off_the_list_means_refused_again_but_unregistering_works(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    attendees_only(api, world)
    listed = email_of(api, world.attendee_token)
    api.data(ADD, {"e": world.event_id, "m": [listed]}, world.event_admin_token)
    api.data(REGISTER, {"s": session}, world.attendee_token)
    removed = api.data(REMOVE, {"e": world.event_id, "m": [listed, "x@example.com"]},
                       world.event_admin_token)  # fmt: skip
    assert removed == {"removeEventAttendees": 1}
    assert api.code(JOIN, {"s": session}, world.attendee_token) == 4030202
    assert api.data(UNREGISTER, {"s": session}, world.attendee_token)["unregisterFromSession"]
    assert counts(api, world)[session]["registeredUserCount"] == 0
    # Back to OPEN: everyone again.
    api.data(SET, {"e": world.event_id, "a": "OPEN"}, world.event_admin_token)
    assert api.data(JOIN, {"s": session}, world.attendee_token)["joinSession"]


def test_only_hosts_manage_the_list_with_the_usual_codes(api: Api) -> None:
    world = make_world(api)
    variables = {"e": world.event_id, "m": ["a@example.com"]}
    for query, extra in ((SET, {"a": "ATTENDEES_ONLY"}), (ADD, {}), (REMOVE, {})):
        assert api.code(query, {**variables, **extra}, world.attendee_token) == 4030201
        assert api.code(query, {**variables, **extra}) == 401
        missing = {**variables, **extra, "e": "999999"}
        assert api.code(query, missing, world.event_admin_token) == 4040200
        for host in (world.super_token, world.organizer_admin_token, world.event_admin_token):
            assert "errors" not in api.gql(query, {**variables, **extra}, host)
    assert api.code(LIST, {"e": world.event_id}, world.attendee_token) == 4030201


@pytest.mark.parametrize(
    ("emails", "words"),
    [
        (["ok@example.com", "not-an-address"], "emails[1] is not a valid email address"),
        (["a" * 251 + "@b.c"], "emails[0] must be at most 254 characters"),
        ([f"p{i}@example.com" for i in range(1001)], "at most 1000 emails per call, got 1001"),
    ],
)
def test_a_bad_address_refuses_the_whole_call(api: Api, emails: list[str], words: str) -> None:
    world = make_world(api)
    error = api.error(ADD, {"e": world.event_id, "m": emails}, world.event_admin_token)
    assert error["extensions"] == {"code": 400, "status": 400}
    assert error["message"] == words
    listed = api.data(LIST, {"e": world.event_id}, world.event_admin_token)["event"]
    assert listed["attendees"]["totalCount"] == 0


def test_the_list_pages_by_email_and_searches(api: Api) -> None:
    world = make_world(api)
    emails = [f"guest{i:02d}@example.com" for i in range(25)] + ["vip@other.example"]
    api.data(ADD, {"e": world.event_id, "m": list(reversed(emails))}, world.event_admin_token)
    seen, after = [], None
    while True:
        variables = {"e": world.event_id, "first": 10, "after": after}
        page = api.data(LIST, variables, world.event_admin_token)["event"]["attendees"]
        assert page["totalCount"] == 26
        seen += [n["email"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(emails)
    found = api.data(LIST, {"e": world.event_id, "search": "OTHER"}, world.event_admin_token)
    assert [n["email"] for n in found["event"]["attendees"]["nodes"]] == ["vip@other.example"]
    # A cursor is bound to its search.
    variables = {"e": world.event_id, "after": after, "search": "guest"}
    assert api.code(LIST, variables, world.event_admin_token) == 400


def test_an_event_can_be_created_attendees_only(api: Api) -> None:
    world = make_world(api)
    made = api.data(
        'mutation($o: ID!) { createEvent(input: {organizerId: $o, name: "Closed",'
        " attendance: ATTENDEES_ONLY}) { id attendance } }",
        {"o": world.organizer_id},
        world.organizer_admin_token,
    )["createEvent"]
    assert made["attendance"] == "ATTENDEES_ONLY"
    session = create_session(api, world.organizer_admin_token, made["id"])
    assert api.code(REGISTER, {"s": session}, world.attendee_token) == 4030202
    other = create_event(api, world.super_token, world.organizer_id, "Open one")
    assert api.data(LIST, {"e": other}, world.super_token)["event"]["attendance"] == "OPEN"


WATCH = """query($s: ID!) { watchSession(sessionId: $s) {
  id title startTime duration analyticsAvailable registered joined } }"""


def test_watch_session_shows_an_attendee_their_session_with_the_same_rules(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id, title="Keynote")
    seen = api.data(WATCH, {"s": session}, world.attendee_token)["watchSession"]
    assert seen == {"id": session, "title": "Keynote", "startTime": "2026-12-01T09:00:00+00:00",
                    "duration": 600, "analyticsAvailable": True, "registered": False,
                    "joined": False}  # fmt: skip
    api.data(REGISTER, {"s": session}, world.attendee_token)
    api.data(JOIN, {"s": session}, world.attendee_token)
    seen = api.data(WATCH, {"s": session}, world.attendee_token)["watchSession"]
    assert seen["registered"] is True and seen["joined"] is True
    assert api.code(WATCH, {"s": session}) == 401
    assert api.code(WATCH, {"s": "999999"}, world.attendee_token) == 404800
    attendees_only(api, world)
    assert api.code(WATCH, {"s": session}, world.attendee_token) == 4030202
