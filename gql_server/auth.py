"""Passwords, tokens, and every rule of who may do what."""

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from gql_server.errors import (
    FORBIDDEN,
    NOT_EVENT_ATTENDEE,
    NOT_EVENT_HOST,
    UNAUTHENTICATED,
    ApiError,
)
from gql_server.settings import Settings
from gql_server.values.text import MIN_PASSWORD_LENGTH as MIN_PASSWORD_LENGTH
from gql_server.values.text import normalize_email as normalize_email

MAX_FAILED_SIGN_INS = 10
LOCKOUT_SECONDS = 30 * 60


class Passwords:
    """argon2id hashing, run off the event loop (each hash takes tens of ms)."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=argon2.Type.ID,
        )
        # Verified against when the email is unknown, so both cases take as long.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check) and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a stored hash was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(password_hash)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    # Tokens are 256 random bits: a fast hash is enough, and lets the lookup be an index probe.
    return hashlib.sha256(token.encode()).digest()


class MalformedAuthorization(Exception):
    """An Authorization header that is present but not `Bearer <token>`."""


def bearer_token(header: str | None) -> str | None:
    """The token of an Authorization header; None when there is no header."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise MalformedAuthorization
    return token


@dataclass(frozen=True)
class Actor:
    """The signed-in user making a request (not a viewer of a session: those are people who
    watched, SessionViewer, viewer_watch)."""

    user_id: int
    email: str
    name: str
    is_super_admin: bool
    token_hash: bytes
    token_expires_at: datetime | None = None
    # Whether the owner proved they read the address's mail (verifyEmail).
    email_verified: bool = False

    @property
    def attendee_email(self) -> str | None:
        """The address an attendee list may know them by: only a verified one (else
        whoever signed up first with a listed address would enter the event)."""
        return self.email if self.email_verified else None


def not_attendee(actor: Actor, where: str = "") -> ApiError:
    """4030202; to someone whose address is unverified, what would change it (the same
    whether or not the list names them: the answer tells nothing of the list)."""
    message = where + NOT_EVENT_ATTENDEE.message
    if not actor.email_verified:
        message += " (a listed address counts once verified: requestEmailVerification)"
    return ApiError(NOT_EVENT_ATTENDEE, message)


def require_actor(actor: Actor | None) -> Actor:
    if actor is None:
        raise ApiError(UNAUTHENTICATED)
    return actor


def require_super_admin(actor: Actor | None) -> Actor:
    actor = require_actor(actor)
    if not actor.is_super_admin:
        raise ApiError(FORBIDDEN, "Only a super admin may do this")
    return actor


class RolesRow(Protocol):
    """A row whose statement read the actor's roles on an event (organizer_admin, event_admin)."""

    def __getitem__(self, key: str) -> Any: ...


@dataclass(frozen=True)
class EventRoles:
    """What the actor is to one event (read from the database in one query)."""

    organizer_admin: bool
    event_admin: bool

    @classmethod
    def of(cls, row: RolesRow) -> "EventRoles":
        """From a row whose statement read the actor's roles on the event."""
        return cls(organizer_admin=row["organizer_admin"], event_admin=row["event_admin"])


def is_host(actor: Actor, roles: EventRoles) -> bool:
    """Super admins host every event, organizer admins their organizer's, event admins theirs."""
    return actor.is_super_admin or roles.organizer_admin or roles.event_admin


def require_host(actor: Actor, roles: EventRoles | RolesRow) -> None:
    """4030201 unless the actor hosts the event (roles, or a row carrying them)."""
    if not isinstance(roles, EventRoles):
        roles = EventRoles.of(roles)
    if not is_host(actor, roles):
        raise ApiError(NOT_EVENT_HOST)


def require_organizer_admin(actor: Actor, organizer_admin: bool) -> None:
    """Creating events and granting roles under an organizer."""
    if not (actor.is_super_admin or organizer_admin):
        raise ApiError(FORBIDDEN, "Only a super admin or an admin of this organizer may do this")
