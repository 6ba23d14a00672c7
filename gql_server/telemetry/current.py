"""The request being answered: what its log line (web/access_log.py) and its metrics
(metrics.py) need to know of it, noted by whichever step learns it (a contextvar, so
that the steps need not pass it along)."""

import re
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

# The request being answered, for every log line written meanwhile: its id (the
# client's X-Request-ID when it is a plain token, else one made here; sent back
# in the response either way) and, once known, its GraphQL operation's name and
# type, the (code, status) of the errors it answers and its estimated cost.
REQUEST: ContextVar[dict[str, Any] | None] = ContextVar("gql_server_request", default=None)
MAX_OPERATION_NAME = 100


# A document's first operation, when it is named (skipping comments and commas).
FIRST_OPERATION = re.compile(
    r"(?:\s|,|#[^\n]*\n)*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)"
)


def note_operation(name: str | None, document: str | None = None) -> None:
    """The GraphQL operation the current request runs, for its log lines: the
    operationName sent, else the name of the document's first operation (a log
    field only: what runs is graphql-core's choice)."""
    info = REQUEST.get()
    if info is None:
        return
    if not name and document:
        found = FIRST_OPERATION.match(document[:1000])
        name = found.group(1) if found else None
    if name:
        info["operation"] = printable(name[:MAX_OPERATION_NAME])


def note_graphql(*, errors: Iterable[tuple[int, int]] = (), cost: int | None = None) -> None:
    """The request is a GraphQL one (for its metrics): the (code, status) of errors it
    answers, and its operation's estimated cost."""
    info = REQUEST.get()
    if info is None:
        return
    noted = info.setdefault("errors", [])
    noted.extend(errors)
    if cost is not None:
        info["cost"] = cost


def not_graphql() -> None:
    """The request was answered with a page (GraphiQL), not a GraphQL result."""
    info = REQUEST.get()
    if info is not None:
        info.pop("errors", None)


def note_operation_type(kind: str) -> None:
    """The type (query, mutation, subscription) of the operation the request runs."""
    info = REQUEST.get()
    if info is not None:
        info["type"] = kind


# C0 and C1 controls, DEL, and the line and paragraph separators.
CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
CONTROLS.update({0x2028: "\\u2028", 0x2029: "\\u2029", ord("\\"): "\\\\"})


def printable(text: str) -> str:
    """The text with every control character (and backslash) escaped."""
    return text.translate(CONTROLS)
