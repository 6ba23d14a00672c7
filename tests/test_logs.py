"""Passwords and tokens never reach the logs."""

import logging

import pytest
from conftest import Api
from helpers import PASSWORD, create_super_admin, login


def test_secrets_stay_out_of_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_password = "correct-horse-battery"
    api.data(
        'mutation { signUp(email: "s@example.com", password: "correct-horse-battery",'
        ' name: "S") { id } }'
    )
    token = login(api, "s@example.com", secret_password)
    api.code(
        'mutation { login(email: "s@example.com", password: "wrong-horse-battery") { token } }'
    )
    api.client.get("/graphql", params={
        "query": 'mutation { login(email: "s@example.com", password: "correct-horse-battery")'
                 " { token } }"})  # fmt: skip
    api.post("{ me { id } }", token=token + "x")
    root = create_super_admin(api)
    api.data("mutation { logout }", token=token)
    # The test's own HTTP client logs the URLs it requests; that is not the server.
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any("/graphql" in r.getMessage() for r in server), "the access log did not run"
    text = "\n".join(r.getMessage() + str(r.exc_info or "") for r in server)
    for secret in (secret_password, "wrong-horse-battery", PASSWORD, token, root):
        assert secret not in text


def test_control_characters_in_a_path_are_escaped_in_the_access_log(
    database_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Over a real server: the path arrives percent-decoded, so CR/LF could forge
    # a second log line and ANSI escapes could recolour an operator's terminal.
    import socket
    from urllib.parse import urlsplit

    from conftest import served

    caplog.set_level(logging.INFO, logger="gql_server.access")
    with served(database_dsn) as url:
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as client:
            forged = b"/x%0d%0a127.0.0.1%20GET%20/admin%20200%1b[31m%e2%80%a8"
            client.sendall(b"GET " + forged + b" HTTP/1.1\r\nHost: localhost\r\n"
                           b"Connection: close\r\n\r\n")  # fmt: skip
            assert client.recv(100).startswith(b"HTTP/1.1 404")
    lines = [r.getMessage() for r in caplog.records if r.name == "gql_server.access"]
    assert len(lines) == 1
    assert lines[0].startswith("GET /x\\x0d\\x0a127.0.0.1 GET /admin 200\\x1b[31m\\u2028 404 ")
    assert not any(c in lines[0] for c in "\r\n\x1b\u2028")
