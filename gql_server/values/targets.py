"""Where webhooks may be sent: URL rules and the addresses refused (no SSRF).

A target's host is resolved, every address it resolves to must be public,
and the delivery then connects to the address that was checked (never
resolving the name a second time, which a rebinding DNS server could answer
differently). Refused: loopback, private (10/8, 172.16/12, 192.168/16,
fc00::/7), link-local (169.254/16, where cloud metadata services answer, and
fe80::/10), shared (100.64/10), multicast, reserved and unspecified
addresses, also when written as IPv4-mapped, 6to4, Teredo or NAT64 IPv6
addresses, or as the decimal or hex forms the resolver accepts
(http://2130706433/ is 127.0.0.1). Hosts named in the allowed-hosts setting
(GQL_SERVER_WEBHOOK_ALLOWED_HOSTS) skip the address check.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT_SECONDS = 3.0
NAT64 = ipaddress.ip_network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (text)
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class TargetRefused(Exception):
    """A URL that may not be a webhook target; the message says why."""


@dataclass(frozen=True)
class Target:
    url: str  # as given (normalised scheme and host case)
    scheme: str
    host: str  # the name (or address) as written, for the Host header and TLS
    port: int
    address: str  # the checked address to connect to


async def system_resolver(host: str, port: int) -> Sequence[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse_url(url: str) -> tuple[str, str, int]:
    """scheme, host, port of an acceptable webhook URL; TargetRefused naming what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"url is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise TargetRefused("url must be ASCII without spaces (punycode for other names)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"url is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused("url must start with https:// or http://")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("url must not contain a user name or password")
    if parts.fragment:
        raise TargetRefused("url must not contain a #fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise TargetRefused("url has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


def refusal(address: Address) -> str | None:
    """Why an address may not be a target, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = (
            address.ipv4_mapped
            or address.sixtofour
            or (address.teredo[1] if address.teredo else None)
            or (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None)
        )
        if embedded is not None:
            return refusal(embedded)
    for kind, test in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local (cloud metadata)", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if test:
            return kind
    if not address.is_global:
        return "not public"
    return None


def _allowed(host: str, allowed_hosts: Sequence[str]) -> bool:
    return host in {h.strip().lower().strip("[]") for h in allowed_hosts}


async def resolve(
    url: str, allowed_hosts: Sequence[str], resolver: Resolver = system_resolver
) -> Target:
    """The URL's target with an address it may be sent to; TargetRefused otherwise."""
    scheme, host, port = parse_url(url)
    try:
        literal: Address | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                addresses = list(await resolver(host, port))
        except (OSError, TimeoutError):
            raise TargetRefused(f"url's host {host} does not resolve") from None
        if not addresses:
            raise TargetRefused(f"url's host {host} does not resolve")
    if not _allowed(host, allowed_hosts):
        for text in addresses:
            why = refusal(ipaddress.ip_address(text.split("%")[0]))
            if why is None:
                continue
            if literal is not None:  # the client wrote the address: say what it is
                raise TargetRefused(
                    f"url's host {host} is a {why} address; webhooks go to public addresses only"
                )
            # A name: neither the address nor its kind, or the refusal would tell
            # a host what the server's own resolver sees (a DNS oracle).
            raise TargetRefused(
                f"url's host {host} resolves to an address that is not public;"
                " webhooks go to public addresses only"
            )
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
