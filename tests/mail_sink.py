"""A local SMTP server (aiosmtpd) that keeps every message it is given, for the tests.

One per test process, started when first needed; app_settings points every app
at it (GQL_SERVER_SMTP_URL), so signing up mails a real verification link over
SMTP and the tests read it here, as its owner would in their mailbox.
"""

import email
import email.policy
import re
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from gql_server.web.serving import free_port

LINK = re.compile(r"(https?://\S+)/verify-email#token=([A-Za-z0-9_-]+)")


class Sink:
    """aiosmtpd's handler: every message, as parsed, with the logins it was sent under."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, str]] = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.changed:
            self.messages.append(message)
            self.changed.notify_all()
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)

    def to(self, address: str) -> list[EmailMessage]:
        with self.changed:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10) -> list[EmailMessage]:
        """The first `count` messages to `address`, waiting for them (signUp sends in the
        background)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(found := [m for m in self.messages if m["To"] == address]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(found)} of {count} messages to {address} arrived"
                self.changed.wait(left)
            return found[:count]


class MailSink:
    def __init__(self, *, auth: bool = False) -> None:
        self.sink = Sink()
        self.port = free_port()
        options: dict[str, Any] = {}
        if auth:
            options = {"authenticator": self.sink.authenticate, "auth_require_tls": False}
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.controller.stop()


_shared: MailSink | None = None
_lock = threading.Lock()


def shared_sink() -> MailSink:
    """The process's sink, started on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = MailSink()
        return _shared


def link_of(message: EmailMessage) -> tuple[str, str]:
    """(the link's base URL, its token) in a verification message."""
    found = LINK.search(message.get_content())
    assert found, message.get_content()
    return found.group(1), found.group(2)
