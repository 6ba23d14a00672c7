"""/metrics: each family counts what real requests did, labels stay bounded, and only
loopback callers or holders of the metrics token may read it."""

import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import Api, QueryLog, app_settings, served
from helpers import RECORD, World, create_session, make_world
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from test_webhooks import HOOK_SETTINGS, REPORT, Driver, add_endpoint, report_interval_passes
from webhook_receiver import Receiver

from gql_server.app import create_app
from gql_server.telemetry.metrics import OPERATION_NAMES

TOKEN = "metrics-token-0123456789"
STATIC = Path(__file__).parent.parent / "gql_server" / "static"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def ops_api(database_dsn: str) -> Iterator[Api]:
    settings = app_settings(
        database_dsn,
        **HOOK_SETTINGS,
        metrics_token=TOKEN,
        metrics_operations=["PlatformReport"],
    )
    with TestClient(create_app(settings)) as client:
        yield Api(client, QueryLog())


def scrape(api: Api) -> Samples:
    response = api.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


SESSIONS = "query EventSessions($e: ID!) { event(id: $e) { sessions(first: 5) { nodes { id } } } }"


def test_each_family_counts_what_real_requests_did(
    ops_api: Api, database_dsn: str, receiver: Receiver
) -> None:
    api = ops_api
    world: World = make_world(api)
    host = world.event_admin_token
    session = create_session(api, host, world.event_id)
    before = scrape(api)

    costs = []
    for _ in range(3):
        body = api.gql(SESSIONS, {"e": world.event_id}, host)
        assert "errors" not in body
        costs.append(body["extensions"]["cost"]["requested"])
    api.data("{ me { id } }", token=host)  # anonymous
    api.data("query Mystery { me { id } }", token=host)  # not a known name
    api.data("query PlatformReport { me { id } }", token=host)  # a configured name
    missing = api.error(SESSIONS, {"e": "999999"}, host)
    assert missing["extensions"]["code"] == 4040200
    invalid = api.error("query Broken { nope }", token=host)
    assert invalid["extensions"]["code"] == 400
    segments = [
        {"sessionId": session, "mode": "LIVE", "startSecond": s, "endSecond": s + 10}
        for s in (0, 10, 20)
    ]
    named_record = RECORD.replace("mutation(", "mutation RecordWatch(")
    assert api.data(named_record, {"s": segments}, world.attendee_token) == {
        "recordWatch": {"accepted": 3}
    }
    unknown = [{**segments[0], "sessionId": "999999"}, segments[1]]
    refused = api.error(named_record, {"s": unknown}, world.attendee_token)
    assert refused["extensions"]["code"] == 404800
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/no/such/page").status_code == 404
    assert api.client.get(f"/events/{world.event_id}/sessions.csv").status_code == 401
    add_endpoint(api, host, world.event_id, receiver.url, "EVENT_REPORT")
    assert api.data(REPORT, {"e": world.event_id}, host) == {"requestEventReport": 1}
    after = scrape(api)

    requests = "gql_requests_total"
    total = sum(v for (name, _), v in after.items() if name == requests)
    assert total - sum(v for (name, _), v in before.items() if name == requests) == 12
    assert delta(before, after, requests, operation="EventSessions", type="query",
                 outcome="ok") == 3  # fmt: skip
    assert delta(before, after, requests, operation="EventSessions", type="query",
                 outcome="error") == 1  # fmt: skip
    assert delta(before, after, requests, operation="anonymous", type="query", outcome="ok") == 1
    assert delta(before, after, requests, operation="other", type="query", outcome="ok") == 1
    assert delta(before, after, requests, operation="other", type="query", outcome="error") == 1
    assert delta(before, after, requests, operation="PlatformReport", type="query",
                 outcome="ok") == 1  # fmt: skip
    assert delta(before, after, requests, operation="RecordWatch", type="mutation",
                 outcome="ok") == 1  # fmt: skip
    assert delta(before, after, requests, operation="RecordWatch", type="mutation",
                 outcome="error") == 1  # fmt: skip
    # The test's own helpers send anonymous mutations: the endpoint's, the report's.
    assert delta(before, after, requests, operation="anonymous", type="mutation",
                 outcome="ok") == 2  # fmt: skip
    assert delta(before, after, "gql_request_duration_seconds_count",
                 operation="EventSessions", type="query") == 4  # fmt: skip
    assert delta(before, after, "gql_errors_total", code="4040200") == 1
    assert delta(before, after, "gql_errors_total", code="404800") == 1
    assert delta(before, after, "gql_errors_total", code="400") == 1
    # The cost of the operations that passed validation, as their answers reported it.
    assert delta(before, after, "gql_query_cost_count", operation="EventSessions") == 4
    assert delta(before, after, "gql_query_cost_sum", operation="EventSessions") >= sum(costs)
    assert delta(before, after, "gql_record_watch_segments_total", result="accepted") == 3
    assert delta(before, after, "gql_record_watch_segments_total", result="refused") == 2
    assert delta(before, after, "gql_http_requests_total", route="/healthz", method="GET",
                 status="200") == 1  # fmt: skip
    assert delta(before, after, "gql_http_requests_total", route="other", method="GET",
                 status="404") == 1  # fmt: skip
    assert delta(before, after, "gql_http_requests_total", route="/graphql", method="POST",
                 status="200") == 12  # fmt: skip
    assert delta(before, after, "gql_http_requests_total", route="/events/{event_id}/sessions.csv",
                 method="GET", status="401") == 1  # fmt: skip
    # Statements: every request above ran at least one, none failed.
    assert delta(before, after, "gql_db_statement_duration_seconds_count", outcome="ok") >= 10
    assert value(after, "gql_db_statement_duration_seconds_count", outcome="error") == 0
    assert delta(before, after, "gql_db_pool_wait_seconds_count") >= 10
    size = value(after, "gql_db_pool_connections", state="in_use") + value(
        after, "gql_db_pool_connections", state="idle"
    )
    assert size >= 1 and value(after, "gql_db_pool_max_connections") == 10
    assert value(after, "gql_db_pool_waiting") == 0
    assert value(after, "gql_cache_entries") > 0 and value(after, "gql_cache_bytes") > 0
    assert value(after, "gql_cache_max_bytes") == 64 * 1024 * 1024
    # The outbox: the report's one message, due now, not delivered yet.
    assert value(after, "gql_database_up") == 1
    assert value(after, "gql_webhook_outbox_messages", state="due") == 1
    assert value(after, "gql_webhook_outbox_messages", state="scheduled") == 0
    assert value(after, "gql_webhook_outbox_oldest_pending_seconds") > 0

    # Delivered, then a failing endpoint's attempt that will be retried.
    metrics = api.client.app.state.metrics  # type: ignore[attr-defined]
    driver = Driver(database_dsn, metrics=metrics)
    try:
        driver.until_idle()
        delivered = scrape(api)
        assert delta(after, delivered, "gql_webhook_deliveries_total", outcome="delivered") == 1
        assert value(delivered, "gql_webhook_outbox_messages", state="due") == 0
        assert value(delivered, "gql_webhook_outbox_oldest_pending_seconds") == 0
        receiver.answer = lambda i, _: (500, {}, b"")
        api.run(report_interval_passes)
        assert api.data(REPORT, {"e": world.event_id}, host) == {"requestEventReport": 1}
        driver.round()
    finally:
        driver.close()
    failing = scrape(api)
    assert delta(delivered, failing, "gql_webhook_deliveries_total", outcome="retry") == 1
    assert value(failing, "gql_webhook_deliveries_total", outcome="failed") == 0
    assert (
        value(failing, "gql_webhook_outbox_messages", state="due")
        + value(failing, "gql_webhook_outbox_messages", state="scheduled")
        == 1
    )


def test_open_subscriptions_are_counted(ops_api: Api) -> None:
    world = make_world(ops_api)
    session = create_session(ops_api, world.event_admin_token, world.event_id)
    client = ops_api.client
    assert value(scrape(ops_api), "gql_subscriptions_open") == 0
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        bearer = {"Authorization": f"Bearer {world.event_admin_token}"}
        ws.send_json({"type": "connection_init", "payload": bearer})
        assert ws.receive_json() == {"type": "connection_ack"}
        for op in ("1", "2"):
            ws.send_json({"id": op, "type": "subscribe", "payload": {
                "query": "subscription SessionUpdates($s: ID!) { sessionUpdates(sessionId: $s)"
                         " { id } }", "variables": {"s": session}}})  # fmt: skip
            assert ws.receive_json()["type"] == "next"
        assert value(scrape(ops_api), "gql_subscriptions_open") == 2
        ws.send_json({"id": "1", "type": "complete"})
        for _ in range(100):  # the server ends it in its own time
            if value(scrape(ops_api), "gql_subscriptions_open") == 1:
                break
            time.sleep(0.05)
        assert value(scrape(ops_api), "gql_subscriptions_open") == 1
    for _ in range(100):  # the socket's end stops the other one
        if value(scrape(ops_api), "gql_subscriptions_open") == 0:
            break
        time.sleep(0.05)
    assert value(scrape(ops_api), "gql_subscriptions_open") == 0


def test_labels_stay_bounded_whatever_clients_send(ops_api: Api) -> None:
    for n in range(200):
        ops_api.post(f"query Probe{n} {{ __typename }}")
        ops_api.client.request(f"X{n}", "/graphql")  # any method token
        ops_api.client.get(f"/nothing/{n}")
    text = ops_api.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    series = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not any(re.search(r"Probe\d|/nothing/|\bX\d", line) for line in series)
    assert value(parse(text), "gql_requests_total", operation="other", type="query",
                 outcome="ok") == 200  # fmt: skip
    assert len(series) < 400


def test_the_shipped_clients_name_their_operations() -> None:
    """Every document of static/*.js is a named operation with a series of its own."""
    names = set()
    for script in STATIC.glob("*.js"):
        text = script.read_text()
        anonymous = re.findall(r"[\"`](?:query|mutation|subscription)\s*[({]", text)
        assert anonymous == [], f"{script.name}: name these operations: {anonymous}"
        names |= set(re.findall(r"[\"`](?:query|mutation|subscription) ([_A-Za-z]\w*)", text))
    assert names and names <= OPERATION_NAMES, names - OPERATION_NAMES


def test_only_loopback_or_the_token_may_scrape(database_dsn: str) -> None:
    with TestClient(create_app(app_settings(database_dsn, metrics_token=TOKEN))) as client:
        # Starlette's test client is not on loopback ("testclient").
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"},
                        {"Authorization": TOKEN}):  # fmt: skip
            refused = client.get("/metrics", headers=headers)
            assert refused.status_code == 403
            assert refused.json()["errors"][0]["extensions"] == {"code": 403, "status": 403}
        allowed = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200 and "gql_requests_total" in allowed.text
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        openmetrics = client.get(
            "/metrics", headers={**bearer, "Accept": "application/openmetrics-text"}
        )
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.endswith("# EOF\n")
    with served(database_dsn) as url:
        assert httpx2.get(f"{url}/metrics").status_code == 200  # loopback, no token set
        # Relayed by a proxy on this machine: not trusted as local.
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            assert httpx2.get(f"{url}/metrics", headers={header: "203.0.113.9"}).status_code == 403
    with TestClient(create_app(app_settings(database_dsn, metrics=False))) as client:
        assert (
            client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
        )
        assert client.get("/healthz").status_code == 200  # nothing counted, nothing broken


def test_a_scrape_answers_while_the_database_is_away(database_dsn: str) -> None:
    """The outbox figures need the database: without it they are left out and
    gql_database_up says why, within the scrape's bound."""
    with TestClient(create_app(app_settings(database_dsn, metrics_token=TOKEN))) as client:
        api = Api(client, QueryLog())
        assert value(scrape(api), "gql_database_up") == 1
        pool = client.app.state.pool  # type: ignore[attr-defined]
        portal = client.portal
        assert portal is not None
        real = pool.fetchrow

        async def away(*args: Any, **kwargs: Any) -> Any:
            raise OSError("connection refused")

        pool.fetchrow = away
        try:
            began = time.monotonic()
            samples = scrape(api)
            assert time.monotonic() - began < 2
        finally:
            pool.fetchrow = real
        assert value(samples, "gql_database_up") == 0
        assert ("gql_webhook_outbox_messages", (("state", "due"),)) not in samples
        assert value(samples, "gql_cache_max_bytes") > 0  # the rest is still there


DOCS = Path(__file__).parent.parent / "docs"


def test_the_dashboard_and_alerts_read_families_that_exist(ops_api: Api) -> None:
    """docs/grafana and docs/prometheus name only series /metrics serves."""
    import json

    ops_api.post("{ __typename }")
    ops_api.post("{ nope }")  # an error, so that its family has a sample
    served_names = {name for name, _ in scrape(ops_api)}
    dashboard = json.loads((DOCS / "grafana" / "gql-server.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    alerts = (DOCS / "prometheus" / "alerts.yml").read_text()
    named = set(re.findall(r"\bgql_[a-z_]+", "\n".join(exprs) + alerts))
    assert len(exprs) >= 15 and named
    assert named <= served_names, named - served_names


def scrape_url(url: str) -> Samples:
    return parse(httpx2.get(f"{url}/metrics", headers={"Connection": "close"}).text)


def requests_by_process(folder: Path) -> dict[str, float]:
    """GraphQL requests each process counted, from its own file (pid -> count)."""
    from prometheus_client.multiprocess import MultiProcessCollector

    counts = {}
    for path in folder.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)])  # type: ignore[no-untyped-call]
        counts[path.stem.rsplit("_", 1)[-1]] = sum(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == "gql_requests_total"
        )
    return counts


def test_several_processes_add_up_whichever_answers_the_scrape(
    tmp_path: Path, database_dsn: str
) -> None:
    """serve --workers 2: every scrape counts every process's requests (multiprocess
    mode); the folder holds both processes' values."""
    import subprocess

    from test_cli import GQL_SERVER, environment

    from gql_server.web.serving import free_port

    assert GQL_SERVER
    port = free_port()
    env = environment(tmp_path, database_dsn)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # serve makes its own
    server = subprocess.Popen(
        [GQL_SERVER, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    folder = Path(tempfile.gettempdir()) / f"gql-server-metrics-{os.getuid()}-{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "no server"
            try:
                if httpx2.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.1)
        # Both processes up: each notes its pool (10 connections) for the other's scrapes.
        while value(scrape_url(url), "gql_db_pool_max_connections") < 20:
            assert time.monotonic() < deadline, "the processes' pools do not add up"
            time.sleep(0.2)
        sent = 0
        while min(requests_by_process(folder).values(), default=0) == 0:
            for _ in range(20):  # a new connection each: the processes take turns
                assert httpx2.post(f"{url}/graphql", json={"query": "{ __typename }"},
                                   headers={"Connection": "close"}).status_code == 200  # fmt: skip
                sent += 1
            assert sent < 2000, "one process took every connection"
        assert (
            len(requests_by_process(folder)) == 2
            and sum(requests_by_process(folder).values()) == sent
        )
        for _ in range(10):  # whichever process answers, it counts both
            samples = scrape_url(url)
            assert value(samples, "gql_requests_total", operation="anonymous", type="query",
                         outcome="ok") == sent  # fmt: skip
            assert value(samples, "gql_db_pool_max_connections") == 20
            # (the other process's cache figure may be up to 5 s old: not compared)
            assert value(samples, "gql_cache_entries") > 0
            assert value(samples, "gql_database_up") == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
