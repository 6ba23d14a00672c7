"""One log line per request, without the query string or any header.

uvicorn's access log prints the request line as sent; a GET carrying
`?query=mutation { login(password: ...) }` (refused with 405, but logged
first) would put a password in the log. So uvicorn's is off and this one
logs the path alone, with control characters escaped: a path is percent-decoded
before it gets here, so `%0d%0a` or `%1b[31m` would otherwise forge log lines
or recolour a terminal.
"""

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

log = logging.getLogger("gql_server.access")

# The request being answered, for every log line written meanwhile: its id (the
# client's X-Request-ID when it is a plain token, else one made here; sent back
# in the response either way) and, once known, its GraphQL operation's name.
REQUEST: ContextVar[dict[str, Any] | None] = ContextVar("gql_server_request", default=None)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_OPERATION_NAME = 100


def request_id(given: bytes | None) -> str:
    """The client's id when it is a plain token of at most 128 characters, else a new one
    (a log line must not carry what a client wrote unchecked)."""
    text = given.decode("latin-1") if given else ""
    return text if REQUEST_ID.fullmatch(text) else uuid.uuid4().hex


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


class RequestContext(logging.Filter):
    """Puts the current request's id (or None) on every log record: the JSON log
    format writes it (GQL_SERVER_LOG_FORMAT, web/serving.py logging_config)."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = REQUEST.get()
        record.request_id = info["id"] if info is not None else None
        return True


# C0 and C1 controls, DEL, and the line and paragraph separators.
CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
CONTROLS.update({0x2028: "\\u2028", 0x2029: "\\u2029", ord("\\"): "\\\\"})


def printable(text: str) -> str:
    """The text with every control character (and backslash) escaped."""
    return text.translate(CONTROLS)


ASGIApp = Any


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500
        given = next((v for k, v in scope.get("headers", []) if k == b"x-request-id"), None)
        info: dict[str, Any] = {"id": request_id(given), "operation": None}
        context = REQUEST.set(info)

        async def send_with_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                headers.append((b"x-request-id", info["id"].encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            duration = (time.perf_counter() - began) * 1000
            path = printable(scope["path"])
            log.info(
                "%s %s %d %.1fms",
                scope["method"],
                path,
                status,
                duration,
                extra={"method": scope["method"], "path": path, "status": status,
                       "duration_ms": round(duration, 1), "operation": info["operation"]},
            )  # fmt: skip
            REQUEST.reset(context)
