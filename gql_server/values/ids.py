"""Public ids: decimal strings of positive 64-bit database ids, and looking rows up by them."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from gql_server.errors import ApiError, ErrorKind

T = TypeVar("T")

MAX_ID = 2**63 - 1


def parse_id(value: str) -> int | None:
    """The database id an ID names, or None when it cannot name any row."""
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    parsed = int(value)
    return parsed if 0 < parsed <= MAX_ID else None


async def fetch_by_id(value: str, fetch: Callable[[int], Awaitable[T | None]]) -> T | None:
    """What `fetch` finds for the row an ID names; None for an ID that names no row."""
    parsed = parse_id(value)
    return None if parsed is None else await fetch(parsed)


async def get_by_id(
    value: str, fetch: Callable[[int], Awaitable[T | None]], missing: ErrorKind, message: str = ""
) -> T:
    """As fetch_by_id, but an ID that names no row (whatever its form) raises `missing`."""
    found = await fetch_by_id(value, fetch)
    if found is None:
        raise ApiError(missing, message or None)
    return found
