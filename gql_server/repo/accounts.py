"""Users, tokens and failed sign-ins."""

from datetime import datetime

import asyncpg

from gql_server.db import Connection, Executor

USER_COLUMNS = "id, email, name, is_super_admin, email_verified_at IS NOT NULL AS email_verified"

CREATE_USER = f"""
INSERT INTO users (email, name, password_hash, is_super_admin, email_verified_at)
VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END)
ON CONFLICT (email) DO NOTHING
RETURNING {USER_COLUMNS}
"""


async def create_user(
    db: Executor, *, email: str, name: str, password_hash: str, is_super_admin: bool,
    email_verified: bool = False,
) -> asyncpg.Record | None:  # fmt: skip
    """The new user, or None when the email is taken."""
    return await db.fetchrow(
        CREATE_USER, email, name, password_hash, is_super_admin, email_verified
    )


async def sign_up(
    conn: Connection, *, email: str, name: str, password_hash: str
) -> tuple[asyncpg.Record, bool]:
    """The new attendee and True; for a taken email, nothing is written and the answer
    has the same shape (with False): the id the refused insert drew from the sequence
    (so ids stay consecutive either way), the email and the name as given."""
    row = await conn.fetchrow(CREATE_USER, email, name, password_hash, False, False)
    if row is not None:
        return row, True
    unused = await conn.fetchrow(
        "SELECT currval(pg_get_serial_sequence('users', 'id')) AS id,"
        " $1::text AS email, $2::text AS name, false AS is_super_admin,"
        " false AS email_verified",
        email,
        name,
    )
    assert unused is not None
    return unused, False


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
# user_id, user_email, user_name, user_is_super_admin, token_expires_at,
# user_email_verified: a
# statement may read it along with what it is for (repo.events.get_event_access_for_token).
SIGNED_IN_USER_COLUMNS = (
    "u.id AS user_id, u.email AS user_email, u.name AS user_name,"
    " u.is_super_admin AS user_is_super_admin, t.expires_at AS token_expires_at,"
    " u.email_verified_at IS NOT NULL AS user_email_verified"
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
INSERT INTO login_failures AS f (email, failures, locked_until, last_failed_at)
VALUES ($1, 1, CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $3) END, now())
ON CONFLICT (email) DO UPDATE SET
    failures = CASE WHEN f.locked_until <= excluded.last_failed_at THEN 1 ELSE f.failures + 1 END,
    locked_until = CASE
        WHEN f.locked_until <= excluded.last_failed_at
            THEN CASE WHEN $2 <= 1 THEN {lock_ends} END
        WHEN f.failures + 1 >= $2 THEN coalesce(f.locked_until, {lock_ends})
        ELSE f.locked_until END,
    last_failed_at = excluded.last_failed_at
RETURNING failures <= $2
""".format(
    # "Now" is the inserted row's last_failed_at, and the arithmetic goes through UTC
    # timestamps: Citus refuses functions that are not IMMUTABLE in DO UPDATE SET
    # (now(), and timestamptz + interval, which depends on the time zone).
    lock_ends="(excluded.last_failed_at AT TIME ZONE 'UTC' + make_interval(secs => $3))"
    " AT TIME ZONE 'UTC'"
)


async def claim_password_attempt(
    db: Executor, *, email: str, max_failures: int, lockout_seconds: int
) -> bool:
    """Count an attempt for this address; False if it is over the limit (locked)."""
    allowed: bool = await db.fetchval(CLAIM_ATTEMPT, email, max_failures, lockout_seconds)
    return allowed


async def reset_failed_sign_ins(db: Executor, *, email: str) -> None:
    await db.execute("DELETE FROM login_failures WHERE email = $1", email)


# A verification link for the user's current address, at most one a
# `resend_seconds` (the UPDATE's row lock makes concurrent requests wait and
# re-check, so two cannot both pass); links older than their day go.
START_VERIFICATION = """
WITH u AS (
    UPDATE users SET verification_sent_at = now()
    WHERE id = $1 AND email_verified_at IS NULL
      AND (verification_sent_at IS NULL
           OR verification_sent_at <= now() - make_interval(secs => $3))
    RETURNING id, email, name, verification_sent_at
), pruned AS (
    DELETE FROM email_verifications WHERE user_id = $1 AND expires_at <= now()
), made AS (
    INSERT INTO email_verifications (token_hash, user_id, email, expires_at)
    SELECT $2, id, email, now() + make_interval(secs => $4) FROM u
    RETURNING email
)
SELECT made.email, u.name FROM made CROSS JOIN u
"""


async def start_verification(
    db: Executor, *, user_id: int, token_hash: bytes, resend_seconds: int, ttl_seconds: int
) -> asyncpg.Record | None:
    """The address and name to send a link to; None when the address is verified
    already or a link went out less than resend_seconds ago (verification_state says)."""
    return await db.fetchrow(START_VERIFICATION, user_id, token_hash, resend_seconds, ttl_seconds)


async def verification_state(db: Executor, *, user_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT email_verified_at IS NOT NULL AS verified, verification_sent_at"
        " FROM users WHERE id = $1",
        user_id,
    )


async def forget_verification(db: Executor, *, user_id: int, token_hash: bytes) -> None:
    """A link that could not be sent: gone, and another may be asked for at once."""
    await db.execute(
        "WITH gone AS (DELETE FROM email_verifications WHERE token_hash = $2)"
        " UPDATE users SET verification_sent_at = NULL WHERE id = $1",
        user_id,
        token_hash,
    )


# A link works once: it is deleted whatever happens, and verifies the user only
# while it is live and their address is still the one it was sent to.
VERIFY_EMAIL = f"""
WITH v AS (
    DELETE FROM email_verifications WHERE token_hash = $1
    RETURNING user_id, email, expires_at, now() AS now  -- Citus: no now() in coalesce
)
UPDATE users u SET email_verified_at = coalesce(u.email_verified_at, v.now)
FROM v WHERE u.id = v.user_id AND u.email = v.email AND v.expires_at > now()
RETURNING {", ".join(f"u.{c}" for c in ("id", "email", "name", "is_super_admin"))},
          true AS email_verified
"""


async def verify_email(db: Executor, *, token_hash: bytes) -> asyncpg.Record | None:
    """The user a live link verified; None for an unknown, used or expired one."""
    return await db.fetchrow(VERIFY_EMAIL, token_hash)


async def forget_verifications(db: Executor, *, user_id: int) -> None:
    await db.execute("DELETE FROM email_verifications WHERE user_id = $1", user_id)


async def mark_verified(db: Executor, *, email: str) -> asyncpg.Record | None:
    """An operator vouches for an address (gql-server verify-email); None: no such user."""
    return await db.fetchrow(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now())"
        f" WHERE email = $1 RETURNING {USER_COLUMNS}",
        email,
    )


async def claim_account_notice(db: Executor, *, email: str, interval_seconds: int) -> bool:
    """Whether to tell the owner of this taken address that someone signed up with it
    (at most once an interval, so signUp cannot flood their mailbox)."""
    row = await db.fetchval(
        "UPDATE users SET notice_sent_at = now() WHERE email = $1"
        " AND (notice_sent_at IS NULL OR notice_sent_at <= now() - make_interval(secs => $2))"
        " RETURNING true",
        email,
        interval_seconds,
    )
    return row is not None
