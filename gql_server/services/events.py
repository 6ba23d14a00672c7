"""Organizers, events and roles."""

from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from gql_server import auth
from gql_server.auth import Actor, EventRoles
from gql_server.db import Executor
from gql_server.errors import EVENT_NOT_FOUND, NOT_FOUND, ApiError, bad_input
from gql_server.repo import events as repo
from gql_server.services.accounts import TokenLookup
from gql_server.values import text
from gql_server.values.cursors import decode_cursor, encode_cursor
from gql_server.values.ids import fetch_by_id, get_by_id, parse_id


async def create_organizer(db: Executor, actor: Actor | None, *, name: str) -> asyncpg.Record:
    auth.require_super_admin(actor)
    return await repo.create_organizer(db, name=text.valid_text(name, "name"))


async def _organizer_for_admin(db: Executor, actor: Actor, organizer_id: str) -> int:
    """The organizer's id once the actor may administer it (403 before 404)."""
    row = await fetch_by_id(
        organizer_id,
        lambda i: repo.get_organizer_access(db, organizer_id=i, user_id=actor.user_id),
    )
    auth.require_organizer_admin(actor, bool(row and row["organizer_admin"]))
    if row is None:
        raise ApiError(NOT_FOUND, "Organizer not found")
    organizer: int = row["id"]
    return organizer


async def create_event(
    db: Executor, actor: Actor | None, *, organizer_id: str, name: str, attendance: str = "OPEN"
) -> asyncpg.Record:
    actor = auth.require_actor(actor)
    org_id = await _organizer_for_admin(db, actor, organizer_id)
    name = text.valid_text(name, "name")
    return await repo.create_event(db, organizer_id=org_id, name=name, attendance=attendance)


async def get_event_with_roles(
    db: Executor, actor: Actor, event_id: str
) -> tuple[asyncpg.Record, EventRoles]:
    """The event and the actor's roles on it; 4040200 for any id that names no event."""
    row = await get_by_id(
        event_id,
        lambda i: repo.get_event_access(db, event_id=i, user_id=actor.user_id),
        EVENT_NOT_FOUND,
    )
    return row, EventRoles.of(row)


async def get_hosted_event(db: Executor, actor: Actor | None, *, event_id: str) -> asyncpg.Record:
    """An event the actor hosts: 401, then 4040200, then 4030201."""
    actor = auth.require_actor(actor)
    row, roles = await get_event_with_roles(db, actor, event_id)
    auth.require_host(actor, roles)
    return row


class ReadAlong(Protocol):
    """A one-row statement over the event to run in the event's own statement
    (services.sessions.PageAhead: the sessions page); `row` gets its columns."""

    row: asyncpg.Record | None

    def statement(self, *, first_param: int, guard: str) -> tuple[str, list[Any]]: ...


async def get_hosted_event_looking_up(
    db: Executor, lookup: TokenLookup, *, event_id: str, along: ReadAlong | None = None
) -> asyncpg.Record:
    """get_hosted_event for a token not looked up yet, which the caller has claimed
    (TokenLookup.claim()): the token's user, the event and the roles in one
    statement, with `along` read in it too (only for a host of the event)."""
    try:  # whatever happens, the lookup is settled or failed: others wait for it
        page = None
        if along is not None:
            page = along.statement(first_param=3, guard=repo.SIGNED_IN_USER_HOSTS)
        row = await repo.get_event_access_for_token(
            db, token_hash=lookup.token_hash, event_id=parse_id(event_id), page=page
        )
    except BaseException as error:
        lookup.fail(error)
        raise
    actor = auth.require_actor(lookup.settle(row))
    assert row is not None  # a live token has its row
    if row["id"] is None:
        raise ApiError(EVENT_NOT_FOUND)
    auth.require_host(actor, row)
    if along is not None and row["page_read"]:
        along.row = row
    return row


async def grant_role(
    db: Executor,
    actor: Actor | None,
    *,
    user_id: str,
    role: str,
    organizer_id: str | None,
    event_id: str | None,
) -> None:
    actor = auth.require_actor(actor)
    if role == "ORGANIZER_ADMIN":
        if organizer_id is None or event_id is not None:
            raise bad_input("ORGANIZER_ADMIN needs organizerId and no eventId")
        org_id = await _organizer_for_admin(db, actor, organizer_id)
        target = await _existing_user(db, user_id)
        await repo.add_organizer_admin(db, organizer_id=org_id, user_id=target)
    else:
        if event_id is None or organizer_id is not None:
            raise bad_input("EVENT_ADMIN needs eventId and no organizerId")
        event, roles = await get_event_with_roles(db, actor, event_id)
        auth.require_organizer_admin(actor, roles.organizer_admin)
        target = await _existing_user(db, user_id)
        await repo.add_event_admin(db, event_id=event["id"], user_id=target)


async def _existing_user(db: Executor, user_id: str) -> int:
    async def existing(i: int) -> int | None:
        return i if await repo.user_exists(db, user_id=i) else None

    return await get_by_id(user_id, existing, NOT_FOUND, "User not found")


MAX_HOSTED_EVENTS = 1000


async def hosted_events(db: Executor, actor: Actor | None, *, first: int) -> list[asyncpg.Record]:
    actor = auth.require_actor(actor)
    if not 1 <= first <= MAX_HOSTED_EVENTS:
        raise bad_input(f"first must be between 1 and {MAX_HOSTED_EVENTS}")
    return await repo.hosted_events(
        db, user_id=actor.user_id, super_admin=actor.is_super_admin, limit=first
    )


ATTENDANCES = ("OPEN", "ATTENDEES_ONLY")
MAX_ATTENDEES_PER_CALL = 1000


async def set_attendance(
    db: Executor, actor: Actor | None, *, event_id: str, attendance: str
) -> asyncpg.Record:
    """OPEN or ATTENDEES_ONLY; a host of the event (401, 4040200, 4030201)."""
    event = await get_hosted_event(db, actor, event_id=event_id)
    assert attendance in ATTENDANCES
    return await repo.set_attendance(db, event_id=event["id"], attendance=attendance)


def _valid_emails(emails: list[str]) -> list[str]:
    """The addresses, normalized; all or nothing: 400 naming the first bad one."""
    if len(emails) > MAX_ATTENDEES_PER_CALL:
        raise bad_input(f"at most {MAX_ATTENDEES_PER_CALL} emails per call, got {len(emails)}")
    return list(dict.fromkeys(text.valid_email(e, f"emails[{i}]") for i, e in enumerate(emails)))


async def add_attendees(
    db: Executor, actor: Actor | None, *, event_id: str, emails: list[str]
) -> tuple[int, int]:
    """Put addresses on the event's attendee list: (newly listed, listed already)."""
    event = await get_hosted_event(db, actor, event_id=event_id)
    distinct = _valid_emails(emails)
    added = await repo.add_attendees(db, event_id=event["id"], emails=distinct)
    return added, len(distinct) - added


async def remove_attendees(
    db: Executor, actor: Actor | None, *, event_id: str, emails: list[str]
) -> int:
    """Take addresses off the list (what they recorded stays); how many were on it."""
    event = await get_hosted_event(db, actor, event_id=event_id)
    return await repo.remove_attendees(db, event_id=event["id"], emails=_valid_emails(emails))


MAX_ATTENDEE_PAGE = 1000


@dataclass(frozen=True)
class AttendeePage:
    rows: list[asyncpg.Record]
    has_next_page: bool
    total_count: int
    end_cursor: str | None


async def list_attendees(
    db: Executor, *, event_id: int, first: int, after: str | None, search: str | None
) -> AttendeePage:
    if not 1 <= first <= MAX_ATTENDEE_PAGE:
        raise bad_input(f"first must be between 1 and {MAX_ATTENDEE_PAGE}")
    search = text.valid_search(search)
    start = decode_cursor(after, "EMAIL_ASC", search)[0] if after is not None else None
    rows = await repo.list_attendees(
        db, event_id=event_id, search=search, after=start, limit=first + 1
    )
    total = await repo.count_attendees(db, event_id=event_id, search=search)
    page = rows[:first]
    end = encode_cursor("EMAIL_ASC", search, (page[-1]["email"], 0)) if page else None
    return AttendeePage(
        rows=page, has_next_page=len(rows) > first, total_count=total, end_cursor=end
    )
