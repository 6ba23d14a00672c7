"""DateTime: ISO-8601 with a UTC offset, both ways; Long: a 64-bit integer."""

from datetime import UTC, datetime
from typing import Any, NewType, cast

import strawberry
from graphql import StringValueNode, ValueNode

from gql_server.values.times import MAX_YEAR, MIN_YEAR, within_range


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"DateTime {value!r} is not ISO-8601") from None
    if parsed.tzinfo is None:
        raise ValueError(
            f"DateTime {value!r} has no UTC offset; write e.g. 2026-11-26T09:00:00+00:00"
        )
    if not within_range(parsed):
        raise ValueError(
            f"DateTime {value!r} is outside {MIN_YEAR}-01-01 .. {MAX_YEAR}-12-31 (UTC)"
        )
    return parsed


def parse_datetime_literal(node: ValueNode, _variables: Any = None) -> datetime:
    if not isinstance(node, StringValueNode):
        raise ValueError("DateTime must be an ISO-8601 string")
    return parse_datetime(node.value)


# isoformat() with an offset is slow (docs/performance.md), and a page of sessions prints the
# same few hundred start and end times request after request. For UTC values
# (all that PostgreSQL's timestamptz gives asyncpg) the text is cached under
# the datetime's pickled fields (year .. microsecond, fold): equal bytes,
# equal text. Other offsets print as they come.
_ISO_UTC: dict[bytes, str] = {}
_ISO_UTC_MAX = 100_000


def serialize_datetime(value: datetime) -> str:
    if value.tzinfo is not UTC:
        return value.isoformat()
    fields: bytes = cast(tuple[Any, ...], value.__reduce__())[1][0]
    text = _ISO_UTC.get(fields)
    if text is None:
        if len(_ISO_UTC) >= _ISO_UTC_MAX:
            _ISO_UTC.clear()
        text = _ISO_UTC[fields] = value.isoformat()
    return text


DATETIME = strawberry.scalar(
    name="DateTime",
    description='ISO-8601 with offset, e.g. "2026-11-26T09:00:00+00:00"',
    serialize=serialize_datetime,
    parse_value=parse_datetime,
    parse_literal=parse_datetime_literal,
)


# Sums that can pass GraphQL's 32-bit Int (seconds watched over an event:
# 100,000 viewers of six hours is 2.16 billion) have a Long twin.
MAX_LONG = 2**63 - 1


def serialize_long(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_LONG:
        raise ValueError(f"Long cannot represent {value!r}")
    return value


# Annotate fields with Long; create_schema maps it to LONG (as datetime to DATETIME).
Long = NewType("Long", int)
LONG = strawberry.scalar(
    name="Long",
    description=(
        "A 64-bit signed integer, as a JSON number (exact in JavaScript up to 2^53, which"
        " is 285 million years of seconds)."
    ),
    serialize=serialize_long,
    parse_value=serialize_long,
)
