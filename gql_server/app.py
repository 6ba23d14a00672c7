"""create_app(): the Starlette application; its lifespan owns the database and pool."""

import asyncio
import contextlib
import gc
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from gql_server.auth import Passwords
from gql_server.db import Database, QueryHook, create_pool, known_migrations, migrate
from gql_server.delivery import WebhookWorker
from gql_server.demo import DemoAudience
from gql_server.engine.cache import cache_of
from gql_server.mail import Mail
from gql_server.schema import Schema, create_schema, error_kind
from gql_server.services.throttle import Throttle
from gql_server.settings import Settings
from gql_server.telemetry.metrics import Metrics, may_scrape
from gql_server.web import headers
from gql_server.web.access_log import AccessLog
from gql_server.web.export import ExportSlots, sessions_csv, viewers_export
from gql_server.web.headers import STATIC
from gql_server.web.http import GraphQLEndpoint
from gql_server.web.media import clip_response
from gql_server.web.subscriptions import SubscriptionEndpoint

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from gql_server.telemetry.tracing import Tracing

log = logging.getLogger(__name__)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths and methods answer in the API's error shape, not plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Internal server error"
    body = {"errors": [{"message": detail, "extensions": {"code": status, "status": status}}]}
    return JSONResponse(body, status_code=status)


async def dashboard(request: Request) -> FileResponse:
    """The host dashboard: a static page over the public GraphQL API (static/)."""
    return FileResponse(
        STATIC / "dashboard.html",
        media_type="text/html",
        headers={"Content-Security-Policy": headers.DASHBOARD},
    )


async def watch_page(request: Request) -> FileResponse:
    """An attendee's watch page: sign in, register, play with the tracker attached."""
    return FileResponse(
        STATIC / "watch.html",
        media_type="text/html",
        headers={"Content-Security-Policy": headers.WATCH},
    )


async def verify_page(request: Request) -> FileResponse:
    """Where a verification link leads (gql_server/mail.py): one click confirms the address."""
    return FileResponse(
        STATIC / "verify.html",
        media_type="text/html",
        headers={"Content-Security-Policy": headers.DASHBOARD},
    )


async def tracker(request: Request) -> FileResponse:
    """The player tracker (static/tracker.js), for event platforms' pages on any origin.

    Cached for a year when asked for by its version (?v=...), as docs/tracker.md
    shows; an ES module loaded from another origin needs the CORS header.
    """
    current = request.query_params.get("v") == TRACKER_VERSION
    cache = "public, max-age=31536000, immutable" if current else "public, max-age=300"
    return FileResponse(
        STATIC / "tracker.js",
        media_type="text/javascript",
        headers={"Cache-Control": cache, "Access-Control-Allow-Origin": "*"},
    )


# The version the tracker declares (static/tracker.js: export const VERSION).
TRACKER_VERSION = re.findall(
    r'export const VERSION = "([^"]+)"', (STATIC / "tracker.js").read_text()
)[0]


async def close_pool(pool: Any) -> None:
    """Close the pool's connections politely; one that cannot be (a statement given
    up on while the database did not answer) is terminated instead of waited for."""
    try:
        async with asyncio.timeout(5):
            await pool.close()
    except Exception as error:  # TimeoutError included
        log.warning("the pool did not close cleanly (%s); its connections are terminated",
                    type(error).__name__)  # fmt: skip
        pool.terminate()


HEALTH_SECONDS = 2.0


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers (nothing else is checked, so an orchestrator does
    not restart a healthy server because its database is away: that is /readyz)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness, within HEALTH_SECONDS whatever the database does: it answers (one
    read of schema_migrations) and has every migration this code knows, and the webhook worker
    (when on) is running. 200 with each check, or 503 naming those that failed.

    The database check runs as a task of its own (one at a time, shared by the
    probes that come while it runs), so a frozen server, whose connection cannot
    even be given back, delays no probe past the bound."""
    state = request.app.state
    check: asyncio.Task[bool] | None = getattr(state, "ready_check", None)
    if check is None or check.done():
        check = state.ready_check = asyncio.get_running_loop().create_task(
            _database_ready(state.pool)
        )
    done, _ = await asyncio.wait({check}, timeout=HEALTH_SECONDS)
    if not done:
        checks = {"database": "no answer", "migrations": "unknown"}
    elif check.exception() is not None:
        checks = {"database": "unavailable", "migrations": "unknown"}
    else:
        checks = {"database": "ok", "migrations": "ok" if check.result() else "pending"}
    worker = getattr(state, "worker", None)
    checks["webhookWorker"] = "off" if worker is None else "ok" if worker.alive() else "stopped"
    ready = all(value in ("ok", "off") for value in checks.values())
    if not ready:
        log.warning("not ready: %s", ", ".join(f"{k} {v}" for k, v in checks.items()))
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


async def metrics_page(request: Request) -> Response:
    """Prometheus metrics (telemetry/metrics.py): to loopback callers and to those with
    the metrics token; 403 to anyone else, 404 when GQL_SERVER_METRICS is off."""
    state = request.app.state
    if state.metrics is None:
        raise HTTPException(404, "Not Found")
    token = state.settings.metrics_token
    if not may_scrape(request.scope, token.get_secret_value() if token else None):
        raise HTTPException(
            403, "Metrics are served to loopback callers and to those with the metrics token"
        )
    body, content_type = await state.metrics.scrape(request.headers.get("accept"), state)
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


async def _database_ready(pool: Any) -> bool:
    """Whether the database has every migration this code knows (it answered, or this
    raised)."""
    names = await pool.fetch("SELECT name FROM schema_migrations")
    return known_migrations() <= {row["name"] for row in names}


# Requests make no reference cycles (tests/test_garbage.py), so the cyclic
# garbage collector only has to look at objects that are still in use.
# Triggered every 700 net allocations (CPython's default), it ran a few
# hundred times a second under load, and its full passes over the objects
# of the loaded modules were a large part of the CPU of a recordWatch batch
# and spikes in p99 (docs/performance.md has the figures). So: what is
# alive after start-up is frozen (never scanned again), and a young
# collection waits for 10,000 net allocations (one request's in-flight
# objects stay well below that; cyclic garbage from error paths is still
# collected, a few MB later).
GC_YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """Frozen start-up heap and a patient young collection, while the app runs."""
    gc.collect()
    gc.freeze()
    before = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        # Back to normal for whatever else the process does (tests make many apps).
        gc.set_threshold(*before)
        gc.unfreeze()


def _note_metrics(app: Starlette) -> "asyncio.Task[None] | None":
    """With several server processes, each notes its pool and cache for the others'
    scrapes (telemetry/metrics.py); None with one."""
    metrics = app.state.metrics
    if metrics is None or metrics.multiprocess_dir is None:
        return None
    metrics.forget_dead_processes()
    return asyncio.get_running_loop().create_task(metrics.keep_noting(app.state))


def _tracing(settings: Settings, provider: "TracerProvider | None") -> "Tracing | None":
    if provider is None and settings.traces_exporter is None:
        return None  # nothing of OpenTelemetry's SDK is even imported
    from gql_server.telemetry.tracing import Tracing, provider_for

    provider = provider or provider_for(settings.traces_exporter)
    assert provider is not None
    return Tracing(provider)


def create_app(
    settings: Settings | None = None,
    *,
    on_query: QueryHook | None = None,
    schema: Schema | None = None,
    tracer_provider: "TracerProvider | None" = None,
) -> Starlette:
    """The app; `schema` one made by create_schema with these settings (default: made here).

    Traces (telemetry/tracing.py) go to `tracer_provider` when given (tests), else where
    the OTEL_* variables say (settings.traces_exporter), else nowhere."""
    settings = settings or Settings()
    tracing = _tracing(settings, tracer_provider)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = Database(settings)
        dsn = await asyncio.to_thread(database.start)
        try:
            await migrate(dsn)
            if tracing is not None:
                tracing.instrument_database()
            app.state.pool = await create_pool(
                dsn,
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                on_query=on_query,
                metrics=app.state.metrics,
            )
            worker = (
                WebhookWorker(
                    settings,
                    dsn,
                    metrics=app.state.metrics,
                    tracer=None if tracing is None else tracing.tracer,
                )
                if settings.webhook_worker
                else None
            )
            app.state.worker = worker
            audience = DemoAudience(app.state.pool) if settings.demo_audience else None
            noting = _note_metrics(app)
            try:
                if worker is not None:
                    await worker.start()
                if audience is not None:
                    audience.start()
                with settled_heap():
                    yield
            finally:
                if noting is not None:
                    noting.cancel()
                    app.state.metrics.stopping()
                if audience is not None:
                    await audience.stop()
                await app.state.mail.close()  # messages signUp left sending
                if worker is not None:
                    await worker.stop()
                check = getattr(app.state, "ready_check", None)
                if check is not None:
                    check.cancel()
                await close_pool(app.state.pool)
        finally:
            if tracing is not None:
                tracing.stop(own_provider=tracer_provider is None)
            await asyncio.to_thread(database.stop)

    middleware = [] if tracing is None else tracing.middleware()
    middleware += [Middleware(AccessLog), Middleware(headers.SecurityHeaders)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept"],
                max_age=600,
            )
        )
    schema = schema or create_schema(
        settings, extensions=[] if tracing is None else [tracing.extension(error_kind)]
    )
    endpoint = GraphQLEndpoint(
        schema, graphiql=settings.graphiql, max_response_bytes=settings.max_response_bytes
    )
    app = Starlette(
        middleware=middleware,
        routes=[
            Route("/graphql", endpoint, methods=None),
            WebSocketRoute("/graphql", SubscriptionEndpoint(schema)),
            Route("/events/{event_id}/sessions.csv", sessions_csv, methods=["GET"]),
            Route("/events/{event_id}/viewers.{format:str}", viewers_export, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_page, methods=["GET"]),
            Route("/", dashboard, methods=["GET"]),
            Route("/dashboard", dashboard, methods=["GET"]),
            Route("/watch/{session_id}", watch_page, methods=["GET"]),
            Route("/verify-email", verify_page, methods=["GET"]),
            Route("/tracker.js", tracker, methods=["GET"]),
            Route("/media/clip-{seconds:int}.wav", clip_response, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )
    # /graphql/ would redirect to /graphql on whatever host the Host header names.
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.schema = schema
    app.state.export_slots = ExportSlots(settings.export_concurrency, settings.export_per_token)
    app.state.throttle = Throttle(
        {"sign-in": settings.sign_ins_per_minute, "sign-up": settings.sign_ups_per_minute}
    )
    app.state.passwords = Passwords(settings)
    app.state.mail = Mail.from_settings(settings)
    app.state.metrics = (
        Metrics(settings.metrics_operations, settings.prometheus_multiproc_dir)
        if settings.metrics
        else None
    )
    app.state.engine_cache = cache_of(schema._schema)  # its size is a metric
    return app
