"""Sign-up, sign-in, tokens."""

import asyncio
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gql_server import auth
from gql_server.auth import Actor, Passwords
from gql_server.db import UNAVAILABLE_ERRORS, Executor, Pool
from gql_server.errors import TOO_MANY_SIGN_INS, UNAUTHENTICATED, ApiError, bad_input
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
) -> asyncpg.Record:
    """A new account; 400 when the input is invalid or the email is taken."""
    email, name = text.valid_email(email), text.valid_text(name, "name")
    password_hash = await passwords.hash(text.valid_password(password))
    row = await repo.create_user(
        db, email=email, name=name, password_hash=password_hash, is_super_admin=is_super_admin
    )
    if row is None:
        raise bad_input("an account with this email already exists")
    return row


async def sign_up(
    pool: Pool, passwords: Passwords, *, email: str, password: str, name: str
) -> asyncpg.Record:
    """signUp: a new attendee account, answered the same way when the email is taken.

    Telling "this address has an account" apart would let anyone test
    addresses one by one (login hides it too). So a taken address changes
    nothing and gets an answer of the same shape, costing the same hash; its
    owner signs in with the password they already have (docs/security.md).
    """
    email, name = text.valid_email(email), text.valid_text(name, "name")
    password_hash = await passwords.hash(text.valid_password(password))
    async with pool.acquire() as conn:  # currval is per connection
        return await repo.sign_up(conn, email=email, name=name, password_hash=password_hash)


async def get_or_create_user(
    db: Executor, passwords: Passwords, *, email: str, password: str, name: str,
    is_super_admin: bool = False,
) -> int:  # fmt: skip
    """The id of the account with this email, created if there is none (demo and bench data)."""
    found = await repo.get_user_credentials(db, email=auth.normalize_email(email))
    if found is not None:
        existing: int = found["id"]
        return existing
    row = await create_user(db, passwords, email=email, password=password, name=name,
                            is_super_admin=is_super_admin)  # fmt: skip
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
