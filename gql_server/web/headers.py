"""Security headers on every HTTP response (docs/security.md has the reasons).

Every response gets nosniff, no referrer and no framing. Its
Content-Security-Policy is the one its route set (the dashboard's, GraphiQL's)
or, for everything else (JSON, CSV, static files), one that allows nothing:
an API answer is never a document to run.
"""

import base64
import hashlib
import re
from pathlib import Path
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
# version and checked by subresource integrity. The server serves the same
# files itself (static/vendor/unpkg/, mirroring unpkg's paths), so GraphiQL
# opens offline and behind firewalls; the integrity hashes still check them.
# Its own inline script is allowed by its hash. GraphiQL and its editor set
# styles on elements at run time, which needs 'unsafe-inline' for styles only.
STATIC = Path(__file__).parent.parent / "static"  # the dashboard's, watch page's, vendored
UNPKG = "https://unpkg.com/"
VENDORED = "/static/vendor/unpkg/"
GRAPHIQL_ASSETS = "'self'"


def local_assets(html: str, static: Path) -> str:
    """GraphiQL's page with its unpkg.com assets served from `static` (the app's static
    directory); a file the page names that is not there stops the start, rather than
    a blank "Loading..." page later."""
    missing = [
        path for path in re.findall(re.escape(UNPKG) + r'([^"\s]+)', html)
        if not (static / "vendor" / "unpkg" / path).is_file()
    ]  # fmt: skip
    if missing:
        raise RuntimeError(
            f"GraphiQL's assets are not in {static / 'vendor' / 'unpkg'}: {missing}"
        )
    return html.replace(UNPKG, VENDORED)


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
