"""A webhook receiver on loopback for the tests: records what it is sent, verifies
signatures, and answers as the test scripts it (fail the first N, hang, redirect)."""

import base64
import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return orjson.loads(self.body)


# (index of the request, its webhook-id) -> (status, extra headers, body)
Answer = Callable[[int, str], tuple[int, dict[str, str], bytes]]


def ok(index: int, message_id: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, b"ok"


@dataclass
class Receiver:
    answer: Answer = ok
    received: list[Received] = field(default_factory=list)
    hang_first: bool = False  # the first request is never answered (until close)
    got_request: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                index = len(receiver.received)
                if receiver.hang_first and index == 0:
                    # Not answered: the test kills the sender meanwhile.
                    receiver.received.append(Received(headers, body, 0))
                    receiver.got_request.set()
                    receiver.released.wait(120)
                    return
                status, extra, answer = receiver.answer(index, headers.get("webhook-id", ""))
                receiver.received.append(Received(headers, body, status))
                receiver.got_request.set()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[Received]:
        """What a receiver that dedupes by webhook-id processed: each id once, first 2xx."""
        seen: set[str] = set()
        out = []
        for r in self.received:
            if 200 <= r.status < 300 and r.message_id not in seen:
                seen.add(r.message_id)
                out.append(r)
        return out


def verify_by_hand(secret: str, received: Received) -> bool:
    """The spec's algorithm, written out: HMAC-SHA256 over "id.timestamp.body" with the
    base64-decoded key after whsec_, compared to each v1 signature of the header."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    headers = received.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + received.body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for part in headers["webhook-signature"].split(" "):
        version, _, signature = part.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(signature), expected):
            return True
    return False


def verify(secret: str, received: Received) -> Any:
    """The reference implementation's check (raises when it fails); the payload."""
    return Webhook(secret).verify(received.body, received.headers)
