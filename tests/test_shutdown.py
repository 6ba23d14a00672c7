"""SIGTERM: a request already in flight still gets its answer; then everything stops."""

import json
import signal
import socket
from pathlib import Path

import psutil
from test_cli import Server, cli, environment, postgres_running


def test_sigterm_lets_the_in_flight_request_finish_and_stops_the_database(
    tmp_path: Path,
) -> None:
    env = environment(tmp_path, None)  # embedded database, owned by the server
    args = ["--email", "root@example.com", "--password", "root-password", "--name", "Root"]
    assert cli(env, "create-user", *args, "--super-admin").returncode == 0
    server = Server(env)
    token = server.login()
    body = json.dumps({"query": 'mutation { createOrganizer(name: "Late") { name } }'}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        # The request has begun once the app asks for its body: uvicorn then answers
        # "100 Continue". Signalling right after sending the head raced the server
        # reading it (a connection with no request yet is closed on shutdown).
        sock.sendall(head)
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            chunk = sock.recv(1)
            assert chunk, interim
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100"), interim
        server.process.send_signal(signal.SIGTERM)
        try:
            psutil.Process(server.process.pid).wait(timeout=0.5)
            raise AssertionError("the server exited with a request in flight")
        except psutil.TimeoutExpired:
            pass  # still serving the request it has begun
        sock.sendall(body)
        answer = b""
        while b'"name":"Late"' not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b'{"data":{"createOrganizer":{"name":"Late"}}' in answer
    server.process.wait(timeout=30)
    assert not postgres_running(tmp_path)  # the embedded database stopped cleanly
    handles = tmp_path / "pgdata" / ".handle_pids.json"
    assert json.loads(handles.read_text()) == []
    restarted = Server(env)  # and the next start is clean, with the data
    try:
        assert restarted.login()
    finally:
        restarted.stop()
