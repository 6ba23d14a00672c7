"""Erasing a person (docs/privacy.md): as if they had never registered, joined or watched."""

from collections import defaultdict

from gql_server import auth
from gql_server.analytics.rules import view_threshold
from gql_server.auth import Actor, Passwords
from gql_server.db import Pool
from gql_server.errors import NOT_FOUND, UNAUTHENTICATED, ApiError
from gql_server.repo import accounts as accounts_repo
from gql_server.repo import erasure as repo
from gql_server.services import accounts
from gql_server.values.ids import parse_id


async def erase_user(pool: Pool, actor: Actor | None, *, user_id: str) -> int:
    """eraseUser: a super admin's (403 before 404). Returns the sessions recounted."""
    auth.require_super_admin(actor)
    parsed = parse_id(user_id)
    if parsed is None:
        raise ApiError(NOT_FOUND, "User not found")
    return await _erase(pool, parsed, by_the_person=False)


async def delete_my_account(
    pool: Pool, passwords: Passwords, actor: Actor | None, *, password: str
) -> int:
    """deleteMyAccount: the signed-in person, confirming with their password (else 401)."""
    actor = auth.require_actor(actor)
    # The same count as sign-ins: a stolen token does not guess the password freely.
    await accounts.claim_password_attempt(pool, actor.email)
    row = await accounts_repo.get_user_credentials(pool, email=actor.email)
    if row is None or not await passwords.verify(row["password_hash"], password):
        raise ApiError(UNAUTHENTICATED, "Wrong password")
    await accounts.password_accepted(pool, actor.email)
    return await _erase(pool, actor.user_id, by_the_person=True)


async def _erase(pool: Pool, user_id: int, *, by_the_person: bool) -> int:
    """One transaction: lock the events touched, delete the person, recount their sessions."""
    async with pool.acquire() as conn, conn.transaction():
        durations: dict[int, int | None] = {}
        locked: set[int] = set()
        while True:  # until every event the person touched is locked (no more writes)
            touched = await repo.touched_sessions(conn, user_id=user_id)
            events = {row["event_id"] for row in touched} - locked
            if not events:
                break
            durations.update(await repo.lock_events(conn, sorted(events)))
            locked |= events
        by_event: dict[int, dict[int, int]] = defaultdict(dict)
        for row in touched:
            session = row["session_id"]
            by_event[row["event_id"]][session] = view_threshold(durations.get(session))
        if not await repo.delete_person(conn, user_id=user_id, event_ids=sorted(by_event)):
            raise ApiError(NOT_FOUND, "User not found")
        for event_id, thresholds in sorted(by_event.items()):
            await repo.recount_sessions(conn, event_id=event_id, thresholds=thresholds)
        await repo.record_erasure(conn, by_the_person=by_the_person, sessions=len(touched))
        return len(touched)
