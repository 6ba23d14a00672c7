"""Opaque keyset cursors, bound to the order and search (and window) they came from."""

import base64
import binascii
import functools
import hashlib
import json
from datetime import datetime
from typing import Any

import orjson

from gql_server.errors import bad_input
from gql_server.values.ids import MAX_ID
from gql_server.values.times import within_range

# The longest cursor decoded: a key of the longest title (300 characters, each
# escaped as a surrogate pair at worst: 3,600 bytes) in base64, with room to spare.
# Anything longer is no cursor of ours.
MAX_CURSOR_LENGTH = 8192
TIME_ORDERS = frozenset({"START_TIME_ASC", "START_TIME_DESC"})
TEXT_ORDERS = frozenset({"TITLE_ASC", "NAME_ASC", "EMAIL_ASC"})


@functools.lru_cache(maxsize=1024)
def _search_digest(search: str | None) -> str:
    return hashlib.sha256((search or "").encode()).hexdigest()[:16]


def encode_cursor(order: str, search: str | None, key: tuple[Any, int]) -> str:
    first = key[0].isoformat() if isinstance(key[0], datetime) else key[0]
    payload = {"o": order, "s": _search_digest(search), "k": [first, key[1]]}
    if isinstance(first, str) and not (first.isascii() and first.isprintable()):
        # json escapes what is not printable ASCII (\u00e9, \u007f), orjson
        # writes UTF-8: the same cursors as always, whatever the key.
        raw = json.dumps(payload, separators=(",", ":")).encode()
    else:
        raw = orjson.dumps(payload)  # the same bytes, 4x faster
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: str, search: str | None) -> tuple[Any, int]:
    """The key after which the next page starts; 400 for a malformed or foreign cursor."""
    invalid = bad_input("after is not a cursor of this connection with this orderBy and search")
    if len(cursor) > MAX_CURSOR_LENGTH:  # ours are far shorter; json.loads recurses
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        first, row_id = payload["k"]
        if payload["o"] != order or payload["s"] != _search_digest(search):
            raise invalid
        if not _is_int_within(row_id, MAX_ID):
            raise invalid
        return _decode_first(order, first), row_id
    except (
        binascii.Error,
        ValueError,
        TypeError,
        KeyError,
        UnicodeDecodeError,
        RecursionError,
    ) as exc:
        raise invalid from exc


def _decode_first(order: str, value: Any) -> Any:
    if order in TIME_ORDERS:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None or not within_range(parsed):
            raise ValueError("naive or out-of-range time in cursor")
        return parsed
    if order in TEXT_ORDERS and isinstance(value, str):
        return value
    if order not in TEXT_ORDERS and _is_int_within(value, 2**31 - 1):
        return value
    raise TypeError("wrong key type in cursor")


def _is_int_within(value: Any, bound: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -bound <= value <= bound
