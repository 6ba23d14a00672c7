"""Mail: the messages the server sends (email verification) and how they leave.

Where they go (docs/security.md, "attendee lists"; README's settings):
- GQL_SERVER_SMTP_URL names an SMTP server: `smtp://host[:25]` (plain),
  `smtp+starttls://host[:587]` (STARTTLS, required) or `smtps://host[:465]`
  (TLS from the start), with `user:password@` before the host for AUTH. The
  standard library's smtplib sends, in a thread, one connection per message
  (verification mail is rare: a pool would hold connections for nothing),
  within SMTP_TIMEOUT_SECONDS; certificates are checked.
- GQL_SERVER_MAIL_TO_CONSOLE prints each message on the server's standard
  output instead (what `serve --demo` turns on when no SMTP server is set).
- Neither: the server sends no mail; requestEmailVerification answers 5030101
  and an operator verifies addresses with `gql-server verify-email`.

Links in messages start with GQL_SERVER_PUBLIC_URL (`serve` defaults it to
the address it listens on), never with the request's Host header: a forged
Host would otherwise send the link's token to another site.
"""

import asyncio
import contextlib
import logging
import smtplib
import ssl
import sys
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from gql_server.settings import Settings, SmtpServer

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10.0


class MailError(Exception):
    """The message could not be handed to the mail server."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    def __init__(self, server: SmtpServer, timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
        self.server = server
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(f"{type(error).__name__}: {error}"[:300]) from None

    def _send(self, message: EmailMessage) -> None:
        server = self.server
        tls = ssl.create_default_context()
        connection: smtplib.SMTP
        if server.scheme == "smtps":
            connection = smtplib.SMTP_SSL(
                server.host, server.port, timeout=self.timeout, context=tls
            )
        else:
            connection = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        with connection:
            if server.scheme == "smtp+starttls":
                connection.starttls(context=tls)
            if server.user is not None:
                connection.login(server.user, server.password or "")
            connection.send_message(message)


class ConsoleMailer:
    """Prints each message (the demo: nothing leaves the machine)."""

    async def send(self, message: EmailMessage) -> None:
        text = message.get_content()  # Mail.message makes single-part text messages
        sys.stdout.write(
            f"\n----- mail (not sent: GQL_SERVER_MAIL_TO_CONSOLE) -----\n"
            f"To: {message['To']}\nSubject: {message['Subject']}\n\n{text}"
            "-------------------------------------------------------\n"
        )
        sys.stdout.flush()


@dataclass
class Mail:
    """What the services send mail with: a mailer (None: the server sends none), the
    sender, the base of links, and the messages still being sent in the background."""

    mailer: Mailer | None
    sender: str
    public_url: str
    pending: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def disabled(cls) -> "Mail":
        return cls(mailer=None, sender="", public_url="")

    @classmethod
    def from_settings(cls, settings: Settings) -> "Mail":
        mailer: Mailer | None = None
        if settings.smtp_url:
            mailer = SmtpMailer(SmtpServer.parse(settings.smtp_url))
        elif settings.mail_to_console:
            mailer = ConsoleMailer()
        public_url = (settings.public_url or "http://127.0.0.1:8000").rstrip("/")
        return cls(mailer=mailer, sender=settings.mail_from, public_url=public_url)

    def message(self, to: str, subject: str, text: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        return message

    async def send(self, message: EmailMessage) -> None:
        """Now (MailError when it cannot be handed over)."""
        assert self.mailer is not None
        await self.mailer.send(message)

    def send_later(self, message: EmailMessage) -> None:
        """In the background: what asked for it does not wait (nor learn how it went)."""
        if self.mailer is None:
            return
        task = asyncio.get_running_loop().create_task(self._send_logged(message))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _send_logged(self, message: EmailMessage) -> None:
        try:
            await self.send(message)
        except MailError as error:
            log.warning("a message could not be sent: %s", error)

    async def close(self) -> None:
        """Let the messages being sent finish (within SMTP_TIMEOUT_SECONDS), at shutdown."""
        if self.pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SMTP_TIMEOUT_SECONDS):
                    await asyncio.gather(*self.pending, return_exceptions=True)


def verification_text(name: str, link: str, hours: int) -> str:
    return (
        f"Hello {name},\n\n"
        "Someone, probably you, asked to confirm that this address belongs to their"
        " account. Open this link to confirm it:\n\n"
        f"{link}\n\n"
        f"The link works once, for {hours} hours. If you did not ask for it, ignore this"
        " message: nothing changes until the link is opened.\n"
    )


def account_exists_text(sign_in_url: str) -> str:
    return (
        "Hello,\n\n"
        "Someone tried to create an account with this address, which already has one."
        f" If it was you, sign in with the password you chose at {sign_in_url}.\n\n"
        "If you never created an account, someone else did with your address: nothing"
        " they do with it counts for events that list you until the address is confirmed,"
        " and no confirmation link was sent with this message.\n"
    )
