"""schemathesis over the whole GraphQL schema, anonymous and as a host.

Every operation of schema.graphql, with generated arguments, against a real
server: no 5xx, no traceback text, and every error carries an integer
extensions.code and extensions.status. (schemathesis's own check that fails
on any `errors` entry is not used: 4040200 for a random event id is the right
answer, not a failure.)
"""

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import schemathesis
from conftest import FAST_HASHING, TEMPLATE, _admin, with_database
from hypothesis import HealthCheck, settings
from test_cli import Server, environment

from gql_server.auth import Passwords
from gql_server.db import create_pool
from gql_server.services import accounts
from gql_server.settings import Settings

schema = schemathesis.graphql.from_path(Path(__file__).parent.parent / "schema.graphql")


@pytest.fixture(scope="module")
def live(server_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A served app on its own database, and a super admin's token."""
    name = f"gql_test_fuzz_{os.getpid()}"
    asyncio.run(_admin(server_dsn, f"DROP DATABASE IF EXISTS {name}",
                       f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))  # fmt: skip
    dsn = with_database(server_dsn, name)

    async def make_root() -> None:
        pool = await create_pool(dsn, min_size=1, max_size=1)
        await accounts.create_user(pool, Passwords(Settings(**FAST_HASHING)),
                                   email="root@example.com", password="root-password",
                                   name="Root", is_super_admin=True)  # fmt: skip
        await pool.close()

    asyncio.run(make_root())
    server = Server(environment(tmp_path_factory.mktemp("fuzz"), dsn))
    try:
        yield server.url, server.login()
    finally:
        server.stop()
        asyncio.run(_admin(server_dsn, f"DROP DATABASE {name} WITH (FORCE)"))


def check(response: httpx2.Response) -> None:
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    body: Any = response.json()
    for error in body.get("errors", []):
        extensions = error["extensions"]
        assert isinstance(extensions["code"], int), error
        assert isinstance(extensions["status"], int), error
        assert extensions["code"] != 500, error


seen: list[str] = []


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.parametrize("as_host", [False, True])
def test_no_operation_breaks_the_server(case: Any, live: tuple[str, str], as_host: bool) -> None:
    url, token = live
    body = case.body if isinstance(case.body, dict) else {"query": case.body}
    # A generated logout would revoke the shared host token for every later case.
    as_host = as_host and "logout" not in body["query"]
    headers = {"Authorization": f"Bearer {token}"} if as_host else {}
    seen.append(body["query"])
    response = httpx2.post(f"{url}/graphql", json=body, headers=headers, timeout=30)
    check(response)


def test_the_fuzzer_sent_real_operations() -> None:
    """Runs after the fuzzing above (file order): it must have covered the schema."""
    if not seen:
        pytest.skip("only meaningful after the fuzz cases above ran in this session")
    assert len(seen) > 100
    for operation in ("event(", "createSession", "recordWatch", "grantRole", "login"):
        assert any(operation in query for query in seen), operation
