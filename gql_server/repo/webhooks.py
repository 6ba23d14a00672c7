"""Webhook endpoints, the outbox of messages, delivery attempts, per-session send state."""

import random
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg

from gql_server.db import Connection, Executor
from gql_server.repo.sessions import SESSION_COLUMNS, STATS_COLUMNS

ENDPOINT_COLUMNS = (
    "w.id, w.event_id, w.url, w.event_types, w.enabled, w.created_at, w.secret_rotated_at"
)
MESSAGE_COLUMNS = (
    "m.id, m.event_id, m.endpoint_id, m.message_id, m.event_type, m.body, m.status,"
    " m.attempt_count, m.next_attempt_at, m.created_at, m.delivered_at"
)
# The actor's roles on the endpoint's event, as GET_EVENT_ACCESS gives them.
ROLES = """
       EXISTS (SELECT 1 FROM organizer_admins a JOIN events e ON e.organizer_id = a.organizer_id
               WHERE e.id = w.event_id AND a.user_id = $2) AS organizer_admin,
       EXISTS (SELECT 1 FROM event_admins a
               WHERE a.event_id = w.event_id AND a.user_id = $2) AS event_admin"""


async def create_endpoint(
    db: Executor, *, event_id: int, url: str, secret: str, event_types: list[str]
) -> asyncpg.Record:
    row = await db.fetchrow(
        "WITH w AS ("
        "   INSERT INTO webhook_endpoints (event_id, url, secret, event_types)"
        "   VALUES ($1, $2, $3, $4) RETURNING *"
        "), lookup AS ("
        "   INSERT INTO webhook_endpoint_events (endpoint_id, event_id) SELECT id, event_id FROM w"
        f") SELECT {ENDPOINT_COLUMNS} FROM w",
        event_id,
        url,
        secret,
        event_types,
    )
    assert row is not None
    return row


async def get_endpoint_access(
    db: Executor, *, endpoint_id: int, user_id: int
) -> asyncpg.Record | None:
    """The endpoint and the user's roles on its event; None if there is no such endpoint.

    Its event is looked up first (webhook_endpoint_events, a reference table on Citus),
    so the endpoint is read from that event's shard alone."""
    event_id = await db.fetchval(
        "SELECT event_id FROM webhook_endpoint_events WHERE endpoint_id = $1", endpoint_id
    )
    if event_id is None:
        return None
    return await db.fetchrow(
        f"SELECT {ENDPOINT_COLUMNS}, {ROLES} FROM webhook_endpoints w"
        " WHERE w.event_id = $3 AND w.id = $1",
        endpoint_id,
        user_id,
        event_id,
    )


async def list_endpoints(db: Executor, *, event_id: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints w WHERE w.event_id = $1 ORDER BY w.id",
        event_id,
    )


async def update_endpoint(
    db: Executor, *, event_id: int, endpoint_id: int, url: str, event_types: list[str],
    enabled: bool,
) -> asyncpg.Record:  # fmt: skip
    row = await db.fetchrow(
        "UPDATE webhook_endpoints w SET url = $2, event_types = $3, enabled = $4"
        f" WHERE w.event_id = $5 AND w.id = $1 RETURNING {ENDPOINT_COLUMNS}",
        endpoint_id,
        url,
        event_types,
        enabled,
        event_id,
    )
    assert row is not None
    return row


async def rotate_secret(
    db: Executor, *, event_id: int, endpoint_id: int, secret: str, overlap_seconds: int
) -> asyncpg.Record:
    """A new secret; the old one keeps signing (beside it) for overlap_seconds."""
    row = await db.fetchrow(
        "UPDATE webhook_endpoints w SET previous_secret = w.secret,"
        "   previous_secret_until = now() + make_interval(secs => $3),"
        "   secret = $2, secret_rotated_at = now()"
        f" WHERE w.event_id = $4 AND w.id = $1 RETURNING {ENDPOINT_COLUMNS}",
        endpoint_id,
        secret,
        overlap_seconds,
        event_id,
    )
    assert row is not None
    return row


async def delete_endpoint(db: Executor, *, event_id: int, endpoint_id: int) -> None:
    await db.execute(
        "WITH gone AS (DELETE FROM webhook_endpoints WHERE event_id = $1 AND id = $2)"
        " DELETE FROM webhook_endpoint_events WHERE endpoint_id = $2",
        event_id,
        endpoint_id,
    )


async def last_event_report(conn: Executor, *, event_id: int) -> datetime | None:
    """When the event's newest event.report was queued; the event's row is locked
    first, so two requests for one event are counted one after the other."""
    await conn.execute("SELECT 1 FROM events WHERE id = $1 FOR UPDATE", event_id)
    last: datetime | None = await conn.fetchval(
        "SELECT max(m.created_at) FROM webhook_messages m"
        " WHERE m.event_id = $1 AND m.event_type = $2",
        event_id,
        "event.report",
    )
    return last


async def subscribed_endpoints(db: Executor, *, event_id: int, event_type: str) -> list[int]:
    rows = await db.fetch(
        "SELECT id FROM webhook_endpoints"
        " WHERE event_id = $1 AND enabled AND $2 = any(event_types) ORDER BY id",
        event_id,
        event_type,
    )
    return [row["id"] for row in rows]


class NewMessage(NamedTuple):
    event_id: int
    endpoint_id: int
    message_id: str
    event_type: str
    body: str


async def enqueue(db: Executor, messages: Sequence[NewMessage]) -> None:
    if not messages:
        return
    await db.execute(
        "INSERT INTO webhook_messages (event_id, endpoint_id, message_id, event_type, body)"
        " SELECT * FROM unnest($5::bigint[], $1::bigint[], $2::text[], $3::text[], $4::text[])",
        [m.endpoint_id for m in messages],
        [m.message_id for m in messages],
        [m.event_type for m in messages],
        [m.body for m in messages],
        [m.event_id for m in messages],
    )


# --- the delivery log -------------------------------------------------------


async def list_messages(
    db: Executor, *, event_id: int, endpoint_id: int, status: str | None,
    before_id: int | None, limit: int,
) -> list[asyncpg.Record]:  # fmt: skip
    """An endpoint's messages, newest first."""
    return await db.fetch(
        f"SELECT {MESSAGE_COLUMNS} FROM webhook_messages m"
        " WHERE m.event_id = $5 AND m.endpoint_id = $1 AND ($2::text IS NULL OR m.status = $2)"
        "   AND ($3::bigint IS NULL OR m.id < $3)"
        " ORDER BY m.id DESC LIMIT $4",
        endpoint_id,
        status,
        before_id,
        limit,
        event_id,
    )


async def count_messages(
    db: Executor, *, event_id: int, endpoint_id: int, status: str | None
) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM webhook_messages"
        " WHERE event_id = $3 AND endpoint_id = $1 AND ($2::text IS NULL OR status = $2)",
        endpoint_id,
        status,
        event_id,
    )
    return count


async def load_attempts(
    db: Executor, event_ids: list[int], message_ids: list[int]
) -> list[asyncpg.Record]:
    """The attempts of these messages (of these events: one page is one endpoint's)."""
    return await db.fetch(
        "SELECT event_id, message_id, number, attempted_at, duration_ms, status_code, error,"
        " response_body FROM webhook_attempts"
        " WHERE event_id = any($2::bigint[]) AND message_id = any($1::bigint[])"
        " ORDER BY message_id, number",
        message_ids,
        sorted(set(event_ids)),
    )


async def get_message_access(
    db: Executor, *, message_id: int, user_id: int
) -> asyncpg.Record | None:
    """The message and the user's roles on its endpoint's event; None if there is none.

    A delivery is named by its id alone, so on Citus this asks every shard (an index
    probe each, in parallel): a host's manual resend, not a request of the read or
    ingest path (docs/scaling.md)."""
    return await db.fetchrow(
        f"SELECT {MESSAGE_COLUMNS}, {ROLES}"
        " FROM webhook_messages m"
        " JOIN webhook_endpoints w ON w.event_id = m.event_id AND w.id = m.endpoint_id"
        " WHERE m.id = $1",
        message_id,
        user_id,
    )


async def resend(db: Executor, *, event_id: int, message_id: int) -> asyncpg.Record:
    """A new series of attempts, starting now (the same webhook-id: receivers dedupe)."""
    row = await db.fetchrow(
        "UPDATE webhook_messages m SET status = 'PENDING', series_attempts = 0,"
        "   next_attempt_at = now(), locked_until = NULL"
        f" WHERE m.event_id = $2 AND m.id = $1 RETURNING {MESSAGE_COLUMNS}",
        message_id,
        event_id,
    )
    assert row is not None
    return row


# --- the delivery worker ----------------------------------------------------

# The head of each enabled endpoint's queue that is due and not held by a
# worker, claimed for lease_seconds, among the messages of some events ($3). SKIP
# LOCKED: workers in other processes claim other heads at the same moment; a head
# that one holds (row lock, then lease) is the minimum pending id of its endpoint,
# so no worker can take the message behind it: in order per endpoint.
CLAIM = """
WITH heads AS (
    SELECT DISTINCT ON (m.endpoint_id) m.id
    FROM webhook_messages m
    WHERE m.event_id = any($3::bigint[]) AND m.status = 'PENDING'
    ORDER BY m.endpoint_id, m.id
), claimable AS (
    SELECT m.id FROM webhook_messages m
    JOIN webhook_endpoints w ON w.event_id = m.event_id AND w.id = m.endpoint_id AND w.enabled
    WHERE m.event_id = any($3::bigint[]) AND w.event_id = any($3::bigint[])
      AND m.id IN (SELECT id FROM heads) AND m.next_attempt_at <= now()
      AND (m.locked_until IS NULL OR m.locked_until <= now())
    ORDER BY m.next_attempt_at, m.id
    LIMIT $1
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE webhook_messages m
SET locked_until = now() + make_interval(secs => $2),
    attempt_count = m.attempt_count + 1, series_attempts = m.series_attempts + 1
FROM webhook_endpoints w
WHERE m.event_id = any($3::bigint[]) AND w.event_id = any($3::bigint[])
  AND m.id IN (SELECT id FROM claimable) AND w.event_id = m.event_id AND w.id = m.endpoint_id
RETURNING m.id, m.event_id, m.message_id, m.event_type, m.body, m.attempt_count,
          m.series_attempts, w.url, w.secret,
          CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END
              AS previous_secret
"""

# The events with endpoints, in groups a claim reads together: on Citus the events
# whose rows share a shard, so each claim asks one shard; on one PostgreSQL, one
# group of them all (event_group(): migrations/0013, gql_server/citus.py).
CLAIM_GROUPS = """
SELECT array_agg(DISTINCT event_id ORDER BY event_id) AS event_ids
FROM webhook_endpoint_events GROUP BY event_group(event_id) ORDER BY min(event_id)
"""


async def claim(db: Executor, *, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Up to `limit` messages to send, one statement per group of events; the groups
    are visited from a random one on, so none waits behind a busy one."""
    groups = [row["event_ids"] for row in await db.fetch(CLAIM_GROUPS)]
    first = random.randrange(len(groups)) if groups else 0
    claimed: list[asyncpg.Record] = []
    for events in groups[first:] + groups[:first]:
        if len(claimed) >= limit:
            break
        claimed += await db.fetch(CLAIM, limit - len(claimed), lease_seconds, events)
    return claimed


class Attempt(NamedTuple):
    number: int
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None


# outcome: DELIVERED, FAILED, or PENDING with the next attempt in retry_in seconds.
# "now" comes from a CTE: Citus refuses now() inside CASE on a distributed table.
RECORD_ATTEMPT = """
WITH attempt AS (
    INSERT INTO webhook_attempts (event_id, message_id, number, attempted_at, duration_ms,
                                  status_code, error, response_body)
    VALUES ($10, $1, $2, $3, $4, $5, $6, $7)
), clock AS (
    SELECT now() AS now
)
UPDATE webhook_messages m SET status = $8, locked_until = NULL,
    delivered_at = CASE WHEN $8 = 'DELIVERED' THEN clock.now END,
    next_attempt_at = CASE WHEN $8 = 'PENDING' THEN clock.now + make_interval(secs => $9)
                           ELSE m.next_attempt_at END
FROM clock
WHERE m.event_id = $10 AND m.id = $1
"""


async def record_attempt(
    db: Executor, *, event_id: int, message_id: int, attempt: Attempt, outcome: str,
    retry_in: float,
) -> None:  # fmt: skip
    await db.execute(RECORD_ATTEMPT, message_id, *attempt, outcome, retry_in, event_id)


async def prune(db: Executor, *, older_than_days: int) -> int:
    """Delete finished messages (and their attempts) older than that; how many."""
    status: str = await db.execute(
        "DELETE FROM webhook_messages WHERE status <> 'PENDING'"
        " AND created_at < now() - make_interval(days => $1)",
        older_than_days,
    )
    return int(status.split()[-1])


# --- the scheduler: session.ended and session.updated -----------------------

SESSION_DATA_COLUMNS = (
    f"{SESSION_COLUMNS}, {STATS_COLUMNS}, s.updated_at AS session_updated_at,"
    " ARRAY(SELECT e.id FROM webhook_endpoints e WHERE e.event_id = s.event_id AND e.enabled"
    "       AND $1 = any(e.event_types) ORDER BY e.id) AS endpoint_ids,"
    " EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.event_id = s.event_id AND e.enabled"
    "       AND e.event_types && ARRAY['session.ended', 'session.updated']) AS watched"
)
SESSION_JOINS = (
    " FROM webhook_session_state ws"
    " JOIN sessions s ON s.event_id = ws.event_id AND s.id = ws.session_id"
    " JOIN session_stats st ON st.event_id = ws.event_id AND st.session_id = ws.session_id"
)


async def try_scheduler_lock(conn: Connection, lock_id: int) -> bool:
    """One scheduler pass at a time across processes (held until the transaction ends)."""
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_id)
    return taken


async def ended_sessions(
    conn: Connection, *, grace_seconds: int, limit: int
) -> list[asyncpg.Record]:
    """Sessions whose end time plus the grace period has passed and that were not handled."""
    return await conn.fetch(
        f"SELECT {SESSION_DATA_COLUMNS}{SESSION_JOINS}"
        " WHERE ws.ended_sent_at IS NULL AND s.end_time <= now() - make_interval(secs => $2)"
        " ORDER BY s.end_time, s.id LIMIT $3",
        "session.ended",
        grace_seconds,
        limit,
    )


async def changed_sessions(conn: Connection, *, limit: int) -> list[asyncpg.Record]:
    """Sessions already sent whose counters or own fields were written since."""
    return await conn.fetch(
        f"SELECT {SESSION_DATA_COLUMNS}, ws.sent_data{SESSION_JOINS}"
        " WHERE ws.sent_data IS NOT NULL"
        "   AND (st.updated_at IS DISTINCT FROM ws.seen_stats_at"
        "        OR s.updated_at IS DISTINCT FROM ws.seen_session_at)"
        " ORDER BY s.event_id, s.id LIMIT $2",
        "session.updated",
        limit,
    )


class SessionSent(NamedTuple):
    event_id: int
    session_id: int
    data: str | None  # JSON text; None: nobody listens (nothing to compare later)
    seen_stats_at: datetime
    seen_session_at: datetime


async def mark_sent(conn: Connection, sent: Sequence[SessionSent]) -> None:
    await conn.execute(
        # "now" from a CTE: Citus refuses now() inside coalesce on a distributed table.
        "WITH clock AS (SELECT now() AS now)"
        " UPDATE webhook_session_state ws"
        " SET ended_sent_at = coalesce(ws.ended_sent_at, clock.now),"
        "   sent_data = u.data, seen_stats_at = u.stats_at, seen_session_at = u.session_at"
        " FROM clock, unnest($1::bigint[], $2::bigint[], $3::jsonb[], $4::timestamptz[],"
        "             $5::timestamptz[]) AS u(event_id, session_id, data, stats_at, session_at)"
        " WHERE ws.event_id = u.event_id AND ws.session_id = u.session_id",
        [s.event_id for s in sent],
        [s.session_id for s in sent],
        [s.data for s in sent],
        [s.seen_stats_at for s in sent],
        [s.seen_session_at for s in sent],
    )


async def event_sessions(db: Executor, *, event_id: int) -> list[asyncpg.Record]:
    """Every session of the event with its counters, by start time (event.report)."""
    return await db.fetch(
        f"SELECT {SESSION_COLUMNS}, {STATS_COLUMNS}"
        " FROM sessions s JOIN session_stats st"
        "   ON st.event_id = s.event_id AND st.session_id = s.id"
        " WHERE s.event_id = $1 ORDER BY s.start_time, s.id",
        event_id,
    )
