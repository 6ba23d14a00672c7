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
