"""uvicorn's HTTP protocol, with TCP_NODELAY set on every accepted connection.

With --workers > 1, uvicorn 0.54 hands the workers a shared listening socket
and the accepted connections do not get TCP_NODELAY (Kludex/uvicorn#3149):
every keep-alive response then waits ~44 ms for the peer's delayed ACK
(`{ __typename }` fell from ~1,000 to 222 requests/s on this machine kind).
"""

import asyncio
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    def connection_made(self, transport: asyncio.Transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
