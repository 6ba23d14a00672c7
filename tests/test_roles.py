"""Who may do what: every role against every event and every operation of the contract.

Roles: anonymous, attendee, event admin of event A, organizer admin of
organizer X (which owns events A and B), super admin. Event C belongs to
organizer Y. The expected outcome of each cell is written from the contract's
rules, independently of the server's code.
"""

from collections.abc import Callable
from typing import Any

from conftest import Api
from helpers import (
    PASSWORD,
    create_event,
    create_organizer,
    create_session,
    create_super_admin,
    grant,
    login,
    session_input,
    sign_up,
)

ROLES = ["anonymous", "attendee", "event_admin", "organizer_admin", "super_admin"]
EVENTS = ["A", "B", "C"]
OK = "ok"


def host_rule(role: str, event: str) -> int | str:
    """event / createSession / updateSession: 401, else 4030201 unless a host."""
    if role == "anonymous":
        return 401
    hosts = {
        "super_admin": {"A", "B", "C"},
        "organizer_admin": {"A", "B"},
        "event_admin": {"A"},
        "attendee": set(),
    }
    return OK if event in hosts[role] else 4030201


def organizer_rule(role: str, event: str) -> int | str:
    """createEvent / grantRole under the event's organizer: 401, else 403 unless its admin."""
    if role == "anonymous":
        return 401
    if role == "super_admin" or (role == "organizer_admin" and event in {"A", "B"}):
        return OK
    return 403


def super_rule(role: str, event: str) -> int | str:
    if role == "anonymous":
        return 401
    return OK if role == "super_admin" else 403


def attendee_rule(role: str, event: str) -> int | str:
    return 401 if role == "anonymous" else OK


def test_role_matrix(api: Api) -> None:
    root = create_super_admin(api)
    org_x, org_y = create_organizer(api, root, "X"), create_organizer(api, root, "Y")
    events = {
        "A": create_event(api, root, org_x, "A"),
        "B": create_event(api, root, org_x, "B"),
        "C": create_event(api, root, org_y, "C"),
    }
    organizer_of = {"A": org_x, "B": org_x, "C": org_y}
    sessions = {name: create_session(api, root, event) for name, event in events.items()}
    org_admin_id, org_admin = sign_up(api, "Olga")
    grant(api, root, org_admin_id, "ORGANIZER_ADMIN", organizerId=org_x)
    event_admin_id, event_admin = sign_up(api, "Evan")
    grant(api, root, event_admin_id, "EVENT_ADMIN", eventId=events["A"])
    tokens: dict[str, str | None] = {
        "anonymous": None,
        "attendee": sign_up(api, "Ada")[1],
        "event_admin": event_admin,
        "organizer_admin": org_admin,
        "super_admin": root,
    }
    target_id = sign_up(api, "Target")[0]

    operations: dict[str, tuple[Callable[[str], tuple[str, dict[str, Any]]], Any]] = {
        "event": (
            lambda e: ("query($e: ID!) { event(id: $e) { id } }", {"e": events[e]}),
            host_rule,
        ),
        "createSession": (
            lambda e: (
                "mutation($e: ID!, $i: CreateSessionInput!)"
                " { createSession(eventId: $e, input: $i) { id } }",
                {"e": events[e], "i": session_input()},
            ),
            host_rule,
        ),
        "updateSession": (
            lambda e: (
                'mutation($s: ID!) { updateSession(sessionId: $s, input: {title: "T"}) { id } }',
                {"s": sessions[e]},
            ),
            host_rule,
        ),
        "createOrganizer": (
            lambda e: ('mutation { createOrganizer(name: "N") { id } }', {}),
            super_rule,
        ),
        "createEvent": (
            lambda e: (
                'mutation($o: ID!) { createEvent(input: {organizerId: $o, name: "E"}) { id } }',
                {"o": organizer_of[e]},
            ),
            organizer_rule,
        ),
        "grantRole EVENT_ADMIN": (
            lambda e: (
                "mutation($i: GrantRoleInput!) { grantRole(input: $i) }",
                {"i": {"userId": target_id, "role": "EVENT_ADMIN", "eventId": events[e]}},
            ),
            organizer_rule,
        ),
        "grantRole ORGANIZER_ADMIN": (
            lambda e: (
                "mutation($i: GrantRoleInput!) { grantRole(input: $i) }",
                {
                    "i": {
                        "userId": target_id,
                        "role": "ORGANIZER_ADMIN",
                        "organizerId": organizer_of[e],
                    }
                },
            ),
            organizer_rule,
        ),
    }
    for name in ("registerForSession", "unregisterFromSession", "joinSession"):
        operations[name] = (
            lambda e, name=name: (
                f"mutation($s: ID!) {{ {name}(sessionId: $s) }}",
                {"s": sessions[e]},
            ),  # type: ignore[misc]
            attendee_rule,
        )
    operations["recordWatch"] = (
        lambda e: (
            "mutation($s: [WatchSegmentInput!]!) { recordWatch(segments: $s) { accepted } }",
            {"s": [{"sessionId": sessions[e], "mode": "LIVE", "startSecond": 0, "endSecond": 9}]},
        ),
        attendee_rule,
    )

    mismatches = []
    cells = 0
    for op, (build, rule) in operations.items():
        for role in ROLES:
            for event in EVENTS:
                query, variables = build(event)
                body = api.gql(query, variables, tokens[role])
                got = body["errors"][0]["extensions"]["code"] if "errors" in body else OK
                cells += 1
                if got != rule(role, event):
                    mismatches.append((op, role, event, got, rule(role, event)))
    assert mismatches == []
    assert cells == len(operations) * len(ROLES) * len(EVENTS)

    # me: null for anonymous, the user otherwise; logout needs a token.
    assert api.data("{ me { id } }") == {"me": None}
    for role in ROLES[1:]:
        assert api.data("{ me { isSuperAdmin } }", token=tokens[role])["me"] == {
            "isSuperAdmin": role == "super_admin"
        }
    assert api.code("mutation { logout }") == 401


def test_grant_role_errors_follow_the_documented_order(api: Api) -> None:
    root = create_super_admin(api)
    org = create_organizer(api, root)
    event = create_event(api, root, org)
    user_id, user = sign_up(api)
    query = "mutation($i: GrantRoleInput!) { grantRole(input: $i) }"

    def code(token: str, **i: Any) -> int:
        return api.code(query, {"i": i}, token)

    # Missing or contradictory targets: 400.
    assert code(root, userId=user_id, role="ORGANIZER_ADMIN") == 400
    assert code(root, userId=user_id, role="EVENT_ADMIN", organizerId=org) == 400
    # Super admin: unknown user / organizer 404, unknown event 4040200.
    assert code(root, userId="9999", role="ORGANIZER_ADMIN", organizerId=org) == 404
    assert code(root, userId=user_id, role="ORGANIZER_ADMIN", organizerId="9999") == 404
    assert code(root, userId=user_id, role="EVENT_ADMIN", eventId="9999") == 4040200
    assert code(root, userId=user_id, role="EVENT_ADMIN", eventId="junk") == 4040200
    # Anyone else: permission (403) before existence (404) ...
    assert code(user, userId="9999", role="ORGANIZER_ADMIN", organizerId="9999") == 403
    assert code(user, userId="9999", role="ORGANIZER_ADMIN", organizerId=org) == 403
    # ... but an event is checked for existence first.
    assert code(user, userId=user_id, role="EVENT_ADMIN", eventId="9999") == 4040200
    assert code(user, userId=user_id, role="EVENT_ADMIN", eventId=event) == 403
    # Granting twice is fine, and the role works.
    for _ in range(2):
        api.data(query, {"i": {"userId": user_id, "role": "EVENT_ADMIN", "eventId": event}}, root)
    assert api.data("query($e: ID!) { event(id: $e) { id } }", {"e": event}, user)


def test_event_lookup_errors(api: Api) -> None:
    root = create_super_admin(api)
    event = create_event(api, root, create_organizer(api, root))
    query = "query($e: ID!) { event(id: $e) { id name organizer { name } } }"
    for unknown in ("123456", "abc", "", "-3", "1.5", "9" * 40):
        error = api.error(query, {"e": unknown}, root)
        assert error["extensions"] == {"code": 4040200, "status": 404}
        assert error["path"] == ["event"]
    # 401 comes before existence.
    assert api.code(query, {"e": "123456"}) == 401
    assert api.data(query, {"e": event}, root)["event"]["organizer"] == {"name": "Org"}
    assert login(api, "root@example.com", PASSWORD)
