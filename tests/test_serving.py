"""What uvicorn does with the options in gql_server/web/serving.py, over real sockets."""

import contextlib
import json
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from conftest import served
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from gql_server.web.serving import MAX_HEAD_BYTES


def post_with_urllib(url: str, body: bytes) -> tuple[int, str | None, dict[str, object]]:
    """Status, Connection header and JSON body, as Python's own client reads them."""
    request = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("connection"), json.load(response)
    except urllib.error.HTTPError as error:
        with error:  # it holds the connection
            return error.code, error.headers.get("connection"), json.load(error)


def test_a_client_that_sends_8_mib_reads_its_413(database_dsn: str) -> None:
    # urllib sends the whole body before reading: closing early would reset it.
    body = b'{"query": "' + b"x" * (8 << 20) + b'"}'
    with served(database_dsn) as url:
        status, connection, payload = post_with_urllib(url, body)
        assert status == 413
        assert connection == "close"
        assert payload["errors"][0]["extensions"] == {"code": 413, "status": 413}  # type: ignore[index]
        # The server still answers the next client.
        status, _, payload = post_with_urllib(url, b'{"query": "{ __typename }"}')
        assert (status, payload["data"]) == (200, {"__typename": "Query"})


def raw_request(url: str, head: bytes) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        answer = b""
        # Past the server's lingering budget, the connection is reset.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head)
            while chunk := sock.recv(65536):
                answer += chunk
        return answer


def request_with_header(size: int, extra: bytes = b"") -> bytes:
    """A GET of /healthz whose head is about `size` bytes."""
    filler = b"X-Fill: " + b"y" * (size - 60) + b"\r\n"
    return b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + extra + filler + b"\r\n"


def test_headers_over_the_limit_get_431_and_a_closed_connection(database_dsn: str) -> None:
    with served(database_dsn) as url:
        answer = raw_request(url, request_with_header(MAX_HEAD_BYTES + 100))
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large"
        body = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert body["errors"][0]["extensions"] == {"code": 431, "status": 431}
        # 8 MiB of headers are never read whole: a 431, or a reset once the
        # server stops reading; never an answer from the app.
        answer = raw_request(url, request_with_header(8 << 20))
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        # Just under the limit is an ordinary request, pipelined twice on one connection.
        one = request_with_header(MAX_HEAD_BYTES - 100)
        close = request_with_header(MAX_HEAD_BYTES - 100, b"Connection: close\r\n")
        answer = raw_request(url, one + close)
        assert answer.count(b"HTTP/1.1 200 OK") == 2, answer[:300]


def test_a_websocket_message_over_the_limit_closes_the_socket(database_dsn: str) -> None:
    with served(database_dsn, max_ws_message_bytes=4096) as url:
        endpoint = url.replace("http://", "ws://") + "/graphql"
        with ws_connect(endpoint, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": {"pad": "z" * 8192}}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_a_request_head_that_trickles_in_is_cut_off_with_408(database_dsn: str) -> None:
    # Slowloris: a header line now and then kept a connection open for as long
    # as the client liked (uvicorn's keep-alive timer stops once a request has
    # begun); ~20,000 such connections used up the server's descriptors.
    import time

    with served(database_dsn, request_head_seconds=1) as url:
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            answer = b""
            deadline = time.monotonic() + 8
            with contextlib.suppress(OSError):  # the server may close while we send
                while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
                    slow.sendall(b"X-Slow: 1\r\n")
                    slow.settimeout(0.3)
                    with contextlib.suppress(TimeoutError):
                        answer += slow.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer
            assert b'"code":408' in answer
        # Everyone else is served as usual.
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            assert response.status == 200
