"""Distribution on Citus (docs/scaling.md): which table goes where, done by `migrate`.

On a database where the citus extension is present, `distribute()` makes the
global tables reference tables (a copy on every node) and distributes every
table of event data by its event, colocated with `events`, so that everything
one event has lives on one shard group. It runs after the migrations, every
time, and only does what is not done yet: a fresh cluster, and a single-node
database moved to Citus (its rows are copied into the shards), take the same
path. On plain PostgreSQL it does nothing.

Every table of the schema is named below (tests/test_db.py holds the list to
the schema), so a new table cannot be left out by accident.
"""

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

    # migrate()'s own connection (not a pooled one): db.py calls in here.
    Connection = asyncpg.Connection[Any]

log = logging.getLogger(__name__)

# Small, global, read on most requests: a copy on every node, in an order where
# a table comes after those it refers to.
REFERENCE_TABLES = (
    "users",
    "organizers",
    "organizer_admins",
    "auth_tokens",
    "login_failures",
    "email_verifications",
    "erasures",
    "session_events",
    "webhook_endpoint_events",
)
# Event data, distributed by the column named, colocated with events; a table
# comes after those it refers to.
EVENT_TABLES = (
    ("events", "id"),
    ("event_admins", "event_id"),
    ("event_attendees", "event_id"),
    ("sessions", "event_id"),
    ("session_stats", "event_id"),
    ("session_registrations", "event_id"),
    ("session_joins", "event_id"),
    ("viewer_watch", "event_id"),
    ("watch_segments", "event_id"),
    ("watch_slots", "event_id"),
    ("webhook_session_state", "event_id"),
    ("webhook_endpoints", "event_id"),
    ("webhook_messages", "event_id"),
    ("webhook_attempts", "event_id"),
)
# Stays a plain table on the coordinator: read and written by migrate alone.
LOCAL_TABLES = ("schema_migrations",)


# The webhook worker claims the events of one shard group at a time (repo/webhooks.py
# CLAIM_GROUPS); on plain PostgreSQL event_group() is 0 for all (migrations/0013).
EVENT_GROUP = """
CREATE OR REPLACE FUNCTION event_group(event_id bigint) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT get_shard_id_for_distribution_column('events', event_id) $$
"""


async def has_citus(conn: "Connection") -> bool:
    present: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"
    )
    return present


async def distribute(conn: "Connection") -> list[str]:
    """Distribute what is not distributed yet; the tables done now (none off Citus).

    Runs in one transaction: a failure leaves every table as it was.
    """
    if not await has_citus(conn):
        return []
    done = {
        row["name"]
        for row in await conn.fetch(
            "SELECT logicalrelid::regclass::text AS name FROM pg_dist_partition"
        )
    }
    todo_reference = [t for t in REFERENCE_TABLES if t not in done]
    todo_event = [(t, column) for t, column in EVENT_TABLES if t not in done]
    if not todo_reference and not todo_event:
        await _distribute_functions(conn)
        await conn.execute(EVENT_GROUP)
        return []
    async with conn.transaction():
        # Without this, making `users` a reference table would turn every table
        # with a foreign key to it into a "Citus local table", which then cannot
        # be colocated with events (the error issue 31 quotes).
        await conn.execute("SET LOCAL citus.enable_local_reference_table_foreign_keys = off")
        # Tables with foreign keys to reference tables made in this transaction
        # must be distributed over one connection per node.
        await conn.execute("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
        await _distribute_functions(conn)
        names = todo_reference + [t for t, _ in todo_event]
        with_rows = [t for t in names if await conn.fetchval(f"SELECT EXISTS (SELECT FROM {t})")]
        for table in todo_reference:
            await conn.execute("SELECT create_reference_table($1)", table)
        for table, column in todo_event:
            colocate = "none" if table == "events" else "events"
            await conn.execute(
                "SELECT create_distributed_table($1, $2, colocate_with => $3)",
                table,
                column,
                colocate,
            )
        await conn.execute(EVENT_GROUP)
        for table in with_rows:
            # Rows of a database that was single-node were copied into the shards;
            # the coordinator's own copy is no longer read.
            await conn.execute("SELECT truncate_local_data_after_distributing_table($1)", table)
    log.info("distributed on Citus: %s", ", ".join(names))
    return names


async def _distribute_functions(conn: "Connection") -> None:
    """Our SQL functions on every node (statements on the shards call them).

    Citus copies a function made after the extension to the workers by itself;
    those made before it (a database moved to Citus) are copied here.
    """
    rows = await conn.fetch(
        "SELECT p.oid::regprocedure::text AS signature FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND NOT EXISTS ("
        "   SELECT 1 FROM pg_catalog.pg_dist_object o"
        "   WHERE o.classid = 'pg_proc'::regclass AND o.objid = p.oid)"
        "   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
    )
    for row in rows:
        await conn.execute("SELECT create_distributed_function($1)", row["signature"])
