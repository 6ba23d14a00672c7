"""OpenTelemetry traces: off unless the standard OTEL_* variables ask for them.

On (settings.Settings.traces_exporter: an OTLP endpoint, or OTEL_TRACES_EXPORTER),
a request gives one trace:

- a span per HTTP request or WebSocket (OpenTelemetry's ASGI middleware), which
  continues the caller's trace when it sends `traceparent`;
- a span per GraphQL operation (Strawberry's OpenTelemetry extension, OperationSpans
  below), with its parsing and validation, current while it runs;
- a span per database statement (OpenTelemetry's asyncpg instrumentation), under the
  operation's span;
- and the webhook worker's deliveries each a span of their own, whose `traceparent`
  goes with the POST (delivery.py).

Nothing a client sent as a value is recorded: not the query string (GET /graphql
carries the document and its variables there: it is hidden from the ASGI span), not
the document (a literal argument can be a password), not resolver arguments, not
statement parameters (only the SQL text, which has placeholders). Headers are not
recorded unless an operator asks for some through OTEL_INSTRUMENTATION_HTTP_CAPTURE_*.

The SDK reads its own variables: OTEL_SERVICE_NAME (default gql-server),
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_PROPAGATORS,
OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT / HEADERS / TIMEOUT / CERTIFICATE.
"""

from collections.abc import Callable, Iterator
from typing import Any

from graphql import GraphQLError
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.middleware import Middleware
from strawberry.extensions import LifecycleStep, SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension

from gql_server.errors import INTERNAL, ErrorKind

KindOf = Callable[[GraphQLError], ErrorKind | None]

# Probes and scrapes come every few seconds and would drown the traces.
EXCLUDED_PATHS = "/healthz,/readyz,/metrics"
HIDDEN_QUERY = "gql_server.query_string"


def provider_for(exporter: str | None) -> TracerProvider | None:
    """A provider exporting to `exporter` (settings.traces_exporter: "otlp" or "console"),
    batched; None when traces are off."""
    if exporter is None:
        return None
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "gql-server"}))
    provider = TracerProvider(resource=resource)
    span_exporter: SpanExporter
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        span_exporter = OTLPSpanExporter()
    else:
        span_exporter = ConsoleSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider


class Tracing:
    """One app's traces: what create_app installs when a provider is given."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("gql_server")

    def middleware(self) -> list[Middleware]:
        """The ASGI middleware, outermost first: the request's span sees no query string."""
        return [
            Middleware(HideQueryString),
            Middleware(
                OpenTelemetryMiddleware,
                tracer_provider=self.provider,
                excluded_urls=EXCLUDED_PATHS,
                # A span per ASGI message would outnumber everything else.
                exclude_spans=["receive", "send"],
            ),
            Middleware(RestoreQueryString),
        ]

    def extension(self, kind_of: KindOf) -> Callable[[], SchemaExtension]:
        """The schema extension: a span per GraphQL operation; `kind_of` is how the
        schema classifies an error (schema.error_kind: None for an internal one)."""
        provider = self.provider

        def made() -> OperationSpans:
            return OperationSpans(tracer_provider=provider, kind_of=kind_of)

        return made

    def instrument_database(self) -> None:
        """Statements on every asyncpg connection of the process get spans (the
        instrumentation patches asyncpg's classes: one provider per process)."""
        AsyncPGInstrumentor().instrument(tracer_provider=self.provider)  # type: ignore[no-untyped-call]

    def stop(self, *, own_provider: bool) -> None:
        """Statements untraced again; spans still queued are exported (and the provider
        shut down when it is this app's own)."""
        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
        if own_provider:
            self.provider.shutdown()
        else:
            self.provider.force_flush()


class HideQueryString:
    """Takes the query string out of the scope the ASGI span is made from (GET /graphql
    carries the document and variables there); RestoreQueryString puts it back."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("query_string"):
            scope = {**scope, "query_string": b"", HIDDEN_QUERY: scope["query_string"]}
        await self.app(scope, receive, send)


class RestoreQueryString:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if HIDDEN_QUERY in scope:
            scope = {**scope, "query_string": scope.pop(HIDDEN_QUERY)}
        await self.app(scope, receive, send)


class OperationSpans(OpenTelemetryExtension):
    """Strawberry's OpenTelemetry extension, minus what would leak or cost:

    - the operation's span is named as OpenTelemetry's GraphQL conventions say
      (`query EventSessions`), carries graphql.operation.type / .name and the error
      codes, and is current while the operation runs over HTTP, so its statements
      are its children (over WebSocket a subscription outlives the step that would
      attach it: its statements hang under the socket's span);
    - no `query` attribute (the document: literal arguments can be passwords), no
      span per resolver with its arguments (values, and a middleware that would
      make every field go the slow way: resolve stays SchemaExtension's)."""

    resolve = SchemaExtension.resolve  # type: ignore[assignment]

    def __init__(self, *, tracer_provider: TracerProvider, kind_of: KindOf) -> None:
        super().__init__(tracer_provider=tracer_provider)
        self.kind_of = kind_of

    def on_operation(self) -> Iterator[None]:  # type: ignore[override]
        execution = self.execution_context
        span = self._tracer.start_span("GraphQL operation", kind=SpanKind.INTERNAL)
        self._span_holder[LifecycleStep.OPERATION] = span
        over_http = getattr(execution.context, "websocket", None) is None
        token = otel_context.attach(trace.set_span_in_context(span)) if over_http else None
        try:
            yield
        finally:
            if token is not None:
                otel_context.detach(token)
            self._close(span)

    def _close(self, span: trace.Span) -> None:
        execution = self.execution_context
        try:
            kind: str | None = execution.operation_type.value
        except RuntimeError:  # no document, or no such operation
            kind = None
        name = execution.operation_name
        span.update_name(" ".join(part for part in (kind, name) if part) or "GraphQL operation")
        if kind is not None:
            span.set_attribute("graphql.operation.type", kind)
        if name:
            span.set_attribute("graphql.operation.name", name[:100])
        result = execution.result
        errors = (result.errors if result is not None else None) or (
            execution.pre_execution_errors or []
        )
        if errors:
            kinds = [self.kind_of(error) or INTERNAL for error in errors]
            span.set_attribute("graphql.error.codes", [kind.code for kind in kinds])
            if any(kind.status >= 500 for kind in kinds):
                span.set_status(Status(StatusCode.ERROR))
        span.end()
