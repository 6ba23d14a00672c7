"""Webhook endpoints, the messages they are sent, and the scheduler that makes
session.ended / session.updated (docs/webhooks.md)."""

import base64
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from gql_server import auth
from gql_server.analytics import rules
from gql_server.auth import Actor
from gql_server.db import Executor, Pool
from gql_server.errors import (
    TOO_MANY_REQUESTS,
    WEBHOOK_DELIVERY_NOT_FOUND,
    WEBHOOK_ENDPOINT_NOT_FOUND,
    ApiError,
    bad_input,
)
from gql_server.repo import webhooks as repo
from gql_server.repo.webhooks import Attempt, NewMessage, SessionSent
from gql_server.services.events import get_hosted_event
from gql_server.services.sessions import numbers_of_row
from gql_server.values import targets
from gql_server.values.cursors import decode_cursor, encode_cursor
from gql_server.values.ids import get_by_id

SESSION_ENDED = "session.ended"
SESSION_UPDATED = "session.updated"
EVENT_REPORT = "event.report"
EVENT_TYPES = (SESSION_ENDED, SESSION_UPDATED, EVENT_REPORT)
MAX_ENDPOINTS_PER_EVENT = 20
# After a rotation the old secret signs beside the new one for a day, so a
# receiver can switch without dropping messages (Standard Webhooks allows
# several signatures in webhook-signature).
ROTATION_OVERLAP_SECONDS = 86_400
MAX_DELIVERY_PAGE = 100
SCHEDULER_LOCK_ID = 0x77656268  # "webh": one scheduler pass at a time, any process
SCHEDULER_BATCH = 500


def new_secret() -> str:
    """A Standard Webhooks signing secret: whsec_ and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def _valid_event_types(event_types: Sequence[str]) -> list[str]:
    if not event_types:
        raise bad_input("eventTypes must name at least one event type")
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    assert not unknown, unknown  # the GraphQL enum admits no other
    return [t for t in EVENT_TYPES if t in event_types]


async def _valid_url(url: str, allowed_hosts: Sequence[str]) -> str:
    try:
        await targets.resolve(url, allowed_hosts)
    except targets.TargetRefused as exc:
        raise bad_input(str(exc)) from None
    return url


async def create_endpoint(
    pool: Pool,
    actor: Actor | None,
    *,
    event_id: str,
    url: str,
    event_types: Sequence[str],
    allowed_hosts: Sequence[str],
) -> tuple[asyncpg.Record, str]:
    """A new endpoint and its secret (shown this once). A host of the event."""
    event = await get_hosted_event(pool, actor, event_id=event_id)
    types = _valid_event_types(event_types)
    url = await _valid_url(url, allowed_hosts)
    async with pool.acquire() as conn, conn.transaction():
        existing = await repo.list_endpoints(conn, event_id=event["id"])
        if len(existing) >= MAX_ENDPOINTS_PER_EVENT:
            raise bad_input(f"an event has at most {MAX_ENDPOINTS_PER_EVENT} webhook endpoints")
        secret = new_secret()
        row = await repo.create_endpoint(
            conn, event_id=event["id"], url=url, secret=secret, event_types=types
        )
    return row, secret


async def list_endpoints(db: Executor, *, event_id: int) -> list[asyncpg.Record]:
    return await repo.list_endpoints(db, event_id=event_id)


async def get_hosted_endpoint(
    db: Executor, actor: Actor | None, *, endpoint_id: str
) -> asyncpg.Record:
    """An endpoint of an event the actor hosts: 401, then 4040300, then 4030201."""
    actor = auth.require_actor(actor)
    row = await get_by_id(
        endpoint_id,
        lambda i: repo.get_endpoint_access(db, endpoint_id=i, user_id=actor.user_id),
        WEBHOOK_ENDPOINT_NOT_FOUND,
    )
    auth.require_host(actor, row)
    return row


async def update_endpoint(
    pool: Pool,
    actor: Actor | None,
    *,
    endpoint_id: str,
    changes: dict[str, Any],
    allowed_hosts: Sequence[str],
) -> asyncpg.Record:
    """Only the given fields change (url, event_types, enabled)."""
    row = await get_hosted_endpoint(pool, actor, endpoint_id=endpoint_id)
    for field in ("url", "event_types", "enabled"):
        if field in changes and changes[field] is None:
            raise bad_input(f"{'eventTypes' if field == 'event_types' else field} cannot be null")
    url = changes.get("url", row["url"])
    if "url" in changes:
        url = await _valid_url(url, allowed_hosts)
    types = _valid_event_types(changes.get("event_types", row["event_types"]))
    return await repo.update_endpoint(
        pool,
        event_id=row["event_id"],
        endpoint_id=row["id"],
        url=url,
        event_types=types,
        enabled=changes.get("enabled", row["enabled"]),
    )


async def rotate_secret(
    pool: Pool, actor: Actor | None, *, endpoint_id: str
) -> tuple[asyncpg.Record, str]:
    row = await get_hosted_endpoint(pool, actor, endpoint_id=endpoint_id)
    secret = new_secret()
    updated = await repo.rotate_secret(
        pool,
        event_id=row["event_id"],
        endpoint_id=row["id"],
        secret=secret,
        overlap_seconds=ROTATION_OVERLAP_SECONDS,
    )
    return updated, secret


async def delete_endpoint(pool: Pool, actor: Actor | None, *, endpoint_id: str) -> None:
    """The endpoint and its messages (pending ones are not sent)."""
    row = await get_hosted_endpoint(pool, actor, endpoint_id=endpoint_id)
    await repo.delete_endpoint(pool, event_id=row["event_id"], endpoint_id=row["id"])


# --- message bodies ---------------------------------------------------------


def _time(value: datetime) -> str:
    return value.isoformat()


def session_data(row: asyncpg.Record) -> dict[str, Any]:
    """A session and its numbers under the API's field names (Session)."""
    fmt, provider = row["format"], row["stream_provider"]
    numbers = numbers_of_row(row)
    live, recording = numbers.live_seconds, numbers.recording_seconds
    watch_time = (
        {"live": live, "recording": recording, "total": live + recording}
        if live is not None and recording is not None
        else None
    )
    sid = str(row["id"])
    return {
        "id": sid,
        "sessionId": sid,
        "eventId": str(row["event_id"]),
        "title": row["title"],
        "startTime": _time(row["start_time"]),
        "endTime": _time(row["end_time"]),
        "format": fmt,
        "streamProvider": provider,
        "duration": row["video_duration"] if rules.has_video(fmt, provider) else None,
        "analyticsAvailable": rules.analytics_available(fmt, provider),
        "registeredUserCount": numbers.registered_user_count,
        "attendeeCount": numbers.attendee_count,
        "watchTime": watch_time,
        "avgAttendedDuration": numbers.avg_attended_duration,
        "avgRecordingDuration": numbers.avg_recording_duration,
        "liveViews": numbers.live_views,
        "recordingViews": numbers.recording_views,
        "liveEngagement": numbers.live_engagement,
        "recordingEngagement": numbers.recording_engagement,
        "asOf": _time(numbers.as_of),
    }


def message_body(event_type: str, data: dict[str, Any], at: datetime | None = None) -> str:
    """Standard Webhooks' payload shape: type, timestamp, data."""
    at = at or datetime.now(UTC)
    return orjson.dumps({"type": event_type, "timestamp": _time(at), "data": data}).decode()


def _messages(
    event_id: int, endpoint_ids: Sequence[int], event_type: str, body: str
) -> list[NewMessage]:
    return [NewMessage(event_id, e, new_message_id(), event_type, body) for e in endpoint_ids]


REPORT_INTERVAL = timedelta(minutes=5)


async def request_event_report(pool: Pool, actor: Actor | None, *, event_id: str) -> int:
    """Queue event.report (every session's numbers) for the endpoints that want it;
    how many messages were queued."""
    event = await get_hosted_event(pool, actor, event_id=event_id)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        endpoint_ids = await repo.subscribed_endpoints(
            conn, event_id=event["id"], event_type=EVENT_REPORT
        )
        if not endpoint_ids:
            return 0
        # A report is the whole event: one per event per REPORT_INTERVAL (five
        # aliased calls queued 100 messages, 85 MB of bodies).
        last = await repo.last_event_report(conn, event_id=event["id"])
        now = datetime.now(UTC)
        if last is not None and now - last < REPORT_INTERVAL:
            allowed = last + REPORT_INTERVAL
            raise ApiError(
                TOO_MANY_REQUESTS,
                f"An event report was queued at {last.isoformat(timespec='seconds')};"
                f" the next may be requested from {allowed.isoformat(timespec='seconds')}",
                **{"Retry-After": str(max(1, math.ceil((allowed - now).total_seconds())))},
            )
        rows = await repo.event_sessions(conn, event_id=event["id"])
        data = {
            "event": {"id": str(event["id"]), "name": event["name"]},
            "sessionCount": len(rows),
            "sessions": [session_data(row) for row in rows],
        }
        await repo.enqueue(
            conn,
            _messages(event["id"], endpoint_ids, EVENT_REPORT, message_body(EVENT_REPORT, data)),
        )
    return len(endpoint_ids)


# --- the delivery log -------------------------------------------------------

STATUSES = ("PENDING", "DELIVERED", "FAILED")


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[asyncpg.Record]
    has_next_page: bool
    total_count: int
    end_cursor: str | None


async def list_deliveries(
    db: Executor, *, event_id: int, endpoint_id: int, first: int, after: str | None,
    status: str | None,
) -> DeliveryPage:  # fmt: skip
    """An endpoint's messages, newest first."""
    if not 1 <= first <= MAX_DELIVERY_PAGE:
        raise bad_input(f"first must be between 1 and {MAX_DELIVERY_PAGE}")
    before = decode_cursor(after, "ID_DESC", status)[1] if after is not None else None
    key = {"event_id": event_id, "endpoint_id": endpoint_id}
    rows = await repo.list_messages(db, **key, status=status, before_id=before, limit=first + 1)
    total = await repo.count_messages(db, **key, status=status)
    page = rows[:first]
    end = encode_cursor("ID_DESC", status, (0, page[-1]["id"])) if page else None
    return DeliveryPage(page, len(rows) > first, total, end)


async def load_attempts(db: Executor, keys: list[tuple[int, int]]) -> list[list[asyncpg.Record]]:
    """Each message's attempts; keys are (event id, message id)."""
    rows = await repo.load_attempts(db, [k[0] for k in keys], [k[1] for k in keys])
    by_message: dict[tuple[int, int], list[asyncpg.Record]] = {k: [] for k in keys}
    for row in rows:
        by_message[row["event_id"], row["message_id"]].append(row)
    return [by_message[k] for k in keys]


async def resend_delivery(pool: Pool, actor: Actor | None, *, delivery_id: str) -> asyncpg.Record:
    """A failed (or delivered) message, sent again from now on with the same webhook-id."""
    actor = auth.require_actor(actor)
    row = await get_by_id(
        delivery_id,
        lambda i: repo.get_message_access(pool, message_id=i, user_id=actor.user_id),
        WEBHOOK_DELIVERY_NOT_FOUND,
    )
    auth.require_host(actor, row)
    if row["status"] == "PENDING":
        raise bad_input("the delivery is still pending: it is being sent")
    return await repo.resend(pool, event_id=row["event_id"], message_id=row["id"])


# --- the worker's side ------------------------------------------------------


async def claim(pool: Pool, *, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    return await repo.claim(pool, limit=limit, lease_seconds=lease_seconds)


async def record_attempt(
    pool: Pool,
    *,
    message: asyncpg.Record,
    attempt: Attempt,
    delivered: bool,
    retry_schedule: Sequence[float],
) -> str:
    """Log the attempt and settle the message: DELIVERED, PENDING (retry) or FAILED."""
    retries = message["series_attempts"] - 1  # attempts of this series before this one
    if delivered:
        outcome, retry_in = "DELIVERED", 0.0
    elif retries < len(retry_schedule):
        outcome, retry_in = "PENDING", retry_schedule[retries]
    else:
        outcome, retry_in = "FAILED", 0.0
    await repo.record_attempt(
        pool,
        event_id=message["event_id"],
        message_id=message["id"],
        attempt=attempt,
        outcome=outcome,
        retry_in=retry_in,
    )
    return outcome


async def prune(pool: Pool, *, older_than_days: int) -> int:
    return await repo.prune(pool, older_than_days=older_than_days)


def _sent(row: asyncpg.Record, data: dict[str, Any] | None) -> SessionSent:
    return SessionSent(
        row["event_id"],
        row["id"],
        orjson.dumps(data).decode() if data is not None else None,
        row["updated_at"],
        row["session_updated_at"],
    )


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "asOf"}


async def schedule(pool: Pool, *, grace_seconds: int) -> int:
    """One scheduler pass: session.ended for sessions past their end time plus the
    grace period, session.updated for sent ones whose data changed since. Writes
    the messages and what was sent in one transaction; returns how many messages."""
    queued = 0
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        if not await repo.try_scheduler_lock(conn, SCHEDULER_LOCK_ID):
            return 0
        messages: list[NewMessage] = []
        sent: list[SessionSent] = []
        for row in await repo.ended_sessions(
            conn, grace_seconds=grace_seconds, limit=SCHEDULER_BATCH
        ):
            data = session_data(row) if row["watched"] else None
            if data is not None and row["endpoint_ids"]:
                body = message_body(SESSION_ENDED, data)
                messages += _messages(row["event_id"], row["endpoint_ids"], SESSION_ENDED, body)
            sent.append(_sent(row, data))
        for row in await repo.changed_sessions(conn, limit=SCHEDULER_BATCH):
            data = session_data(row) if row["watched"] else None
            before = orjson.loads(row["sent_data"])
            if data is not None and _comparable(data) != _comparable(before):
                body = message_body(SESSION_UPDATED, data)
                messages += _messages(row["event_id"], row["endpoint_ids"], SESSION_UPDATED, body)
                sent.append(_sent(row, data))
            else:
                sent.append(_sent(row, before if data is not None else None))
        await repo.enqueue(conn, messages)
        if sent:
            await repo.mark_sent(conn, sent)
        queued = len(messages)
    return queued
