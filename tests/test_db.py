"""Migrations: each once, in a transaction, safe when servers start together."""

import asyncio
from pathlib import Path

import asyncpg
import pytest
from conftest import _admin, with_database

from gql_server import citus, db


@pytest.fixture
def empty_dsn(server_dsn: str) -> str:
    name = "gql_test_empty"
    asyncio.run(_admin(server_dsn, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
    return with_database(server_dsn, name)


async def applied(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")]
    finally:
        await conn.close()


def test_concurrent_starts_apply_each_migration_once(empty_dsn: str) -> None:
    async def start_three() -> list[list[str]]:
        return list(await asyncio.gather(*(db.migrate(empty_dsn) for _ in range(3))))

    results = asyncio.run(start_three())
    files = sorted(p.name for p in db.migrations_dir().glob("*.sql"))
    assert sorted(name for result in results for name in result) == files  # each by one
    assert sorted(asyncio.run(applied(empty_dsn))) == files
    assert asyncio.run(db.migrate(empty_dsn)) == []


def test_a_failing_migration_leaves_nothing_behind(
    empty_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE kept (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT 1/0;")
    monkeypatch.setattr(db, "migrations_dir", lambda: tmp_path)
    with pytest.raises(asyncpg.DivisionByZeroError):
        asyncio.run(db.migrate(empty_dsn))
    assert asyncio.run(applied(empty_dsn)) == ["0001_ok.sql"]

    async def tables() -> set[str]:
        conn = await asyncpg.connect(empty_dsn)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {r["tablename"] for r in rows}
        finally:
            await conn.close()

    assert "half" not in asyncio.run(tables())
    assert "kept" in asyncio.run(tables())


def test_every_event_table_has_event_id_first_in_its_primary_key(server_dsn: str) -> None:
    async def primary_keys() -> dict[str, list[str]]:
        conn = await asyncpg.connect(with_database(server_dsn, "gql_test_template"))
        try:
            rows = await conn.fetch(
                """
                SELECT c.relname AS table, array_agg(a.attname ORDER BY k.ord) AS columns
                FROM pg_index i
                JOIN pg_class c ON c.oid = i.indrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
                CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                WHERE i.indisprimary GROUP BY c.relname
                """
            )
            return {r["table"]: r["columns"] for r in rows}
        finally:
            await conn.close()

    async def other_keys() -> list[asyncpg.Record]:
        """Unique indexes and foreign keys: (table, columns, the table referred to)."""
        conn = await asyncpg.connect(with_database(server_dsn, "gql_test_template"))
        try:
            return await conn.fetch(
                """
                SELECT i.indrelid::regclass::text AS table,
                       array_agg(a.attname) AS columns, NULL AS refers_to
                FROM pg_index i
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = any(i.indkey)
                JOIN pg_class r ON r.oid = i.indrelid AND r.relnamespace = 'public'::regnamespace
                WHERE i.indisunique
                GROUP BY i.indexrelid, i.indrelid
                UNION ALL
                SELECT c.conrelid::regclass::text, array_agg(a.attname),
                       c.confrelid::regclass::text
                FROM pg_constraint c
                JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = any(c.conkey)
                WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
                GROUP BY c.oid, c.conrelid, c.confrelid
                """
            )
        finally:
            await conn.close()

    keys = asyncio.run(primary_keys())
    # Every table is placed on Citus (gql_server/citus.py), so none is left out when
    # a migration adds one: distributed by its event, a reference table, or local.
    placed = [t for t, _ in citus.EVENT_TABLES] + [*citus.REFERENCE_TABLES, *citus.LOCAL_TABLES]
    assert sorted(placed) == sorted(keys)
    for table, column in citus.EVENT_TABLES:
        # Citus: a distributed table's unique keys include its distribution column.
        assert keys[table][0] == column, (table, keys[table])
    assert keys["events"] == ["id"]
    # Unique keys, and foreign keys between tables of event data, include it too.
    distributed = dict(citus.EVENT_TABLES)
    for row in asyncio.run(other_keys()):
        table, refers_to = row["table"], row["refers_to"]
        if table in distributed and (refers_to is None or refers_to in distributed):
            assert distributed[table] in row["columns"], dict(row)


def test_a_connection_left_broken_by_asyncpg_leaves_the_pool(
    database_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg can leave a connection open with a broken protocol state when the
    server goes away mid-statement; it must not go back to the pool."""

    async def scenario() -> None:
        pool = await db.create_pool(database_dsn, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                broken = conn._con  # type: ignore[attr-defined]  # behind the proxy
                assert isinstance(broken, db.GuardedConnection)

                async def fail(*args: object, **kwargs: object) -> None:
                    raise asyncpg.InternalClientError("cannot switch to state 12")

                monkeypatch.setattr(broken, "_execute", fail)
                with pytest.raises(asyncpg.InternalClientError):
                    await conn.fetchval("SELECT $1::int", 1)
            assert broken.is_closed()
            assert await pool.fetchval("SELECT $1::int", 2) == 2  # a fresh connection
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_a_request_runs_its_statements_on_one_connection_and_never_holds_two(
    empty_dsn: str,
) -> None:
    async def scenario() -> None:
        pool = await db.create_pool(empty_dsn, min_size=1, max_size=1)
        try:
            request = db.RequestDatabase(pool)
            first = await request.fetchval("SELECT pg_backend_pid()")
            # Statements fired together (DataLoaders) run one after another on it.
            pids = await asyncio.gather(*(request.fetchval("SELECT pg_backend_pid()")
                                          for _ in range(5)))  # fmt: skip
            assert set(pids) == {first}
            # A transaction gives the kept connection back first: with a pool of
            # one, waiting for a second one would never end.
            async with asyncio.timeout(5), request.acquire() as conn, conn.transaction():
                assert await conn.fetchval("SELECT 1") == 1
            assert await request.fetchval("SELECT 2") == 2  # kept again
            request.stop_holding()  # a mutation: a pooled connection per statement
            assert await request.fetchval("SELECT 3") == 3
            async with asyncio.timeout(5), pool.acquire() as other:  # nothing kept
                assert await other.fetchval("SELECT 4") == 4
            await request.close()
            held = db.RequestDatabase(pool)
            await held.fetchval("SELECT 5")
            await held.close()  # the end of the request gives it back
            async with asyncio.timeout(5), pool.acquire() as other:
                assert await other.fetchval("SELECT 6") == 6
        finally:
            await pool.close()

    asyncio.run(scenario())
