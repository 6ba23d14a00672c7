"""Sign-up, sign-in, tokens."""

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import asyncpg

from gql_server import auth
from gql_server.auth import Actor, Passwords
from gql_server.db import UNAVAILABLE_ERRORS, Executor, Pool
from gql_server.errors import (
    MAIL_UNAVAILABLE,
    NOT_FOUND,
    TOO_MANY_REQUESTS,
    TOO_MANY_SIGN_INS,
    UNAUTHENTICATED,
    VERIFICATION_LINK_INVALID,
    ApiError,
    bad_input,
)
from gql_server.mail import Mail, MailError, account_exists_text, verification_text
from gql_server.repo import accounts as repo
from gql_server.values import text

WRONG_CREDENTIALS = "Wrong email or password"


async def create_user(
    db: Executor,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    name: str,
    is_super_admin: bool = False,
    email_verified: bool = False,
) -> asyncpg.Record:
    """A new account; 400 when the input is invalid or the email is taken. Accounts an
    operator makes (create-user, the demo) may be verified: they vouch for the address."""
    email, name = text.valid_email(email), text.valid_text(name, "name")
    password_hash = await passwords.hash(text.valid_password(password))
    row = await repo.create_user(
        db, email=email, name=name, password_hash=password_hash,
        is_super_admin=is_super_admin, email_verified=email_verified,
    )  # fmt: skip
    if row is None:
        raise bad_input("an account with this email already exists")
    return row


async def sign_up(
    pool: Pool, passwords: Passwords, mail: Mail, *, email: str, password: str, name: str
) -> asyncpg.Record:
    """signUp: a new attendee account, answered the same way when the email is taken.

    Telling "this address has an account" apart would let anyone test
    addresses one by one (login hides it too). So a taken address changes
    nothing and gets an answer of the same shape, costing the same hash; its
    owner signs in with the password they already have (docs/security.md).
    Either way one message goes to the address, in the background (so the
    answer takes as long): a verification link to a new account; to a taken
    one, a notice without a link, at most once an hour (a link there would let
    whoever squatted the address have its owner verify it for them).
    """
    email, name = text.valid_email(email), text.valid_text(name, "name")
    password_hash = await passwords.hash(text.valid_password(password))
    async with pool.acquire() as conn:  # currval is per connection
        row, created = await repo.sign_up(
            conn, email=email, name=name, password_hash=password_hash
        )
    if mail.mailer is None:
        return row
    if created:
        link = await _new_link(pool, mail, user_id=row["id"])
        if link is not None:
            mail.send_later(link.message)
    elif await repo.claim_account_notice(pool, email=email, interval_seconds=NOTICE_SECONDS):
        subject = "Someone tried to sign up with your address"
        mail.send_later(mail.message(email, subject, account_exists_text(mail.public_url + "/")))
    return row


# A verification link works once, for a day; an account may ask for one a minute.
VERIFICATION_TTL_SECONDS = 24 * 3600
VERIFICATION_RESEND_SECONDS = 60
NOTICE_SECONDS = 3600  # the notice to the owner of a taken address


@dataclass(frozen=True)
class Link:
    token_hash: bytes
    message: EmailMessage


async def _new_link(pool: Executor, mail: Mail, *, user_id: int) -> Link | None:
    """A verification link for the user's address and its message; None when the address
    is verified or a link went out within VERIFICATION_RESEND_SECONDS."""
    token = auth.new_token()
    token_hash = auth.hash_token(token)
    row = await repo.start_verification(
        pool, user_id=user_id, token_hash=token_hash,
        resend_seconds=VERIFICATION_RESEND_SECONDS, ttl_seconds=VERIFICATION_TTL_SECONDS,
    )  # fmt: skip
    if row is None:
        return None
    # In the fragment: a browser sends it to no server, so no log or Referer has it.
    link = f"{mail.public_url}/verify-email#token={token}"
    hours = VERIFICATION_TTL_SECONDS // 3600
    text_ = verification_text(row["name"], link, hours)
    return Link(token_hash, mail.message(row["email"], "Confirm your email address", text_))


async def request_email_verification(pool: Pool, mail: Mail, actor: Actor | None) -> bool:
    """requestEmailVerification: a link to the signed-in user's address, sent before the
    answer; False when the address is verified already. 429 within a minute of the
    last link; 5030101 when this server sends no mail or the mail server refused."""
    actor = auth.require_actor(actor)
    if actor.email_verified:
        return False  # (also on a server that sends no mail: there is nothing to send)
    if mail.mailer is None:
        raise ApiError(
            MAIL_UNAVAILABLE,
            "This server sends no mail (GQL_SERVER_SMTP_URL is not set): ask an operator"
            " to verify your address (gql-server verify-email)",
        )
    link = await _new_link(pool, mail, user_id=actor.user_id)
    if link is None:
        state = await repo.verification_state(pool, user_id=actor.user_id)
        if state is None or state["verified"]:
            return False
        # None: a send that failed meanwhile gave the minute back.
        sent = state["verification_sent_at"] or datetime.now(UTC)
        allowed = sent + timedelta(seconds=VERIFICATION_RESEND_SECONDS)
        wait = max(1, math.ceil((allowed - datetime.now(UTC)).total_seconds()))
        raise ApiError(
            TOO_MANY_REQUESTS,
            f"A verification link was sent less than {VERIFICATION_RESEND_SECONDS} s ago;"
            f" ask again in {wait} s",
            **{"Retry-After": str(wait)},
        )
    try:
        await mail.send(link.message)
    except MailError as error:
        await repo.forget_verification(pool, user_id=actor.user_id, token_hash=link.token_hash)
        raise ApiError(MAIL_UNAVAILABLE) from error
    return True


async def verify_email(pool: Pool, *, token: str) -> asyncpg.Record:
    """verifyEmail: the user whose address a live link proves (4000101 otherwise)."""
    if not token or len(token) > 200:
        raise ApiError(VERIFICATION_LINK_INVALID)
    row = await repo.verify_email(pool, token_hash=auth.hash_token(token))
    if row is None:
        raise ApiError(VERIFICATION_LINK_INVALID)
    await repo.forget_verifications(pool, user_id=row["id"])  # the others are moot
    return row


async def vouch_for(db: Executor, *, email: str) -> asyncpg.Record:
    """An operator marks an address verified (gql-server verify-email); 404 for none."""
    email = text.bounded(auth.normalize_email(email), "email", text.MAX_EMAIL_LENGTH)
    row = await repo.mark_verified(db, email=email)
    if row is None:
        raise ApiError(NOT_FOUND, f"No account has the address {email}")
    return row


async def get_or_create_user(
    db: Executor, passwords: Passwords, *, email: str, password: str, name: str,
    is_super_admin: bool = False, email_verified: bool = False,
) -> int:  # fmt: skip
    """The id of the account with this email, created if there is none (demo and bench data)."""
    found = await repo.get_user_credentials(db, email=auth.normalize_email(email))
    if found is not None:
        existing: int = found["id"]
        return existing
    row = await create_user(db, passwords, email=email, password=password, name=name,
                            is_super_admin=is_super_admin,
                            email_verified=email_verified)  # fmt: skip
    created: int = row["id"]
    return created


async def claim_password_attempt(db: Executor, email: str) -> None:
    """Count a password check for this address before it is made (TOO_MANY_SIGN_INS past
    the limit: no check at all); a right password takes it back (password_accepted)."""
    allowed = await repo.claim_password_attempt(
        db, email=email, max_failures=auth.MAX_FAILED_SIGN_INS,
        lockout_seconds=auth.LOCKOUT_SECONDS,
    )  # fmt: skip
    if not allowed:
        raise ApiError(TOO_MANY_SIGN_INS)


async def password_accepted(db: Executor, email: str) -> None:
    await repo.reset_failed_sign_ins(db, email=email)


@dataclass(frozen=True)
class SignIn:
    token: str
    expires_at: datetime
    user: asyncpg.Record


async def login(
    db: Executor, passwords: Passwords, *, email: str, password: str, token_ttl: int
) -> SignIn:
    if len(password) > text.MAX_PASSWORD_LENGTH:
        raise ApiError(UNAUTHENTICATED, WRONG_CREDENTIALS)  # no such password was ever set
    email = text.bounded(auth.normalize_email(email), "email", text.MAX_EMAIL_LENGTH)
    await claim_password_attempt(db, email)
    row = await repo.get_user_credentials(db, email=email)
    if not await passwords.verify(row["password_hash"] if row else None, password):
        raise ApiError(UNAUTHENTICATED, WRONG_CREDENTIALS)  # its failure is counted
    assert row is not None
    await password_accepted(db, email)
    if passwords.needs_rehash(row["password_hash"]):
        # The cost settings changed since this password was stored.
        new_hash = await passwords.hash(password)
        await repo.set_password_hash(db, user_id=row["id"], password_hash=new_hash)
    token = auth.new_token()
    expires_at = await repo.create_token(
        db, token_hash=auth.hash_token(token), user_id=row["id"], ttl_seconds=token_ttl
    )
    return SignIn(token=token, expires_at=expires_at, user=row)


def _actor(row: asyncpg.Record | None, token_hash: bytes) -> Actor | None:
    """The actor of a row with repo.SIGNED_IN_USER_COLUMNS; None for no row."""
    if row is None:
        return None
    return Actor(
        user_id=row["user_id"],
        email=row["user_email"],
        name=row["user_name"],
        is_super_admin=row["user_is_super_admin"],
        token_hash=token_hash,
        token_expires_at=row["token_expires_at"],
        email_verified=row["user_email_verified"],
    )


async def actor_for_token(db: Executor, token: str) -> Actor | None:
    """The user a bearer token signs in; None when it is unknown, expired or revoked."""
    token_hash = auth.hash_token(token)
    return _actor(await repo.get_token_user(db, token_hash=token_hash), token_hash)


class TokenLookup:
    """A request's bearer token, looked up once, when something first needs its user.

    So that the lookup can ride on the first statement the request makes
    anyway (the event and the host's roles, services.events.get_hosted_event:
    one round trip instead of two), the HTTP endpoint does not look the token
    up before it executes a query; it makes sure afterwards that the token
    was live, whatever the query read (HTTP 401 otherwise: gql_server/web/http.py),
    and a mutation looks it up before its first field (schema.mutation_guard).

    One lookup per request: whoever claim()s it runs it, in its own statement
    (repo.SIGNED_IN_WHERE, the hash as $1) or through actor(), and
    settles it; the others wait for that answer.
    """

    def __init__(self, token_hash: bytes) -> None:
        self.token_hash = token_hash
        self._found: asyncio.Future[Actor | None] | None = None

    @property
    def claimable(self) -> bool:
        return self._found is None

    def claim(self) -> bool:
        """Whether the caller is to look the token up (then settle() or fail())."""
        if self._found is not None:
            return False
        self._found = asyncio.get_running_loop().create_future()
        return True

    def settle(self, row: asyncpg.Record | None) -> Actor | None:
        """The claimed lookup's answer: a row with repo.SIGNED_IN_USER_COLUMNS, or None."""
        assert self._found is not None and not self._found.done()
        actor = _actor(row, self.token_hash)
        self._found.set_result(actor)
        return actor

    def fail(self, error: BaseException) -> None:
        """The claimed lookup failed: whoever waits for it gets `error`."""
        assert self._found is not None and not self._found.done()
        self._found.set_exception(error)

    async def live(self, db: Executor) -> bool:
        """Whether the token signs someone in (looked up now if nothing needed it)."""
        return await self.actor(db) is not None

    async def actor(self, db: Executor) -> Actor | None:
        """The token's user; None when it is unknown, expired or revoked."""
        if self.claim():
            try:
                row = await repo.get_token_user(db, token_hash=self.token_hash)
            except BaseException as error:
                self.fail(error)
                raise
            return self.settle(row)
        assert self._found is not None
        try:
            # Shielded: a waiter that is cancelled must not cancel the lookup itself.
            return await asyncio.shield(self._found)
        except UNAVAILABLE_ERRORS:
            raise
        except Exception:
            # The statement that carried the lookup failed for its own part (what
            # else it read): its field reports that; the token is looked up alone.
            return _actor(await repo.get_token_user(db, token_hash=self.token_hash),
                          self.token_hash)  # fmt: skip


async def still_signed_in(db: Executor, actor: Actor | None) -> bool:
    """Whether the actor's token is still live (a subscription outlives its request)."""
    if actor is None:
        return False
    return await repo.get_token_user(db, token_hash=actor.token_hash) is not None


async def logout(db: Executor, actor: Actor | None) -> None:
    actor = auth.require_actor(actor)
    await repo.revoke_token(db, token_hash=actor.token_hash)
