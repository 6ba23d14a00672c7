"""Prometheus metrics at /metrics, with prometheus-client.

Why prometheus-client and not OpenTelemetry's metrics with its Prometheus
exporter: Prometheus is what operators scrape, and prometheus-client is its own
reference library (the text and OpenMetrics formats as Prometheus reads them,
exemplars, no translation of names or units), with the smallest cost per
observation: a counter or histogram update is a lock and an addition, where
the OpenTelemetry SDK goes through views and aggregations. Traces use
OpenTelemetry (tracing.py), which is the standard there.

Every label value comes from a bounded set, so a client cannot grow the number
of series: an operation name is one of OPERATION_NAMES (the names our own
clients send) or of GQL_SERVER_METRICS_OPERATIONS, else "other" ("anonymous"
without one); a route is a route of the app's or "other"; a method one of
METHODS or "other"; an error code one of gql_server/errors.py's. No label or
value carries a user, an event, a token or anything a client wrote.

Each app has its own registry (tests make many apps in one process). Values
that are a state rather than a count (the pool, the engine's cache, the
webhook outbox) are read when /metrics is scraped. With several processes
(serve --workers N), prometheus-client's multiprocess mode adds every live
process's figures up, whichever process answers the scrape (cli.serve makes the
folder it needs: PROMETHEUS_MULTIPROC_DIR).
"""

import asyncio
import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gql_server import errors

log = logging.getLogger(__name__)

# The operation names the clients this package ships send (static/*.js; the
# test that scrapes /metrics checks that each of their documents names one of these).
OPERATION_NAMES = frozenset(
    {
        # dashboard.js
        "SignIn",
        "SignOut",
        "EventSessions",
        "EventTimeline",
        "SessionDetail",
        "SessionViewers",
        "SessionUpdates",
        "WebhookEndpoints",
        "WebhookDeliveries",
        "CreateWebhookEndpoint",
        "UpdateWebhookEndpoint",
        "RotateWebhookSecret",
        "DeleteWebhookEndpoint",
        "ResendWebhookDelivery",
        "RequestEventReport",
        # watch.js, tracker.js, verify.js
        "WatchSession",
        "RegisterForSession",
        "JoinSession",
        "RecordWatch",
        "VerifyEmail",
        "RequestEmailVerification",
    }
)
OTHER = "other"
ANONYMOUS = "anonymous"
METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
OPERATION_TYPES = ("query", "mutation", "subscription")
CODES = frozenset(
    str(kind.code) for kind in vars(errors).values() if isinstance(kind, errors.ErrorKind)
)

# Seconds. Requests: most answers take 1-20 ms; exports and timeouts take long.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
STATEMENT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 15)
WAIT_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5)
COST_BUCKETS = (10, 100, 500, 1000, 5000, 10_000, 25_000, 50_000)
# A scrape waits at most this long for the database (the outbox figures).
SCRAPE_DATABASE_SECONDS = 1.0
# Multiprocess mode: how often each process notes its pool and cache.
NOTE_SECONDS = 5.0


class Metrics:
    """The app's metrics: what requests, statements and the worker count, and what a
    scrape reads."""

    def __init__(
        self, operations: Iterable[str] = (), multiprocess_dir: str | None = None
    ) -> None:
        self.operations = OPERATION_NAMES | frozenset(operations)
        # Several processes serve (serve --workers N): prometheus-client keeps the values
        # in files there (it chose so when imported, from PROMETHEUS_MULTIPROC_DIR).
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "gql_requests",
            "GraphQL requests answered over HTTP, by operation name, operation type and"
            " outcome (ok: no error; error: errors of the request's own making, 4xx codes;"
            " failed: an internal error or the database unavailable, 5xx codes)",
            ["operation", "type", "outcome"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "gql_request_duration_seconds",
            "Time from a GraphQL request's arrival to its answer's last byte",
            ["operation", "type"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "gql_errors",
            "GraphQL errors answered over HTTP, by extensions.code",
            ["code"],
            registry=r,
        )
        self.cost = Histogram(
            "gql_query_cost",
            "Estimated cost of the operations that passed validation (extensions.cost)",
            ["operation"],
            buckets=COST_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "gql_http_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "gql_http_request_duration_seconds",
            "Time from an HTTP request's arrival to its answer's last byte, by route",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.pool_wait = Histogram(
            "gql_db_pool_wait_seconds",
            "Time to get a connection from the request pool",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.statement_seconds = Histogram(
            "gql_db_statement_duration_seconds",
            "Time of each statement on the request pool, by outcome (ok or error)",
            ["outcome"],
            buckets=STATEMENT_BUCKETS,
            registry=r,
        )
        self.segments = Counter(
            "gql_record_watch_segments",
            "recordWatch segments, by result: accepted, or refused (the batch was;"
            " batches are all or nothing)",
            ["result"],
            registry=r,
        )
        self.deliveries = Counter(
            "gql_webhook_deliveries",
            "Webhook delivery attempts, by outcome: delivered, retry (failed, will be sent"
            " again) or failed (the last attempt failed)",
            ["outcome"],
            registry=r,
        )
        # What each process has now: set at each scrape, and every few seconds by
        # each process when several serve (multiprocess mode: summed over the live ones).
        live: dict[str, Any] = {"registry": r, "multiprocess_mode": "livesum"}
        self.subscriptions = Gauge(
            "gql_subscriptions_open", "GraphQL subscriptions running (over WebSocket)", **live
        )
        self.pool_connections = Gauge(
            "gql_db_pool_connections",
            "Connections of the request pool, by state (in_use, idle)",
            ["state"],
            **live,
        )
        self.pool_max = Gauge(
            "gql_db_pool_max_connections",
            "The request pool's size limit (GQL_SERVER_POOL_MAX_SIZE, each process)",
            **live,
        )
        self.pool_waiting = Gauge(
            "gql_db_pool_waiting", "Requests waiting for a connection of the request pool", **live
        )
        self.cache_entries = Gauge(
            "gql_cache_entries",
            "Entries of the engine's cache (parsed and validated documents, plans)",
            **live,
        )
        self.cache_bytes = Gauge(
            "gql_cache_bytes", "Estimated bytes the engine's cache holds", **live
        )
        self.cache_max_bytes = Gauge(
            "gql_cache_max_bytes", "The engine cache's limit (GQL_SERVER_CACHE_BYTES)", **live
        )
        # Each label combination's children, looked up once (labels() takes a lock
        # and builds its key every call).
        self._series: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        self._http_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.database = DatabaseCollector()
        r.register(self.database)
        # Series that exist from the start, at 0 (rate() and absent() need them).
        for result in ("accepted", "refused"):
            self.segments.labels(result)
        for outcome in ("delivered", "retry", "failed"):
            self.deliveries.labels(outcome)

    def operation_label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        return name if name in self.operations else OTHER

    def observe_request(
        self,
        *,
        operation: str | None,
        operation_type: str | None,
        errors: list[tuple[int, int]],
        seconds: float,
        cost: int | None,
    ) -> None:
        """One GraphQL request over HTTP: its operation, and the (code, status) of each
        of its errors."""
        label = self.operation_label(operation)
        kind = operation_type if operation_type in OPERATION_TYPES else "unknown"
        if not errors:
            outcome = "ok"
        elif any(status >= 500 for _, status in errors):
            outcome = "failed"
        else:
            outcome = "error"
        key = (label, kind, outcome)
        series = self._series.get(key)
        if series is None:  # a few dozen keys at most: the labels are bounded
            series = self._series[key] = (
                self.requests.labels(label, kind, outcome),
                self.request_seconds.labels(label, kind),
                self.cost.labels(label),
            )
        count, duration, costs = series
        count.inc()
        duration.observe(seconds)
        for code, _ in errors:
            self.count_error(code)
        if cost is not None:
            costs.observe(cost)

    def count_error(self, code: int) -> None:
        text = str(code)
        self.errors.labels(text if text in CODES else OTHER).inc()

    def observe_http(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method if method in METHODS else OTHER, status)
        series = self._http_series.get(key)
        if series is None:  # routes, methods and the statuses sent are bounded: so are keys
            series = self._http_series[key] = (
                self.http_requests.labels(route, key[1], str(status)),
                self.http_seconds.labels(route),
            )
        count, duration = series
        count.inc()
        duration.observe(seconds)

    def note_process(self, state: Any) -> None:
        """This process's pool and cache, now."""
        pool = getattr(state, "pool", None)
        if pool is not None:
            size, idle = pool.get_size(), pool.get_idle_size()
            self.pool_connections.labels("in_use").set(size - idle)
            self.pool_connections.labels("idle").set(idle)
            self.pool_max.set(pool.get_max_size())
            self.pool_waiting.set(getattr(pool, "waiting", 0))
        cache = getattr(state, "engine_cache", None)  # engine.cache.EngineCache
        if cache is not None:
            self.cache_entries.set(len(cache))
            self.cache_bytes.set(cache.bytes)
            self.cache_max_bytes.set(cache.max_bytes)

    async def keep_noting(self, state: Any) -> None:
        """With several processes, each notes its own figures every NOTE_SECONDS (a
        scrape is answered by one of them for all); runs until cancelled."""
        while True:
            self.note_process(state)
            await asyncio.sleep(NOTE_SECONDS)

    def forget_dead_processes(self) -> None:
        """The live gauges of processes that are gone (a worker uvicorn replaced)."""
        if self.multiprocess_dir is None:
            return
        for path in Path(self.multiprocess_dir).glob("gauge_live*_*.db"):
            pid = path.stem.rsplit("_", 1)[-1]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                multiprocess.mark_process_dead(int(pid), self.multiprocess_dir)  # type: ignore[no-untyped-call]

    def stopping(self) -> None:
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]

    async def scrape(self, accept: str | None, state: Any) -> tuple[bytes, str]:
        """The exposition (text or OpenMetrics, as Accept asks) with the state read now:
        this process's, or every live process's (multiprocess mode)."""
        self.note_process(state)
        await self.database.read(getattr(state, "pool", None))
        registry = self.registry
        if self.multiprocess_dir is not None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            registry.register(self.database)
        encoder, content_type = choose_encoder(accept or "")
        return encoder(registry), content_type


class DatabaseCollector(Collector):
    """What the database says at each scrape: the webhook outbox (one statement, within
    SCRAPE_DATABASE_SECONDS; the same from every process)."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    async def read(self, pool: Any) -> None:
        self.families = [] if pool is None else await self._outbox(pool)

    async def _outbox(self, pool: Any) -> list[Metric]:
        up = GaugeMetricFamily(
            "gql_database_up",
            "Whether the database answered the scrape's statement within"
            f" {SCRAPE_DATABASE_SECONDS:g} s",
        )
        try:
            async with asyncio.timeout(SCRAPE_DATABASE_SECONDS):
                row = await pool.fetchrow(OUTBOX, timeout=SCRAPE_DATABASE_SECONDS)
        except Exception as error:  # the figures are left out; the scrape still answers
            log.warning("metrics: the outbox could not be read (%s)", type(error).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        depth = GaugeMetricFamily(
            "gql_webhook_outbox_messages",
            "Webhook messages not delivered yet, by state: due (to be sent now), scheduled"
            " (waiting for a retry) or paused (their endpoint is disabled)",
            labels=["state"],
        )
        depth.add_metric(["due"], row["due"])
        depth.add_metric(["scheduled"], row["scheduled"])
        depth.add_metric(["paused"], row["paused"])
        oldest = GaugeMetricFamily(
            "gql_webhook_outbox_oldest_pending_seconds",
            "Age of the oldest webhook message not delivered yet to an enabled endpoint"
            " (0 when none is)",
            value=float(row["oldest"] or 0.0),
        )
        return [up, depth, oldest]

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)

    def describe(self) -> Iterator[Metric]:
        return iter(())


# The partial index on PENDING messages keeps this small however many were sent.
# A disabled endpoint's messages wait for it on purpose: counted apart, not in the age.
OUTBOX = """
SELECT count(*) FILTER (WHERE w.enabled AND m.next_attempt_at <= now()) AS due,
       count(*) FILTER (WHERE w.enabled AND m.next_attempt_at > now()) AS scheduled,
       count(*) FILTER (WHERE NOT w.enabled) AS paused,
       extract(epoch FROM now() - min(m.created_at) FILTER (WHERE w.enabled)) AS oldest
FROM webhook_messages m JOIN webhook_endpoints w ON w.id = m.endpoint_id
WHERE m.status = 'PENDING'
"""


FORWARDING_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def may_scrape(scope: Any, token: str | None) -> bool:
    """Loopback callers not relayed by a proxy, and callers that present the metrics
    token (Authorization: Bearer <token>). A request a proxy on this machine relays
    comes from loopback too: one that carries a forwarding header is not trusted as
    local."""
    headers = scope.get("headers", [])
    if token:
        given = next((v for k, v in headers if k == b"authorization"), b"")
        scheme, _, credentials = given.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), token.encode()
        ):
            return True
    if any(k in FORWARDING_HEADERS for k, _ in headers):
        return False
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False
