"""Webhooks: endpoints and their roles, the outbox, signatures, retries, order, SSRF."""

import asyncio
import base64
import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from conftest import Api, QueryLog, app_settings
from helpers import SESSION_FIELDS, World, create_session, make_world, record, sign_up
from starlette.testclient import TestClient
from test_cli import Server, environment
from webhook_receiver import Receiver, verify, verify_by_hand

from gql_server.app import create_app
from gql_server.delivery import WebhookWorker
from gql_server.telemetry.metrics import Metrics
from gql_server.values.targets import Resolver, system_resolver

HOOK_SETTINGS: dict[str, Any] = {
    "webhook_allowed_hosts": ["127.0.0.1"],
    "webhook_grace_seconds": 0,
    "webhook_retry_schedule": [0.0, 0.0, 0.0],
    "webhook_timeout": 2.0,
}

CREATE = """
mutation($i: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $i) { secret endpoint { id url eventTypes enabled } }
}"""
DELIVERIES = """
query($e: ID!) { event(id: $e) { webhookEndpoints { id deliveries(first: 10) {
  totalCount nodes { id messageId eventType status attemptCount payload
                     attempts { number statusCode error responseBody } } } } } }"""
RESEND = "mutation($d: ID!) { resendWebhookDelivery(id: $d) { status } }"
REPORT = "mutation($e: ID!) { requestEventReport(eventId: $e) }"


@pytest.fixture
def hook_api(database_dsn: str) -> Iterator[Api]:
    app = create_app(app_settings(database_dsn, **HOOK_SETTINGS))
    with TestClient(app) as client:
        yield Api(client, QueryLog())


@pytest.fixture
def world(hook_api: Api) -> World:
    return make_world(hook_api)


class Driver:
    """The delivery worker, driven one round at a time (no background loop, no sleeping)."""

    def __init__(
        self,
        dsn: str,
        resolver: Resolver | None = None,
        runner: asyncio.Runner | None = None,
        metrics: Metrics | None = None,
        tracer: Any = None,
        **overrides: Any,
    ) -> None:
        settings = app_settings(dsn, **{**HOOK_SETTINGS, **overrides})
        self.owns_runner = runner is None
        self.runner = runner or asyncio.Runner()
        self.worker = WebhookWorker(
            settings, dsn, resolver or system_resolver, metrics=metrics, tracer=tracer
        )
        self.runner.run(self.worker.open())

    def round(self) -> bool:
        return self.runner.run(self.worker.run_once())

    def until_idle(self, rounds: int = 30) -> None:
        for _ in range(rounds):
            if not self.round():
                return
        raise AssertionError("the worker never ran out of messages")

    def close(self) -> None:
        self.runner.run(self.worker.stop())
        if self.owns_runner:
            self.runner.close()


@pytest.fixture
def driver(database_dsn: str) -> Iterator[Driver]:
    d = Driver(database_dsn)
    yield d
    d.close()


def add_endpoint(api: Api, token: str, event_id: str, url: str, *types: str) -> tuple[str, str]:
    data = api.data(
        CREATE,
        {"i": {"eventId": event_id, "url": url, "eventTypes": list(types or ["SESSION_ENDED"])}},
        token,
    )["createWebhookEndpoint"]
    return data["endpoint"]["id"], data["secret"]


def ended_session(api: Api, token: str, event_id: str, **fields: Any) -> str:
    now = datetime.now(UTC)
    times = {
        "startTime": (now - timedelta(hours=2)).isoformat(),
        "endTime": (now - timedelta(hours=1)).isoformat(),
    }
    return create_session(api, token, event_id, **{**times, **fields})


def deliveries(api: Api, token: str, event_id: str) -> list[dict[str, Any]]:
    endpoints = api.data(DELIVERIES, {"e": event_id}, token)["event"]["webhookEndpoints"]
    return [node for e in endpoints for node in e["deliveries"]["nodes"]]


API_SESSION = f"""
query($e: ID!) {{ event(id: $e) {{ sessions {{ nodes {{
  {SESSION_FIELDS} liveEngagement recordingEngagement asOf }} }} }} }}"""


def api_session(api: Api, token: str, event_id: str, session_id: str) -> dict[str, Any]:
    nodes = api.data(API_SESSION, {"e": event_id}, token)["event"]["sessions"]["nodes"]
    found: dict[str, Any] = next(n for n in nodes if n["id"] == session_id)
    return found


# --- endpoints ----------------------------------------------------------------


def test_endpoints_are_managed_by_the_event_hosts(hook_api: Api, world: World) -> None:
    host = world.event_admin_token
    endpoint_id, secret = add_endpoint(
        hook_api, host, world.event_id, "http://127.0.0.1:9/a", "SESSION_ENDED", "EVENT_REPORT"
    )
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    listed = hook_api.data(
        "query($e: ID!) { event(id: $e) { webhookEndpoints { id url eventTypes enabled } } }",
        {"e": world.event_id},
        host,
    )["event"]["webhookEndpoints"]
    assert listed == [
        {"id": endpoint_id, "url": "http://127.0.0.1:9/a",
         "eventTypes": ["SESSION_ENDED", "EVENT_REPORT"], "enabled": True}
    ]  # fmt: skip
    updated = hook_api.data(
        "mutation($w: ID!) { updateWebhookEndpoint(id: $w, input: {enabled: false,"
        ' url: "http://127.0.0.1:9/b"}) { url eventTypes enabled } }',
        {"w": endpoint_id},
        world.organizer_admin_token,
    )["updateWebhookEndpoint"]
    assert updated == {
        "url": "http://127.0.0.1:9/b", "eventTypes": ["SESSION_ENDED", "EVENT_REPORT"],
        "enabled": False,
    }  # fmt: skip
    rotated = hook_api.data(
        "mutation($w: ID!) { rotateWebhookSecret(id: $w) { secret endpoint { id } } }",
        {"w": endpoint_id},
        host,
    )["rotateWebhookSecret"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
    # Not a host: 4030201 for every operation; unknown endpoint 4040300; no token 401.
    stranger = world.attendee_token
    assert hook_api.code(
        CREATE, {"i": {"eventId": world.event_id, "url": "http://127.0.0.1/", "eventTypes":
                       ["SESSION_ENDED"]}}, stranger,
    ) == 4030201  # fmt: skip
    for mutation in (
        "rotateWebhookSecret(id: $w) { secret }",
        "deleteWebhookEndpoint(id: $w)",
        "updateWebhookEndpoint(id: $w, input: {enabled: true}) { id }",
    ):
        query = f"mutation($w: ID!) {{ {mutation} }}"
        assert hook_api.code(query, {"w": endpoint_id}, stranger) == 4030201
        assert hook_api.code(query, {"w": "999999"}, host) == 4040300
        assert hook_api.code(query, {"w": "not-an-id"}, host) == 4040300
        assert hook_api.code(query, {"w": endpoint_id}) == 401
    assert hook_api.code(REPORT, {"e": world.event_id}, stranger) == 4030201
    assert hook_api.code(RESEND, {"d": "1"}, host) == 4040301
    deleted = hook_api.data(
        "mutation($w: ID!) { deleteWebhookEndpoint(id: $w) }", {"w": endpoint_id}, host
    )
    assert deleted == {"deleteWebhookEndpoint": True}
    assert deliveries(hook_api, host, world.event_id) == []
    # An update to nothing: eventTypes must name one.
    other, _ = add_endpoint(hook_api, host, world.event_id, "http://127.0.0.1:9/c")
    error = hook_api.error(
        "mutation($w: ID!) { updateWebhookEndpoint(id: $w, input: {eventTypes: []}) { id } }",
        {"w": other},
        host,
    )
    assert error["extensions"]["code"] == 400 and "eventTypes" in error["message"]


REFUSED = {
    "http://127.0.0.1:8000/hook": "loopback",
    # A name: refused without the address it resolves to or its kind.
    "http://localhost/hook": "resolves to an address that is not public",
    "http://[::1]/hook": "loopback",
    "http://[::ffff:127.0.0.1]/hook": "loopback",
    # Spellings of 127.0.0.1 the resolver reads as names: refused as names are.
    "http://2130706433/hook": "resolves to an address that is not public",
    "http://0x7f.1/hook": "resolves to an address that is not public",
    "http://10.1.2.3/hook": "private",
    "http://192.168.0.10/hook": "private",
    "http://172.16.5.4/hook": "private",
    "http://169.254.169.254/latest/meta-data/": "link-local",
    "http://[fe80::1]/hook": "link-local",
    "http://[fd00:ec2::254]/hook": "private",
    "http://100.64.0.1/hook": "not public",
    "http://0.0.0.0/hook": "unspecified",
    "http://[64:ff9b::a01:203]/hook": "private",  # NAT64 of 10.1.2.3
    "ftp://example.com/hook": "https://",
    "http://user:pw@93.184.216.34/hook": "user name",
    "http://93.184.216.34/hook#x": "fragment",
    "http:///hook": "no host",
}


@pytest.mark.parametrize("url", list(REFUSED))
def test_targets_that_are_not_public_are_refused(api: Api, url: str) -> None:
    world = make_world(api)  # the default settings: no host allowed
    error = api.error(
        CREATE,
        {"i": {"eventId": world.event_id, "url": url, "eventTypes": ["SESSION_ENDED"]}},
        world.event_admin_token,
    )
    assert error["extensions"] == {"code": 400, "status": 400}
    assert REFUSED[url] in error["message"], error["message"]
    if "localhost" in url:  # no DNS oracle: what the server's resolver saw stays unsaid
        assert "127.0.0.1" not in error["message"] and "::1" not in error["message"]
        assert "loopback" not in error["message"]
    endpoints = api.data(
        "query($e: ID!) { event(id: $e) { webhookEndpoints { id } } }",
        {"e": world.event_id},
        world.event_admin_token,
    )
    assert endpoints["event"]["webhookEndpoints"] == []  # nothing written


def test_a_named_host_can_be_allowed(database_dsn: str) -> None:
    app = create_app(app_settings(database_dsn, webhook_allowed_hosts=["localhost"]))
    with TestClient(app) as client:
        api = Api(client, QueryLog())
        world = make_world(api)
        add_endpoint(api, world.event_admin_token, world.event_id, "http://localhost:9/ok")
        error = api.error(  # the address itself is not named
            CREATE,
            {"i": {"eventId": world.event_id, "url": "http://127.0.0.1:9/",
                   "eventTypes": ["SESSION_ENDED"]}},
            world.event_admin_token,
        )  # fmt: skip
        assert "loopback" in error["message"]


# --- delivery -----------------------------------------------------------------


def test_session_ended_is_signed_and_carries_the_api_numbers(
    hook_api: Api, world: World, driver: Driver, receiver: Receiver
) -> None:
    host = world.event_admin_token
    _, secret = add_endpoint(hook_api, host, world.event_id, receiver.url)
    session_id = ended_session(hook_api, host, world.event_id, title="Keynote")
    later = datetime.now(UTC) + timedelta(hours=1)
    create_session(  # not over yet: nothing for it
        hook_api, host, world.event_id, startTime=later.isoformat(),
        endTime=(later + timedelta(hours=1)).isoformat(),
    )  # fmt: skip
    _, token = sign_up(hook_api, "Viewer")
    hook_api.data("mutation($s: ID!) { joinSession(sessionId: $s) }", {"s": session_id}, token)
    record(hook_api, token, session_id, "LIVE", (0, 100), (50, 200))
    record(hook_api, world.attendee_token, session_id, "RECORDING", (0, 20))
    driver.until_idle()
    assert len(receiver.received) == 1
    message = receiver.received[0]
    assert verify_by_hand(secret, message)
    payload = verify(secret, message)  # the reference implementation agrees
    assert message.headers["content-type"] == "application/json"
    assert message.headers["webhook-id"].startswith("msg_")
    assert abs(int(message.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
    assert payload["type"] == "session.ended"
    data = payload["data"]
    expected = api_session(hook_api, host, world.event_id, session_id)
    assert {k: data[k] for k in expected} == expected
    assert data["eventId"] == world.event_id
    assert data["watchTime"] == {"live": 200, "recording": 20, "total": 220}
    assert data["attendeeCount"] == 1 and data["liveViews"] == 1 and data["recordingViews"] == 0
    driver.until_idle()
    assert len(receiver.received) == 1  # sent once
    [delivery] = deliveries(hook_api, host, world.event_id)
    assert delivery["status"] == "DELIVERED" and delivery["attemptCount"] == 1
    assert delivery["messageId"] == message.message_id
    assert json.loads(delivery["payload"]) == payload
    assert delivery["attempts"] == [
        {"number": 1, "statusCode": 200, "error": None, "responseBody": "ok"}
    ]


def test_session_updated_is_sent_when_the_numbers_change_and_only_then(
    hook_api: Api, world: World, driver: Driver, receiver: Receiver
) -> None:
    host = world.event_admin_token
    _, secret = add_endpoint(
        hook_api, host, world.event_id, receiver.url, "SESSION_ENDED", "SESSION_UPDATED"
    )
    session_id = ended_session(hook_api, host, world.event_id, videoDuration=None)
    record(hook_api, world.attendee_token, session_id, "RECORDING", (0, 20))
    driver.until_idle()
    assert [verify(secret, r)["type"] for r in receiver.received] == ["session.ended"]
    # asOf moves, the numbers do not: nothing is sent.
    _, token = sign_up(hook_api, "Undecided")
    for mutation in ("registerForSession", "unregisterFromSession"):
        hook_api.data(f"mutation($s: ID!) {{ {mutation}(sessionId: $s) }}", {"s": session_id},
                      token)  # fmt: skip
    driver.until_idle()
    assert len(receiver.received) == 1
    # Late data changes them.
    record(hook_api, world.attendee_token, session_id, "RECORDING", (10, 40))
    driver.until_idle()
    late = verify(secret, receiver.received[-1])
    assert late["type"] == "session.updated"
    assert late["data"]["watchTime"]["recording"] == 40
    # So does a duration that arrives later (the view threshold becomes min(30, 35)).
    hook_api.data(
        "mutation($s: ID!) { updateSession(sessionId: $s, input: {videoDuration: 35}) { id } }",
        {"s": session_id},
        host,
    )
    driver.until_idle()
    updated = verify(secret, receiver.received[-1])
    assert updated["type"] == "session.updated" and len(receiver.received) == 3
    assert updated["data"]["duration"] == 35
    assert updated["data"] == {
        **{k: updated["data"][k] for k in ("eventId", "avgRecordingDuration")},
        **api_session(hook_api, host, world.event_id, session_id),
    }
    driver.until_idle()
    assert len(receiver.received) == 3


def test_failed_attempts_are_retried_and_deduped_to_exactly_once(
    hook_api: Api, world: World, driver: Driver, receiver: Receiver
) -> None:
    receiver.answer = lambda i, _: (500, {}, b"busy") if i < 3 else (204, {}, b"")
    host = world.event_admin_token
    _, secret = add_endpoint(hook_api, host, world.event_id, receiver.url)
    ended_session(hook_api, host, world.event_id)
    driver.until_idle()
    assert len(receiver.received) == 4
    assert len({r.message_id for r in receiver.received}) == 1  # one message, four attempts
    assert all(verify_by_hand(secret, r) for r in receiver.received)
    assert len(receiver.delivered()) == 1
    [delivery] = deliveries(hook_api, host, world.event_id)
    assert delivery["status"] == "DELIVERED" and delivery["attemptCount"] == 4
    assert [(a["number"], a["statusCode"], a["error"]) for a in delivery["attempts"]] == [
        (1, 500, "HTTP 500"), (2, 500, "HTTP 500"), (3, 500, "HTTP 500"), (4, 204, None)
    ]  # fmt: skip


def test_a_message_fails_after_its_schedule_and_can_be_resent(
    hook_api: Api, world: World, driver: Driver, receiver: Receiver
) -> None:
    receiver.answer = lambda i, _: (503, {}, b"down") if i < 4 else (200, {}, b"ok")
    host = world.event_admin_token
    add_endpoint(hook_api, host, world.event_id, receiver.url)
    ended_session(hook_api, host, world.event_id)
    driver.until_idle()
    [delivery] = deliveries(hook_api, host, world.event_id)
    assert delivery["status"] == "FAILED" and delivery["attemptCount"] == 4  # 1 + 3 retries
    assert hook_api.code(RESEND, {"d": delivery["id"]}, world.attendee_token) == 4030201
    assert hook_api.data(RESEND, {"d": delivery["id"]}, host) == {
        "resendWebhookDelivery": {"status": "PENDING"}
    }
    error = hook_api.error(RESEND, {"d": delivery["id"]}, host)
    assert error["extensions"]["code"] == 400 and "pending" in error["message"]
    driver.until_idle()
    [delivery] = deliveries(hook_api, host, world.event_id)
    assert delivery["status"] == "DELIVERED" and delivery["attemptCount"] == 5
    assert len(receiver.delivered()) == 1


def test_messages_go_in_order_per_endpoint_once_each_across_workers(
    hook_api: Api, world: World, database_dsn: str, receiver: Receiver
) -> None:
    # The first attempt of the first message fails: nothing behind it may overtake it.
    receiver.answer = lambda i, _: (500, {}, b"") if i == 0 else (200, {}, b"ok")
    other = Receiver()
    host = world.event_admin_token
    add_endpoint(hook_api, host, world.event_id, receiver.url, "EVENT_REPORT")
    add_endpoint(hook_api, host, world.event_id, other.url, "EVENT_REPORT")
    for _ in range(5):
        assert hook_api.data(REPORT, {"e": world.event_id}, host) == {"requestEventReport": 2}
        hook_api.run(report_interval_passes)
    first = Driver(database_dsn)
    second = Driver(database_dsn, runner=first.runner)
    try:

        async def both() -> None:  # two workers at once, as two processes would be
            for _ in range(20):
                await asyncio.gather(first.worker.run_once(), second.worker.run_once())

        first.runner.run(both())
    finally:
        second.close()
        first.close()
        other.close()
    for target in (receiver, other):
        ids = [r.message_id for r in target.delivered()]
        assert len(ids) == 5
        timestamps = [r.json()["timestamp"] for r in target.delivered()]
        assert timestamps == sorted(timestamps)  # created in this order, delivered in it
    assert len(other.received) == 5  # never sent twice
    assert len(receiver.received) == 6  # one failure, then each once


async def report_interval_passes(pool: asyncpg.Pool) -> None:
    """As if the reports queued so far had been queued REPORT_INTERVAL ago."""
    await pool.execute(
        "UPDATE webhook_messages SET created_at = created_at - interval '5 minutes'"
    )


def test_an_event_report_may_be_requested_once_per_interval(hook_api: Api, world: World) -> None:
    # Five aliased calls used to queue 100 messages (85 MB of bodies) at once.
    host = world.event_admin_token
    for n in range(3):
        add_endpoint(hook_api, host, world.event_id, f"http://127.0.0.1:9/{n}", "EVENT_REPORT")
    aliased = "mutation($e: ID!) { " + " ".join(
        f"r{i}: requestEventReport(eventId: $e)" for i in range(5)
    ) + " }"  # fmt: skip
    response = hook_api.post(aliased, {"e": world.event_id}, host)
    # The first is queued, the second refused (which ends the serial mutation):
    # a rate limit, so the whole answer is HTTP 429 with Retry-After.
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 300
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": 429, "status": 429}
    assert "the next may be requested from " in error["message"]

    async def queued(pool: asyncpg.Pool) -> int:
        n: int = await pool.fetchval("SELECT count(*) FROM webhook_messages")
        return n

    assert hook_api.run(queued) == 3
    hook_api.run(report_interval_passes)
    assert hook_api.data(REPORT, {"e": world.event_id}, host) == {"requestEventReport": 3}


def test_event_report_carries_every_session(
    hook_api: Api, world: World, driver: Driver, receiver: Receiver
) -> None:
    host = world.event_admin_token
    _, secret = add_endpoint(hook_api, host, world.event_id, receiver.url, "EVENT_REPORT")
    add_endpoint(hook_api, host, world.event_id, receiver.url, "SESSION_ENDED")
    ids = [create_session(hook_api, host, world.event_id, title=f"S{i}") for i in range(3)]
    assert hook_api.data(REPORT, {"e": world.event_id}, host) == {"requestEventReport": 1}
    driver.until_idle()
    reports = [r for r in receiver.received if r.json()["type"] == "event.report"]
    assert len(reports) == 1
    data = verify(secret, reports[0])["data"]
    assert data["event"] == {"id": world.event_id, "name": "Event"}
    assert data["sessionCount"] == 3 and [s["id"] for s in data["sessions"]] == ids


def test_redirects_are_not_followed_and_answers_are_cut(
    hook_api: Api, world: World, driver: Driver, receiver: Receiver
) -> None:
    elsewhere = Receiver()
    try:
        receiver.answer = lambda i, _: (
            (302, {"Location": elsewhere.url}, b"") if i == 0 else (200, {}, b"x" * 10_000)
        )
        host = world.event_admin_token
        add_endpoint(hook_api, host, world.event_id, receiver.url)
        ended_session(hook_api, host, world.event_id)
        driver.until_idle()
        assert elsewhere.received == []
    finally:
        elsewhere.close()
    [delivery] = deliveries(hook_api, host, world.event_id)
    first, second = delivery["attempts"]
    assert first["statusCode"] == 302 and "redirects are not followed" in first["error"]
    assert second["statusCode"] == 200 and second["responseBody"] == "x" * 512


def test_a_slow_receiver_times_out(
    hook_api: Api, world: World, database_dsn: str, receiver: Receiver
) -> None:
    receiver.hang_first = True
    driver = Driver(database_dsn, webhook_timeout=0.5)
    try:
        add_endpoint(hook_api, world.event_admin_token, world.event_id, receiver.url)
        ended_session(hook_api, world.event_admin_token, world.event_id)
        driver.until_idle()
    finally:
        driver.close()
    [delivery] = deliveries(hook_api, world.event_admin_token, world.event_id)
    assert delivery["attempts"][0]["error"] == "no answer within 0.5 s"
    assert delivery["status"] == "DELIVERED"


def test_a_name_that_resolves_to_a_private_address_is_refused_when_sending(
    hook_api: Api, world: World, database_dsn: str, receiver: Receiver
) -> None:
    """DNS rebinding: the name was public when registered, private when sent."""
    add_endpoint(hook_api, world.event_admin_token, world.event_id, receiver.url)

    async def point_at_rebinding_name(pool: asyncpg.Pool) -> None:
        await pool.execute("UPDATE webhook_endpoints SET url = 'http://hooks.example.com/x'")

    hook_api.run(point_at_rebinding_name)

    async def private(host: str, port: int) -> list[str]:
        assert host == "hooks.example.com"
        return ["10.0.0.7"]

    driver = Driver(database_dsn, resolver=private, webhook_retry_schedule=[])
    try:
        ended_session(hook_api, world.event_admin_token, world.event_id)
        driver.until_idle()
    finally:
        driver.close()
    [delivery] = deliveries(hook_api, world.event_admin_token, world.event_id)
    assert delivery["status"] == "FAILED"
    [attempt] = delivery["attempts"]
    assert attempt["statusCode"] is None
    assert "resolves to an address that is not public" in attempt["error"]
    assert "10.0.0.7" not in attempt["error"] and "private" not in attempt["error"]
    assert receiver.received == []


def test_nothing_is_lost_when_the_server_is_killed_mid_delivery(
    hook_api: Api, world: World, database_dsn: str, receiver: Receiver, tmp_path: Any
) -> None:
    receiver.hang_first = True
    host = world.event_admin_token
    _, secret = add_endpoint(hook_api, host, world.event_id, receiver.url)
    ended_session(hook_api, host, world.event_id)
    env = environment(tmp_path, database_dsn)
    env.update({
        "GQL_SERVER_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1"]',
        "GQL_SERVER_WEBHOOK_GRACE_SECONDS": "0",
        "GQL_SERVER_WEBHOOK_POLL_SECONDS": "0.1",
        "GQL_SERVER_WEBHOOK_TIMEOUT": "1",  # the claim's lease: 1 + 5 s
    })  # fmt: skip
    server = Server(env)
    try:
        assert receiver.got_request.wait(30), "the server did not send the message"
        server.process.send_signal(signal.SIGKILL)  # mid-delivery: no answer yet
        server.process.communicate(timeout=30)
    finally:
        if server.process.poll() is None:
            server.stop()
    [delivery] = deliveries(hook_api, host, world.event_id)
    assert delivery["status"] == "PENDING"
    restarted = Server(env)
    try:
        for _ in range(300):
            if receiver.delivered():
                break
            receiver.got_request.clear()
            receiver.got_request.wait(0.1)
    finally:
        restarted.stop()
    [message] = receiver.delivered()
    assert verify(secret, message)["type"] == "session.ended"
    assert [r.message_id for r in receiver.received] == [message.message_id] * 2
    [delivery] = deliveries(hook_api, host, world.event_id)
    assert delivery["status"] == "DELIVERED"


def test_payloads_in_the_delivery_log_are_cut_to_what_is_asked(
    hook_api: Api, world: World
) -> None:
    # A cost-8 listing of payloads was 96.6 MB (an event report carries every
    # session): a listing gives the first maxChars (64 Ki by default) and the
    # whole length beside it.
    host = world.event_admin_token
    add_endpoint(hook_api, host, world.event_id, "http://127.0.0.1:9/r", "EVENT_REPORT")
    for i in range(3):
        create_session(hook_api, host, world.event_id, title=f"S{i}")
    assert hook_api.data(REPORT, {"e": world.event_id}, host) == {"requestEventReport": 1}
    query = """query($e: ID!, $n: Int!) { event(id: $e) { webhookEndpoints { deliveries(first: 5) {
      nodes { whole: payload payload(maxChars: $n) payloadLength } } } } }"""
    data = hook_api.data(query, {"e": world.event_id, "n": 20}, host)
    [node] = data["event"]["webhookEndpoints"][0]["deliveries"]["nodes"]
    assert node["payload"] == node["whole"][:20] and len(node["whole"]) == node["payloadLength"]
    assert node["payloadLength"] > 20 and json.loads(node["whole"])["type"] == "event.report"
    refused = hook_api.error(query, {"e": world.event_id, "n": 0}, host)
    assert refused["extensions"]["code"] == 400 and "maxChars" in refused["message"]
