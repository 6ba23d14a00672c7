"""OpenTelemetry traces: one trace per request (the caller's when it sends traceparent),
the GraphQL operation under the request, its statements under the operation; webhook
deliveries carry their span's traceparent; nothing a client sent as a value, no token
and no password in any attribute; and a real process configured by OTEL_* alone."""

import json
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import Api, QueryLog, app_settings
from helpers import PASSWORD, World, create_session, make_world
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.testclient import TestClient
from test_cli import Server, environment
from test_webhooks import HOOK_SETTINGS, REPORT, Driver, add_endpoint
from webhook_receiver import Receiver

from gql_server.app import create_app

SEARCH = """query EventSessions($e: ID!, $q: String) {
  event(id: $e) { sessions(first: 5, search: $q) { totalCount nodes { id title } } } }"""
LITERAL_LOGIN = 'mutation SignIn {{ login(email: "{email}", password: "{password}") {{ token }} }}'


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(database_dsn: str, spans: InMemorySpanExporter) -> Iterator[Api]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    app = create_app(app_settings(database_dsn, **HOOK_SETTINGS), tracer_provider=provider)
    with TestClient(app) as client:
        yield Api(client, QueryLog())


def by_trace(finished: Sequence[ReadableSpan]) -> dict[int, list[ReadableSpan]]:
    traces: dict[int, list[ReadableSpan]] = {}
    for span in finished:
        assert span.context is not None
        traces.setdefault(span.context.trace_id, []).append(span)
    return traces


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    found = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        found.append(by_id[parent.span_id])
        parent = found[-1].parent
    return found


def attribute_text(span: ReadableSpan) -> str:
    values = [span.name, *(str(v) for v in (span.attributes or {}).values())]
    for event in span.events:
        values += [event.name, *(str(v) for v in (event.attributes or {}).values())]
    return "\n".join(values)


def test_one_trace_per_request_with_its_statements_under_the_operation(
    traced: Api, spans: InMemorySpanExporter
) -> None:
    api = traced
    world: World = make_world(api)
    host = world.event_admin_token
    secret_title = "Quarterly-" + secrets.token_hex(6)
    create_session(api, host, world.event_id, title=secret_title)
    needle = "needle-" + secrets.token_hex(6)
    spans.clear()

    # 1. A page, continuing the caller's trace (traceparent honoured).
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    response = api.post(
        SEARCH,
        {"e": world.event_id, "q": needle},
        host,
        traceparent=f"00-{caller_trace}-{caller_span}-01",
    )
    assert response.status_code == 200 and "errors" not in response.json()
    first = by_trace(spans.get_finished_spans())
    assert list(first) == [int(caller_trace, 16)], "one trace, the caller's"
    trace = first[int(caller_trace, 16)]
    (root,) = [s for s in trace if s.kind is SpanKind.SERVER]
    assert root.parent is not None and root.parent.span_id == int(caller_span, 16)
    assert root.parent.is_remote
    (operation,) = [s for s in trace if s.name == "query EventSessions"]
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.type"] == "query"
    assert operation.attributes["graphql.operation.name"] == "EventSessions"
    assert operation.parent is not None and root.context is not None
    assert operation.parent.span_id == root.context.span_id
    statements = [s for s in trace if (s.attributes or {}).get("db.system") == "postgresql"]
    assert statements, "no statement span"
    for statement in statements:
        assert statement.kind is SpanKind.CLIENT
        assert operation in ancestors(statement, trace), statement.name
        assert "$1" in str((statement.attributes or {}).get("db.statement"))  # placeholders
    spans.clear()

    # 2. A password written into the document, and 3. a GET with the document and its
    # variables in the query string: each its own trace, none of it recorded.
    email = "tracy@example.com"
    api.data(
        f'mutation {{ signUp(email: "{email}", password: "{PASSWORD}-t", name: "T") {{ id }} }}'
    )
    login = api.data(LITERAL_LOGIN.format(email=email, password=f"{PASSWORD}-t"))
    token = login["login"]["token"]
    get = api.client.get(
        "/graphql",
        params={"query": SEARCH, "variables": json.dumps({"e": world.event_id, "q": needle})},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert get.status_code == 200
    later = by_trace(spans.get_finished_spans())
    assert len(later) == 3, "one trace per request"
    for trace in later.values():
        assert len([s for s in trace if s.kind is SpanKind.SERVER and s.parent is None]) == 1
    finished = [*spans.get_finished_spans(), *[s for t in first.values() for s in t]]
    text = "\n".join(attribute_text(s) for s in finished)
    for secret in (PASSWORD, token, host, needle, secret_title, email):
        assert secret not in text, secret
    assert "/graphql" in text and "SELECT" in text  # what is recorded is recorded


def test_a_webhook_delivery_sends_its_span_as_traceparent(
    traced: Api, spans: InMemorySpanExporter, database_dsn: str, receiver: Receiver
) -> None:
    api = traced
    world = make_world(api)
    host = world.event_admin_token
    add_endpoint(api, host, world.event_id, receiver.url, "EVENT_REPORT")
    assert api.data(REPORT, {"e": world.event_id}, host) == {"requestEventReport": 1}
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    spans.clear()
    driver = Driver(database_dsn, tracer=provider.get_tracer("test"))
    try:
        driver.until_idle()
    finally:
        driver.close()
    (received,) = receiver.delivered()
    (delivery,) = [s for s in spans.get_finished_spans() if s.name == "webhook event.report"]
    assert delivery.kind is SpanKind.CLIENT and delivery.context is not None
    assert "127.0.0.1" not in attribute_text(delivery)  # a URL can carry a secret
    assert (delivery.attributes or {})["http.response.status_code"] == 200
    version, trace_id, span_id, flags = received.headers["traceparent"].split("-")
    assert (int(trace_id, 16), int(span_id, 16)) == (
        delivery.context.trace_id,
        delivery.context.span_id,
    )
    assert version == "00" and int(flags, 16) & 1 == 1  # sampled


def otlp_receiver() -> Receiver:
    """An OTLP/HTTP endpoint on loopback: each export is answered with an empty
    ExportTraceServiceResponse, and kept (exported_spans decodes them)."""
    answer = ExportTraceServiceResponse().SerializeToString()
    return Receiver(answer=lambda i, _: (200, {"Content-Type": "application/x-protobuf"}, answer))


def exported_spans(receiver: Receiver) -> list[tuple[str, str, Any]]:
    """(service name, trace id in hex, span) of everything the receiver got."""
    found = []
    for received in receiver.received:
        request = ExportTraceServiceRequest()
        request.ParseFromString(received.body)
        for resource in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                for span in scope.spans:
                    found.append((attributes["service.name"], span.trace_id.hex(), span))
    return found


def test_a_server_configured_by_otel_variables_exports_and_logs_its_trace_ids(
    tmp_path: Path, database_dsn: str
) -> None:
    collector = otlp_receiver()
    endpoint = f"http://127.0.0.1:{collector.server.server_address[1]}"
    env = {
        **environment(tmp_path, database_dsn),
        "GQL_SERVER_LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    output = tmp_path / "server.log"
    server = Server(env, output)
    caller_trace = secrets.token_hex(16)
    try:
        response = httpx2.post(
            f"{server.url}/graphql",
            json={"query": "query Probe { __typename }"},
            headers={
                "traceparent": f"00-{caller_trace}-{secrets.token_hex(8)}-01",
                "X-Request-ID": "traced-1",
            },
        )
        assert response.status_code == 200
    finally:
        server.stop()  # exports what is left
        collector.close()
    exported = exported_spans(collector)
    assert {service for service, _, _ in exported} == {"gql-server"}
    names = {span.name for _, trace, span in exported if trace == caller_trace}
    assert "query Probe" in names and any(name.startswith("POST") for name in names)
    records = [json.loads(line) for line in output.read_text().splitlines()
               if line.startswith("{")]  # fmt: skip
    (access,) = [r for r in records if r.get("request_id") == "traced-1"]
    assert access["trace_id"] == caller_trace and len(access["span_id"]) == 16
    # Without a request there is no trace: the field is there, empty.
    assert any(r["trace_id"] is None for r in records)


def test_an_unsupported_otlp_protocol_is_named(tmp_path: Path) -> None:
    from test_cli import cli

    env = {**environment(tmp_path, None), "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    refused = cli(env, "migrate")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL" in refused.stderr
