"""Setting up users, events and sessions through the API, and a reference for the metrics."""

import itertools
from dataclasses import dataclass
from typing import Any

from conftest import FAST_HASHING, Api
from mail_sink import link_of, shared_sink

from gql_server.auth import Passwords
from gql_server.services import accounts
from gql_server.settings import Settings

PASSWORD = "password-123"
_emails = itertools.count(1)

SESSION_FIELDS = """
id sessionId title startTime endTime format streamProvider duration
registeredUserCount attendeeCount analyticsAvailable
liveViews recordingViews avgAttendedDuration watchTime { live recording total }
"""


def login(api: Api, email: str, password: str = PASSWORD) -> str:
    data = api.data(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        {"e": email, "p": password},
    )
    token: str = data["login"]["token"]
    return token


def create_super_admin(api: Api, email: str = "root@example.com") -> str:
    """The one account the API cannot create (gql-server create-user --super-admin)."""

    async def create(pool: Any) -> None:
        passwords = Passwords(Settings(**FAST_HASHING))
        await accounts.create_user(
            pool, passwords, email=email, password=PASSWORD, name="Root", is_super_admin=True
        )

    api.run(create)
    return login(api, email)


def sign_up(api: Api, name: str = "Ann", *, verified: bool = False) -> tuple[str, str]:
    """A new attendee: (user id, token); `verified`: their address proved by the link
    signUp mailed them (tests/mail_sink.py)."""
    email = f"user{next(_emails)}@example.com"
    data = api.data(
        "mutation($e: String!, $n: String!, $p: String!)"
        " { signUp(email: $e, password: $p, name: $n) { id } }",
        {"e": email, "n": name, "p": PASSWORD},
    )
    if verified:
        verify_email(api, email)
    return data["signUp"]["id"], login(api, email)


def verify_email(api: Api, email: str, nth: int = 1) -> dict[str, Any]:
    """Open the `nth` verification link mailed to `email` (waiting for it): the User."""
    _, token = link_of(shared_sink().sink.wait_for(email, nth)[nth - 1])
    data = api.data(
        "mutation($t: String!) { verifyEmail(token: $t) { id email emailVerified } }",
        {"t": token},
    )
    user: dict[str, Any] = data["verifyEmail"]
    return user


def create_organizer(api: Api, token: str, name: str = "Org") -> str:
    data = api.data(
        "mutation($n: String!) { createOrganizer(name: $n) { id } }", {"n": name}, token
    )
    organizer_id: str = data["createOrganizer"]["id"]
    return organizer_id


def create_event(api: Api, token: str, organizer_id: str, name: str = "Event") -> str:
    data = api.data(
        "mutation($o: ID!, $n: String!)"
        " { createEvent(input: {organizerId: $o, name: $n}) { id } }",
        {"o": organizer_id, "n": name},
        token,
    )
    event_id: str = data["createEvent"]["id"]
    return event_id


def session_input(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "Talk",
        "startTime": "2026-12-01T09:00:00+00:00",
        "endTime": "2026-12-01T10:00:00+00:00",
        "format": "MAIN_STAGE",
        "streamProvider": "YOUTUBE",
        "videoDuration": 600,
    }
    base.update(fields)
    return base


CREATE_SESSION = """
mutation($e: ID!, $i: CreateSessionInput!) { createSession(eventId: $e, input: $i) { id } }
"""


def create_session(api: Api, token: str, event_id: str, **fields: Any) -> str:
    data = api.data(CREATE_SESSION, {"e": event_id, "i": session_input(**fields)}, token)
    session_id: str = data["createSession"]["id"]
    return session_id


RECORD = """
mutation($s: [WatchSegmentInput!]!) { recordWatch(segments: $s) { accepted } }
"""


def record(api: Api, token: str, session_id: str, mode: str, *spans: tuple[int, int]) -> int:
    segments = [
        {"sessionId": session_id, "mode": mode, "startSecond": a, "endSecond": b} for a, b in spans
    ]
    accepted: int = api.data(RECORD, {"s": segments}, token)["recordWatch"]["accepted"]
    return accepted


SESSION_QUERY = f"""
query($e: ID!) {{ event(id: $e) {{ sessions(first: 1000) {{ nodes {{ {SESSION_FIELDS} }} }} }} }}
"""


def sessions_by_id(api: Api, token: str, event_id: str) -> dict[str, dict[str, Any]]:
    nodes = api.data(SESSION_QUERY, {"e": event_id}, token)["event"]["sessions"]["nodes"]
    return {node["id"]: node for node in nodes}


@dataclass
class World:
    """A super admin, an organizer with an admin, an event with a host, an attendee."""

    super_token: str
    organizer_id: str
    organizer_admin_token: str
    event_id: str
    event_admin_token: str
    attendee_id: str
    attendee_token: str


def grant(api: Api, token: str, user_id: str, role: str, **target: str) -> None:
    api.data(
        "mutation($i: GrantRoleInput!) { grantRole(input: $i) }",
        {"i": {"userId": user_id, "role": role, **target}},
        token,
    )


def make_world(api: Api) -> World:
    root = create_super_admin(api)
    organizer_id = create_organizer(api, root)
    event_id = create_event(api, root, organizer_id)
    org_admin_id, org_admin_token = sign_up(api, "Olga")
    grant(api, root, org_admin_id, "ORGANIZER_ADMIN", organizerId=organizer_id)
    event_admin_id, event_admin_token = sign_up(api, "Evan")
    grant(api, root, event_admin_id, "EVENT_ADMIN", eventId=event_id)
    attendee_id, attendee_token = sign_up(api, "Ada", verified=True)
    return World(
        super_token=root,
        organizer_id=organizer_id,
        organizer_admin_token=org_admin_token,
        event_id=event_id,
        event_admin_token=event_admin_token,
        attendee_id=attendee_id,
        attendee_token=attendee_token,
    )


# The reference: deliberately naive (sets of seconds), independent of the server.
def watched(spans: list[tuple[int, int]], duration: int | None) -> int:
    end_limit = duration if duration is not None else None
    seconds = {
        second
        for start, end in spans
        for second in range(start, end if end_limit is None else min(end, end_limit))
    }
    return len(seconds)


def expected_metrics(
    watches: dict[tuple[str, str], list[tuple[int, int]]], duration: int | None
) -> dict[str, Any]:
    """Session metrics from {(user, mode): spans}, by analytics-semantics.md."""
    threshold = 30 if duration is None else min(30, duration)
    per = {key: watched(spans, duration) for key, spans in watches.items()}
    live = [w for (_, mode), w in per.items() if mode == "LIVE"]
    recording = [w for (_, mode), w in per.items() if mode == "RECORDING"]
    live_positive = [w for w in live if w > 0]
    return {
        "liveViews": sum(w >= threshold for w in live),
        "recordingViews": sum(w >= threshold for w in recording),
        "avgAttendedDuration": sum(live_positive) / len(live_positive) if live_positive else 0,
        "watchTime": {
            "live": sum(live),
            "recording": sum(recording),
            "total": sum(live) + sum(recording),
        },
    }
