"""Users, tokens and failed sign-ins."""

from datetime import datetime

import asyncpg

from gql_server.db import Connection, Executor

USER_COLUMNS = "id, email, name, is_super_admin"

CREATE_USER = f"""
INSERT INTO users (email, name, password_hash, is_super_admin)
VALUES ($1, $2, $3, $4)
ON CONFLICT (email) DO NOTHING
RETURNING {USER_COLUMNS}
"""


async def create_user(
    db: Executor, *, email: str, name: str, password_hash: str, is_super_admin: bool
) -> asyncpg.Record | None:
    """The new user, or None when the email is taken."""
    return await db.fetchrow(CREATE_USER, email, name, password_hash, is_super_admin)


async def sign_up(
    conn: Connection, *, email: str, name: str, password_hash: str
) -> asyncpg.Record:
    """The new attendee; for a taken email, nothing is written and the answer has the
    same shape: the id the refused insert drew from the sequence (so ids stay
    consecutive either way), the email and the name as given."""
    row = await conn.fetchrow(CREATE_USER, email, name, password_hash, False)
    if row is not None:
        return row
    unused = await conn.fetchrow(
        "SELECT currval(pg_get_serial_sequence('users', 'id')) AS id,"
        " $1::text AS email, $2::text AS name, false AS is_super_admin",
        email,
        name,
    )
    assert unused is not None
    return unused


async def get_user_credentials(db: Executor, *, email: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1", email
    )


async def set_password_hash(db: Executor, *, user_id: int, password_hash: str) -> None:
    await db.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def create_token(
    db: Executor, *, token_hash: bytes, user_id: int, ttl_seconds: int
) -> datetime:
    expires_at: datetime = await db.fetchval(
        "INSERT INTO auth_tokens (token_hash, user_id, expires_at)"
        " VALUES ($1, $2, now() + make_interval(secs => $3)) RETURNING expires_at",
        token_hash,
        user_id,
        ttl_seconds,
    )
    return expires_at


# The user of a live token $1 (not expired, not revoked), as columns
# user_id, user_email, user_name, user_is_super_admin, token_expires_at: a
# statement may read it along with what it is for (repo.events.get_event_access_for_token).
SIGNED_IN_USER_COLUMNS = (
    "u.id AS user_id, u.email AS user_email, u.name AS user_name,"
    " u.is_super_admin AS user_is_super_admin, t.expires_at AS token_expires_at"
)
SIGNED_IN_FROM = "auth_tokens t JOIN users u ON u.id = t.user_id"
SIGNED_IN_WHERE = "t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now()"
GET_SIGNED_IN_USER = (
    f"SELECT {SIGNED_IN_USER_COLUMNS} FROM {SIGNED_IN_FROM} WHERE {SIGNED_IN_WHERE}"
)


async def get_token_user(db: Executor, *, token_hash: bytes) -> asyncpg.Record | None:
    """The user of a live token (not expired, not revoked)."""
    return await db.fetchrow(GET_SIGNED_IN_USER, token_hash)


async def revoke_token(db: Executor, *, token_hash: bytes) -> None:
    await db.execute(
        "UPDATE auth_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash,
    )


# An attempt is counted as a failure before its password is checked, in one
# statement, so concurrent attempts for one address are counted one by one: the
# first max_failures go on to the check, the rest are refused without one (a
# right password then takes its failure back: reset_failed_sign_ins). A lock
# that has run out starts a new count.
CLAIM_ATTEMPT = """
INSERT INTO login_failures AS f (email, failures, locked_until)
VALUES ($1, 1, CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $3) END)
ON CONFLICT (email) DO UPDATE SET
    failures = CASE WHEN f.locked_until <= now() THEN 1 ELSE f.failures + 1 END,
    locked_until = CASE
        WHEN f.locked_until <= now()
            THEN CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $3) END
        WHEN f.failures + 1 >= $2 THEN coalesce(f.locked_until, now() + make_interval(secs => $3))
        ELSE f.locked_until END
RETURNING failures <= $2
"""


async def claim_password_attempt(
    db: Executor, *, email: str, max_failures: int, lockout_seconds: int
) -> bool:
    """Count an attempt for this address; False if it is over the limit (locked)."""
    allowed: bool = await db.fetchval(CLAIM_ATTEMPT, email, max_failures, lockout_seconds)
    return allowed


async def reset_failed_sign_ins(db: Executor, *, email: str) -> None:
    await db.execute("DELETE FROM login_failures WHERE email = $1", email)
