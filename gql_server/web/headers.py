"""Security headers on every HTTP response (docs/security.md has the reasons).

Every response gets nosniff, no referrer and no framing. Its
Content-Security-Policy is the one its route set (the dashboard's, GraphiQL's)
or, for everything else (JSON, CSV, static files), one that allows nothing:
an API answer is never a document to run.
"""

import base64
import hashlib
import re
from typing import Any

ASGIApp = Any

# Nothing may run, load or frame: for JSON, CSV and static files.
NOTHING = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

# The dashboard (static/): its own scripts, styles and socket, nothing inline.
DASHBOARD = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

# The attendee's watch page: the same, and the demo clip it plays.
WATCH = DASHBOARD.replace("connect-src 'self';", "connect-src 'self'; media-src 'self';")

# Strawberry's GraphiQL page loads React and GraphiQL from unpkg.com, pinned by
# version and checked by subresource integrity; its own inline script and
# style are allowed by their hashes. GraphiQL and its editor set styles on
# elements at run time, which needs 'unsafe-inline' for styles only.
GRAPHIQL_ASSETS = "https://unpkg.com"

ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def graphiql_policy(html: str) -> str:
    """GraphiQL's page may run its own inline script and the pinned assets, nothing else."""
    scripts = [_sha256(body) for kind, body in _INLINE.findall(html) if kind == "script"]
    return (
        f"default-src 'none'; script-src {GRAPHIQL_ASSETS} {' '.join(scripts)};"
        f" style-src {GRAPHIQL_ASSETS} 'unsafe-inline'; font-src {GRAPHIQL_ASSETS} data:;"
        " img-src 'self' data:; connect-src 'self'; frame-ancestors 'none';"
        " base-uri 'none'; form-action 'none'"
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in ALWAYS if h[0] not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", NOTHING.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
