"""One log line per request, without the query string or any header.

uvicorn's access log prints the request line as sent; a GET carrying
`?query=mutation { login(password: ...) }` (refused with 405, but logged
first) would put a password in the log. So uvicorn's is off and this one
logs the path alone, with control characters escaped: a path is percent-decoded
before it gets here, so `%0d%0a` or `%1b[31m` would otherwise forge log lines
or recolour a terminal.
"""

import logging
import time
from typing import Any

log = logging.getLogger("gql_server.access")
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

        async def send_with_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            log.info(
                "%s %s %d %.1fms",
                scope["method"],
                printable(scope["path"]),
                status,
                (time.perf_counter() - began) * 1000,
            )
