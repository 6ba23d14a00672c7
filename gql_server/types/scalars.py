"""DateTime: ISO-8601 with a UTC offset, both ways."""

from datetime import datetime
from typing import Any

import strawberry
from graphql import StringValueNode, ValueNode


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
    return parsed


def parse_datetime_literal(node: ValueNode, _variables: Any = None) -> datetime:
    if not isinstance(node, StringValueNode):
        raise ValueError("DateTime must be an ISO-8601 string")
    return parse_datetime(node.value)


def serialize_datetime(value: datetime) -> str:
    return value.isoformat()


DATETIME = strawberry.scalar(
    name="DateTime",
    description='ISO-8601 with offset, e.g. "2026-11-26T09:00:00+00:00"',
    serialize=serialize_datetime,
    parse_value=parse_datetime,
    parse_literal=parse_datetime_literal,
)
