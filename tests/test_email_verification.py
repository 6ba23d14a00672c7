"""Attendee lists count an address only once its owner proved it (issue 28 #9).

The attack: an ATTENDEES_ONLY event lists alice@...; whoever signs up first with
that address used to enter the event and move its numbers. Now signUp mails a
link (over SMTP, to tests/mail_sink.py here) and the address counts once the
link is opened (verifyEmail).
"""

import asyncio
import io
import re
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import httpx2
import pytest
from conftest import Api, app_settings, served
from helpers import RECORD, create_session, login, make_world, sign_up, verify_email
from mail_sink import MailSink, link_of, shared_sink
from starlette.testclient import TestClient

from gql_server.app import create_app
from gql_server.db import Pool
from gql_server.mail import ConsoleMailer, Mail
from gql_server.services import accounts
from gql_server.settings import Settings

SIGN_UP = """mutation($e: String!) {
  signUp(email: $e, password: "password-123", name: "Squatter") { id email emailVerified } }"""
ADD = """mutation($e: ID!, $m: [String!]!) {
  addEventAttendees(eventId: $e, emails: $m) { added } }"""
SET = (
    """mutation($e: ID!) { setEventAttendance(eventId: $e, attendance: ATTENDEES_ONLY) { id } }"""
)
REGISTER = "mutation($s: ID!) { registerForSession(sessionId: $s) }"
JOIN = "mutation($s: ID!) { joinSession(sessionId: $s) }"
WATCH = "query($s: ID!) { watchSession(sessionId: $s) { id registered } }"
REQUEST = "mutation { requestEmailVerification }"
VERIFY = "mutation($t: String!) { verifyEmail(token: $t) { email emailVerified } }"
STATS = """query($e: ID!) { event(id: $e) { sessions { nodes {
  registeredUserCount attendeeCount liveViews watchTime { live } } } } }"""
_addresses = iter(range(1, 1_000_000))


def fresh_address() -> str:
    return f"listed{next(_addresses)}-{id(object())}@example.com"


def segment(session: str) -> dict[str, Any]:
    return {"sessionId": session, "mode": "LIVE", "startSecond": 0, "endSecond": 60}


def table(api: Api, sql: str, *args: Any) -> Any:
    async def read(pool: Pool) -> Any:
        return await pool.fetchval(sql, *args)

    return api.run(read)


def settle_mail(api: Api) -> None:
    """Wait for the messages the app is sending in the background."""

    async def settle(pool: Pool) -> None:
        await api.client.app.state.mail.close()  # type: ignore[attr-defined]

    api.run(settle)


def listed_event(api: Api, email: str) -> tuple[Any, str]:
    """An ATTENDEES_ONLY event listing `email`, with one session."""
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    api.data(SET, {"e": world.event_id}, world.event_admin_token)
    api.data(ADD, {"e": world.event_id, "m": [email]}, world.event_admin_token)
    return world, session


def test_a_squatter_on_a_listed_address_moves_nothing_until_the_owner_proves_it(
    api: Api,
) -> None:
    email = fresh_address()
    world, session = listed_event(api, email)
    before = api.data(STATS, {"e": world.event_id}, world.super_token)
    # Whoever signs up first with the listed address gets an account, unverified...
    made = api.data(SIGN_UP, {"e": email})["signUp"]
    assert made["emailVerified"] is False
    squatter = login(api, email)
    assert api.data("{ me { emailVerified } }", token=squatter)["me"]["emailVerified"] is False
    # ...and is refused everywhere the list is checked, told what would change it.
    checks: list[tuple[str, dict[str, Any]]] = [
        (REGISTER, {"s": session}), (JOIN, {"s": session}), (WATCH, {"s": session}),
        (RECORD, {"s": [segment(session)]}),
    ]  # fmt: skip
    for query, variables in checks:
        error = api.error(query, variables, squatter)
        assert error["extensions"] == {"code": 4030202, "status": 403}, query
        assert "counts once verified: requestEmailVerification" in error["message"]
    assert api.data(STATS, {"e": world.event_id}, world.super_token) == before
    assert table(api, "SELECT count(*) FROM watch_segments") == 0
    # The link went to the address, not to whoever typed it: only its owner can open it.
    (message,) = shared_sink().sink.wait_for(email)
    base, token = link_of(message)
    assert base == "http://testserver"  # GQL_SERVER_PUBLIC_URL, never a request's Host
    assert message["Subject"] == "Confirm your email address"
    assert "Squatter" in message.get_content()  # the account it would confirm
    assert table(api, "SELECT count(*) FROM email_verifications WHERE token_hash = $1",
                 token.encode()) == 0  # fmt: skip  # kept as a hash only
    # The owner opens it: the address is proved, and the account counts.
    verified = api.data(VERIFY, {"t": token})["verifyEmail"]
    assert verified == {"email": email, "emailVerified": True}
    assert api.data(REGISTER, {"s": session}, squatter) == {"registerForSession": True}
    assert api.data(RECORD, {"s": [segment(session)]}, squatter)["recordWatch"]["accepted"] == 1


def test_a_verified_account_off_the_list_is_told_nothing_about_verification(api: Api) -> None:
    world, session = listed_event(api, fresh_address())
    error = api.error(REGISTER, {"s": session}, world.attendee_token)  # verified, not listed
    assert error == error | {"message": "Not on this event's attendee list"}
    # An unverified outsider gets the hint whether or not the list names them: the
    # answer says nothing about the list.
    _, outsider = sign_up(api)
    hinted = api.error(REGISTER, {"s": session}, outsider)
    assert "verified" in hinted["message"]


def test_a_link_works_once_for_a_day_and_a_made_up_one_never(api: Api) -> None:
    email = fresh_address()
    api.data(SIGN_UP, {"e": email})
    _, token = link_of(shared_sink().sink.wait_for(email)[0])
    for bad in ("x" * 43, "", "y" * 5000, token + "x"):
        error = api.error(VERIFY, {"t": bad})
        assert error["extensions"] == {"code": 4000101, "status": 400}
        assert "unknown, used or expired" in error["message"]
    assert api.data(VERIFY, {"t": token})["verifyEmail"]["emailVerified"] is True
    assert api.code(VERIFY, {"t": token}) == 4000101  # used
    # A link past its day verifies nothing (and is gone).
    other = fresh_address()
    api.data(SIGN_UP, {"e": other})
    _, late = link_of(shared_sink().sink.wait_for(other)[0])
    table(api, "UPDATE email_verifications SET expires_at = now() - interval '1 s'")
    assert api.code(VERIFY, {"t": late}) == 4000101
    assert table(api, "SELECT email_verified_at FROM users WHERE email = $1", other) is None
    assert table(api, "SELECT count(*) FROM email_verifications") == 0


def test_request_email_verification_one_a_minute_and_false_once_verified(api: Api) -> None:
    email = fresh_address()
    api.data(SIGN_UP, {"e": email})
    token = login(api, email)
    shared_sink().sink.wait_for(email)  # signUp's link
    # Within a minute of signUp's link: 429 with Retry-After, nothing sent.
    response = api.post(REQUEST, token=token)
    assert response.status_code == 429 and 1 <= int(response.headers["retry-after"]) <= 60
    assert response.json()["errors"][0]["extensions"] == {"code": 429, "status": 429}
    assert len(shared_sink().sink.to(email)) == 1
    # A minute later: sent before the answer (no waiting), and either link works.
    table(api, "UPDATE users SET verification_sent_at = now() - interval '61 s'")
    assert api.data(REQUEST, token=token) == {"requestEmailVerification": True}
    assert len(shared_sink().sink.to(email)) == 2
    assert verify_email(api, email, nth=2)["emailVerified"] is True
    assert api.data(REQUEST, token=token) == {"requestEmailVerification": False}
    assert api.data("{ me { emailVerified } }", token=token)["me"]["emailVerified"] is True
    # Once one link worked, the others are moot (deleted).
    assert table(api, "SELECT count(*) FROM email_verifications") == 0
    assert api.code(REQUEST) == 401


def test_concurrent_requests_send_one_link(api: Api) -> None:
    email = fresh_address()
    api.data(SIGN_UP, {"e": email})
    token = login(api, email)
    shared_sink().sink.wait_for(email)
    table(api, "UPDATE users SET verification_sent_at = NULL")

    async def ask(pool: Pool) -> list[Any]:
        mail = api.client.app.state.mail  # type: ignore[attr-defined]
        actor = await accounts.actor_for_token(pool, token)
        return await asyncio.gather(
            *(accounts.request_email_verification(pool, mail, actor) for _ in range(8)),
            return_exceptions=True,
        )

    answers = api.run(ask)
    assert answers.count(True) == 1, answers
    assert all(getattr(a, "kind", None) is not None for a in answers if a is not True)
    assert len(shared_sink().sink.to(email)) == 2


def test_signing_up_with_a_taken_address_tells_its_owner_without_a_link(api: Api) -> None:
    world = make_world(api)
    owner = api.data("{ me { email } }", token=world.attendee_token)["me"]["email"]
    mailed = len(shared_sink().sink.to(owner))
    first = api.data(SIGN_UP, {"e": owner})["signUp"]
    second = api.data(SIGN_UP, {"e": owner})["signUp"]
    assert set(first) == set(second) == {"id", "email", "emailVerified"}
    assert first["emailVerified"] is False  # the same shape as a new account's answer
    notice = shared_sink().sink.wait_for(owner, mailed + 1)[-1]
    assert notice["Subject"] == "Someone tried to sign up with your address"
    assert "verify-email" not in notice.get_content() and "token" not in notice.get_content()
    # One notice an hour, however many sign-ups: the second sent nothing.
    settle_mail(api)
    assert len(shared_sink().sink.to(owner)) == mailed + 1
    assert login(api, owner)  # the owner's password still works: nothing changed


@pytest.fixture
def down_smtp(database_dsn: str) -> Iterator[Api]:
    """An app whose SMTP server does not answer (a closed port)."""
    from conftest import QueryLog

    from gql_server.web.serving import free_port

    settings = app_settings(database_dsn, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        yield Api(client, QueryLog())


def test_a_mail_server_that_refuses_is_5030101_and_the_next_request_is_not_throttled(
    down_smtp: Api,
) -> None:
    api = down_smtp
    email = fresh_address()
    api.data(SIGN_UP, {"e": email})  # the account is made; its link could not go
    token = login(api, email)
    table(api, "UPDATE users SET verification_sent_at = NULL")
    for _ in range(2):  # a link that was not sent does not count against the minute
        error = api.error(REQUEST, token=token)
        assert error["extensions"] == {"code": 5030101, "status": 503}
        assert error["message"] == "The message could not be sent; try again later"
    # Only signUp's link is kept (its sending failed in the background, and was logged).
    assert table(api, "SELECT count(*) FROM email_verifications") == 1


def test_a_server_without_mail_says_how_an_operator_verifies(database_dsn: str) -> None:
    settings = app_settings(database_dsn, smtp_url=None)
    with TestClient(create_app(settings)) as client:
        from conftest import QueryLog

        api = Api(client, QueryLog())
        email = fresh_address()
        api.data(SIGN_UP, {"e": email})
        token = login(api, email)
        error = api.error(REQUEST, token=token)
        assert error["extensions"] == {"code": 5030101, "status": 503}
        assert "gql-server verify-email" in error["message"]

        async def vouch(pool: Pool) -> Any:
            return await accounts.vouch_for(pool, email=f"  {email.upper()} ")

        assert api.run(vouch)["email_verified"] is True
        assert api.data("{ me { emailVerified } }", token=token)["me"]["emailVerified"] is True
        # Verified: nothing to send, so no error for the missing mail server either.
        assert api.data(REQUEST, token=token) == {"requestEmailVerification": False}


def test_the_demo_prints_its_mail_instead_of_sending_it(database_dsn: str) -> None:
    settings = app_settings(database_dsn, smtp_url=None, mail_to_console=True)
    assert isinstance(Mail.from_settings(settings).mailer, ConsoleMailer)
    printed = io.StringIO()
    with redirect_stdout(printed), TestClient(create_app(settings)) as client:
        email = fresh_address()
        client.post("/graphql", json={"query": SIGN_UP, "variables": {"e": email}})
    text = printed.getvalue()
    assert f"To: {email}" in text and "Subject: Confirm your email address" in text
    assert re.search(r"http://testserver/verify-email#token=[\w-]{43}", text)


def test_smtp_credentials_from_the_url_are_used_and_never_shown() -> None:
    sink = MailSink(auth=True)
    try:
        url = f"smtp://mailer%40example.com:p%40ss:word@127.0.0.1:{sink.port}"
        mail = Mail.from_settings(Settings(smtp_url=url, mail_from="Events <e@example.com>"))
        asyncio.run(mail.send(mail.message("to@example.com", "Hi", "Hello")))
        assert sink.sink.logins == [("mailer@example.com", "p@ss:word")]
        (message,) = sink.sink.to("to@example.com")
        assert message["From"] == "Events <e@example.com>"
        assert "p@ss" not in repr(mail.mailer.server)  # type: ignore[union-attr]
    finally:
        sink.stop()
    refusals = [("http://mail.example.com", "scheme"), ("smtp://", "names no host"),
                ("smtp://u:secret@h:99999", "port"), ("smtp://u:secret@h/x", "only")]  # fmt: skip
    for bad, problem in refusals:
        with pytest.raises(ValueError, match="GQL_SERVER_SMTP_URL") as refused:
            Settings(smtp_url=bad)
        assert problem in str(refused.value) and "secret" not in str(refused.value)


def test_the_verification_page_confirms_with_a_click(database_dsn: str) -> None:
    with served(database_dsn) as base:
        page = httpx2.get(f"{base}/verify-email")
        assert page.status_code == 200 and "verify.js" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        script = httpx2.get(f"{base}/static/verify.js").text
        assert "location.hash" in script and "verifyEmail" in script


def test_erasing_an_account_erases_its_links(api: Api) -> None:
    world = make_world(api)
    user_id, _ = sign_up(api)
    assert table(api, "SELECT count(*) FROM email_verifications WHERE user_id = $1",
                 int(user_id)) == 1  # fmt: skip
    api.data("mutation($u: ID!) { eraseUser(userId: $u) }", {"u": user_id}, world.super_token)
    assert table(api, "SELECT count(*) FROM email_verifications WHERE user_id = $1",
                 int(user_id)) == 0  # fmt: skip
