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
from typing import Any

from opentelemetry import trace

from gql_server.telemetry.current import REQUEST, printable
from gql_server.telemetry.metrics import OTHER

log = logging.getLogger("gql_server.access")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(given: bytes | None) -> str:
    """The client's id when it is a plain token of at most 128 characters, else a new one
    (a log line must not carry what a client wrote unchecked)."""
    text = given.decode("latin-1") if given else ""
    return text if REQUEST_ID.fullmatch(text) else uuid.uuid4().hex


class RequestContext(logging.Filter):
    """Puts the current request's id and trace (or None) on every log record: the JSON
    log format writes them (GQL_SERVER_LOG_FORMAT, web/serving.py logging_config)."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = REQUEST.get()
        record.request_id = info["id"] if info is not None else None
        # The trace the line belongs to, when traces are on (telemetry/tracing.py).
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else None
        record.span_id = format(span.span_id, "016x") if span.is_valid else None
        return True


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
        info: dict[str, Any] = {"id": request_id(given), "operation": None, "type": None}
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
            seconds = time.perf_counter() - began
            duration = seconds * 1000
            metrics = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                route = scope.get("route")  # set by Starlette's router when one matched
                metrics.observe_http(
                    getattr(route, "path", None) or OTHER, scope["method"], status, seconds
                )
                if "errors" in info:  # a GraphQL request (web/http.py)
                    metrics.observe_request(
                        operation=info["operation"],
                        operation_type=info["type"],
                        errors=info["errors"],
                        seconds=seconds,
                        cost=info.get("cost"),
                    )
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
