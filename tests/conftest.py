"""Test fixtures: one PostgreSQL per run, a fresh database per test.

With DATABASE_URL set, tests create their databases on that server (CI runs
the suite once more against a real PostgreSQL 15 that way); without it, an
embedded server is started in a temporary directory.

When DATABASE_URL names a database of a Citus cluster (the citus extension
is in it: `scripts/citus-cluster start`, CI's Citus pass), that database is
migrated once, which distributes it, and every test gets it emptied of rows
(a database per test would need the extension and the nodes in each, and
seconds of distribution each time). Tests that make databases of their own
(migrations, the fuzzer's server) make plain ones on the coordinator.
"""

import asyncio
import contextlib
import itertools
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import uvicorn
from mail_sink import shared_sink
from starlette.testclient import TestClient
from webhook_receiver import Receiver

from gql_server.app import create_app
from gql_server.db import EmbeddedPostgres, Pool, migrate
from gql_server.settings import Settings
from gql_server.web.serving import free_port, uvicorn_options

T = TypeVar("T")
TEMPLATE = "gql_test_template"
_counter = itertools.count()
# Set by server_dsn: the distributed database every test shares, on Citus.
_citus: dict[str, str] = {}

# Cheap hashing keeps the suite fast; the production cost is a setting.
FAST_HASHING: dict[str, Any] = {
    "argon2_time_cost": 1,
    "argon2_memory_kib": 1024,
    "argon2_parallelism": 1,
}


def with_database(dsn: str, name: str) -> str:
    """The same server, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """An admin DSN of the PostgreSQL server the tests use, with a migrated template."""
    embedded = None
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        # Not under /root: the embedded server's system user must reach it.
        tmp = tempfile.mkdtemp(prefix="gql-test-", dir="/tmp")
        embedded = EmbeddedPostgres(Path(tmp))
        dsn = embedded.start()
    try:
        asyncio.run(_admin(dsn, f"DROP DATABASE IF EXISTS {TEMPLATE}"))
        asyncio.run(_admin(dsn, f"CREATE DATABASE {TEMPLATE}"))
        asyncio.run(migrate(with_database(dsn, TEMPLATE)))
        if asyncio.run(_has_citus(dsn)):
            asyncio.run(migrate(dsn))
            _citus["dsn"] = dsn
        yield dsn
    finally:
        if embedded is not None:
            embedded.stop()


async def _has_citus(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(
            await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")
        )
    finally:
        await conn.close()


async def _empty(dsn: str) -> None:
    """Every row of every table but schema_migrations gone (the sequences go on)."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) AS name FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
        await conn.execute(f"TRUNCATE {', '.join(t['name'] for t in tables)} CASCADE")
    finally:
        await conn.close()


def is_citus() -> bool:
    """Whether the tests run on a Citus cluster (server_dsn decides)."""
    return "dsn" in _citus


@pytest.fixture
def database_dsn(server_dsn: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if is_citus():
        asyncio.run(_empty(_citus["dsn"]))
        yield _citus["dsn"]
        return
    name = f"gql_test_{os.getpid()}_{next(_counter)}"
    asyncio.run(
        _admin(server_dsn, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
    )
    yield with_database(server_dsn, name)
    asyncio.run(_admin(server_dsn, f"DROP DATABASE {name} WITH (FORCE)"))


def app_settings(dsn: str, **overrides: Any) -> Settings:
    # The webhook worker polls the database; tests that want it turn it on
    # (or drive it themselves: tests/test_webhooks.py). Tests sign up and in
    # many people from one address; tests/test_throttle.py sets the real limits.
    # Mail goes to the process's SMTP sink (tests/mail_sink.py).
    defaults = {**FAST_HASHING, "webhook_worker": False, "sign_ins_per_minute": 1_000_000,
                "sign_ups_per_minute": 1_000_000, "smtp_url": shared_sink().url,
                "public_url": "http://testserver"}  # fmt: skip
    return Settings(database_url=dsn, **{**defaults, **overrides})


class QueryLog:
    """Every SQL statement the app sends (asyncpg query logger).

    Leaves out asyncpg's type introspection, which runs once per connection
    for each type it has not seen yet, not per request.
    """

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, query: str) -> None:
        if "typeinfo_tree" in query or "set_config('jit'" in query:
            return
        self.statements.append(query)


class Api:
    """A client for the app under test, speaking GraphQL over HTTP."""

    def __init__(self, client: TestClient, queries: QueryLog) -> None:
        self.client = client
        self.queries = queries

    def post(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None,
             **headers: str) -> Any:  # fmt: skip
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.client.post("/graphql", json=body, headers=headers)

    def gql(self, query: str, variables: dict[str, Any] | None = None,
            token: str | None = None) -> dict[str, Any]:  # fmt: skip
        """The response body; the HTTP status must be 200."""
        response = self.post(query, variables, token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, variables: dict[str, Any] | None = None,
             token: str | None = None) -> Any:  # fmt: skip
        body = self.gql(query, variables, token)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def error(self, query: str, variables: dict[str, Any] | None = None,
              token: str | None = None) -> dict[str, Any]:  # fmt: skip
        """The single error of a request that must fail."""
        body = self.gql(query, variables, token)
        assert len(body.get("errors", [])) == 1, body
        error: dict[str, Any] = body["errors"][0]
        assert set(error["extensions"]) >= {"code", "status"}
        return error

    def code(self, query: str, variables: dict[str, Any] | None = None,
             token: str | None = None) -> int:  # fmt: skip
        code: int = self.error(query, variables, token)["extensions"]["code"]
        return code

    def run(self, work: Callable[[Pool], Awaitable[T]]) -> T:
        """Run `work(pool)` on the app's event loop (for setup the API does not offer)."""
        pool = self.client.app.state.pool  # type: ignore[attr-defined]
        portal = self.client.portal
        assert portal is not None

        async def call() -> T:
            return await work(pool)

        return portal.call(call)


@contextlib.contextmanager
def served(dsn: str, wrap: Callable[[Any], Any] | None = None, **overrides: Any) -> Iterator[str]:
    """The app under uvicorn on loopback, in a thread: real sockets, real concurrency.

    `wrap` puts an ASGI middleware of the test's in front (e.g. a fault switch).
    """
    port = free_port()
    settings = app_settings(dsn, **overrides)
    app = create_app(settings)
    # The test process's logging stays pytest's (caplog): not the server's config.
    options = {**uvicorn_options(settings), "log_config": None}
    config = uvicorn.Config(wrap(app) if wrap else app, port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def api(database_dsn: str) -> Iterator[Api]:
    queries = QueryLog()
    app = create_app(app_settings(database_dsn), on_query=queries)
    with TestClient(app) as client:
        yield Api(client, queries)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback (tests/webhook_receiver.py)."""
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def world(api: Api) -> Any:
    """A super admin, an organizer with its admin, an event with its admin, an attendee."""
    from helpers import make_world  # helpers imports this module

    return make_world(api)
