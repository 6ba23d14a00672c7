"""The webhook worker: sends the outbox's messages, signed as Standard Webhooks says.

Runs in every server process (started by the app's lifespan) with its own
small pool. Each round it runs the scheduler (services.webhooks.schedule),
claims the due heads of the endpoints' queues (SKIP LOCKED and a lease, so
processes never send the same message at once and one endpoint's messages go
in order) and posts them at the checked address of their URL (targets.py):
no redirects followed, no proxy from the environment, a short timeout, at
most RESPONSE_PREFIX_BYTES of the answer read and kept. A process killed
mid-delivery leaves the message claimed until its lease ends; then it is
sent again with the same webhook-id (at least once: receivers dedupe on it).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx2
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode
from standardwebhooks.webhooks import Webhook

from gql_server.db import Pool, create_pool
from gql_server.repo.webhooks import Attempt
from gql_server.services import webhooks as service
from gql_server.settings import Settings
from gql_server.telemetry.metrics import Metrics
from gql_server.values import targets

log = logging.getLogger(__name__)

RESPONSE_PREFIX_BYTES = 512
USER_AGENT = "gql-server-webhooks/1"
# A claim outlives the attempt's timeout by this much before another worker
# may take the message (the claiming process is then presumed dead).
LEASE_MARGIN_SECONDS = 5.0
# service.record_attempt's outcome, as the metrics name it.
DELIVERY_OUTCOMES = {"DELIVERED": "delivered", "PENDING": "retry", "FAILED": "failed"}
PRUNE_EVERY_SECONDS = 3600.0


def signature_header(message_id: str, timestamp: datetime, body: str, secrets: list[str]) -> str:
    """webhook-signature: one v1 signature per secret, space-separated."""
    return " ".join(Webhook(s).sign(message_id, timestamp, body) for s in secrets)


def _host_header(target: targets.Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _stop_if_cancelled() -> None:
    """A cancellation (stop()) that reached a statement in flight can come out of asyncpg
    as another error: the round's failure must not swallow it, or the loop never ends."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class WebhookWorker:
    def __init__(
        self,
        settings: Settings,
        dsn: str,
        resolver: targets.Resolver = targets.system_resolver,
        *,
        metrics: Metrics | None = None,
        tracer: Any = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.tracer = tracer  # an OpenTelemetry tracer when traces are on (a span per POST)
        self.dsn = dsn
        self.resolver = resolver
        self.pool: Pool | None = None
        self.client: httpx2.AsyncClient | None = None
        self.task: asyncio.Task[None] | None = None

    def alive(self) -> bool:
        """Whether its loop runs (it survives every failure of a round; /readyz asks)."""
        return self.task is not None and not self.task.done()

    async def start(self) -> None:
        await self.open()
        self.task = asyncio.create_task(self._run(), name="webhook-worker")

    async def open(self) -> None:
        """Its pool and HTTP client, without the loop (tests drive run_once)."""
        s = self.settings
        self.pool = await create_pool(self.dsn, min_size=0, max_size=2)
        self.client = httpx2.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no HTTP(S)_PROXY: the checked address is where we connect
            timeout=httpx2.Timeout(s.webhook_timeout, connect=s.webhook_connect_timeout),
            limits=httpx2.Limits(
                max_connections=s.webhook_concurrency * 2,
                max_keepalive_connections=s.webhook_concurrency,
            ),
        )

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.client is not None:
            await self.client.aclose()
        if self.pool is not None:
            await self.pool.close()

    async def _run(self) -> None:
        next_prune = 0.0
        while True:
            try:
                if time.monotonic() >= next_prune:
                    assert self.pool is not None
                    await service.prune(
                        self.pool, older_than_days=self.settings.webhook_retention_days
                    )
                    next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                busy = await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                _stop_if_cancelled()
                log.warning("webhook worker: the database is unavailable", exc_info=True)
                busy = False
            except Exception:
                _stop_if_cancelled()
                log.exception("webhook worker round failed")
                busy = False
            if not busy:
                await asyncio.sleep(self.settings.webhook_poll_seconds)

    async def run_once(self) -> bool:
        """One round: the scheduler, then one claim's deliveries; whether any was sent."""
        assert self.pool is not None
        await service.schedule(self.pool, grace_seconds=self.settings.webhook_grace_seconds)
        claimed = await service.claim(
            self.pool,
            limit=self.settings.webhook_concurrency,
            lease_seconds=self.settings.webhook_timeout + LEASE_MARGIN_SECONDS,
        )
        await asyncio.gather(*(self._deliver(message) for message in claimed))
        return bool(claimed)

    async def _deliver(self, message: asyncpg.Record) -> None:
        started = datetime.now(UTC)
        clock = time.monotonic()
        status: int | None = None
        body: str | None = None
        error: str | None = None
        failure: str | None = None  # the kind of error, for the span (never the URL)
        with self._span(message) as span:
            try:
                async with asyncio.timeout(self.settings.webhook_timeout):
                    allowed = self.settings.webhook_allowed_hosts
                    target = await targets.resolve(message["url"], allowed, self.resolver)
                    status, body = await self._post(target, message)
                if 300 <= status < 400:
                    error = f"HTTP {status}: redirects are not followed"
                elif not 200 <= status < 300:
                    error = f"HTTP {status}"
                failure = None if error is None else f"HTTP {status}"
            except targets.TargetRefused as exc:
                error, failure = f"refused: {exc}", "refused"
            except TimeoutError:
                error = f"no answer within {self.settings.webhook_timeout:g} s"
                failure = "timeout"
            except (httpx2.HTTPError, OSError) as exc:
                error, failure = f"{type(exc).__name__}: {exc}"[:300], type(exc).__name__
            if span is not None:
                # A webhook URL may carry a secret in its query: no error text here.
                if status is not None:
                    span.set_attribute("http.response.status_code", status)
                if failure is not None:
                    span.set_attribute("error.type", failure)
                    span.set_status(Status(StatusCode.ERROR))
        attempt = Attempt(
            number=message["attempt_count"],
            attempted_at=started,
            duration_ms=round((time.monotonic() - clock) * 1000),
            status_code=status,
            error=error,
            response_body=body,
        )
        assert self.pool is not None
        outcome = await service.record_attempt(
            self.pool,
            message=message,
            attempt=attempt,
            delivered=error is None,
            retry_schedule=self.settings.webhook_retry_schedule,
        )
        if self.metrics is not None:
            self.metrics.deliveries.labels(DELIVERY_OUTCOMES[outcome]).inc()
        if outcome == "FAILED":
            log.warning("webhook %s failed for good: %s", message["message_id"], error)

    @contextlib.contextmanager
    def _span(self, message: asyncpg.Record) -> Iterator[Any]:
        """The attempt's span when traces are on (its context goes out as `traceparent`)."""
        if self.tracer is None:
            yield None
            return
        with self.tracer.start_as_current_span(
            f"webhook {message['event_type']}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "POST",
                "webhook.event_type": message["event_type"],
                "webhook.attempt": message["attempt_count"],
            },
        ) as span:
            yield span

    async def _post(self, target: targets.Target, message: asyncpg.Record) -> tuple[int, str]:
        assert self.client is not None
        # Whole seconds, as the header carries them (and the signature covers).
        timestamp = datetime.fromtimestamp(int(time.time()), UTC)
        secrets = [message["secret"]] + (
            [message["previous_secret"]] if message["previous_secret"] else []
        )
        headers = {
            "host": _host_header(target),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message["message_id"],
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature_header(
                message["message_id"], timestamp, message["body"], secrets
            ),
        }
        if self.tracer is not None:
            propagate.inject(headers)  # traceparent: the attempt's span
        url = httpx2.URL(target.url).copy_with(host=target.address)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self.client.build_request(
            "POST", url, content=message["body"].encode(), headers=headers, extensions=extensions
        )
        response = await self.client.send(request, stream=True)
        try:
            prefix = b""
            async for chunk in response.aiter_raw():  # raw: nothing decompressed
                prefix += chunk
                if len(prefix) >= RESPONSE_PREFIX_BYTES:
                    break
        finally:
            await response.aclose()
        return response.status_code, prefix[:RESPONSE_PREFIX_BYTES].decode("utf-8", "replace")
