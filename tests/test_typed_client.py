"""The committed schema works for typed clients, and code changes cannot break it unnoticed.

A typed Python client is generated from schema.graphql and the dashboard's
operations (tests/client/queries.graphql) with ariadne-codegen, checked with
mypy --strict through a small consumer, and run against the server.
ariadne-codegen 0.19 pins graphql-core < 3.3 while Strawberry needs 3.3, so it
runs from its own virtual environment, made on first use in
tests/client/.venv (pip, from PyPI), like the node audit's npm install.
"""

import asyncio
import importlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_HASHING, served
from graphql import build_schema, find_breaking_changes

from gql_server.auth import Passwords
from gql_server.db import create_pool
from gql_server.schema import export_sdl
from gql_server.settings import Settings

ROOT = Path(__file__).parent.parent
CLIENT = Path(__file__).parent / "client"
CODEGEN = "ariadne-codegen==0.19.0"
CONTRACT = ROOT / "contract" / "api.graphql"


def codegen() -> Path:
    venv = CLIENT / ".venv"
    marker = venv / CODEGEN
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", CODEGEN], check=True)
        marker.touch()
    return venv / "bin" / "ariadne-codegen"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("client")
    config = out / "codegen.toml"
    config.write_text(
        "[tool.ariadne-codegen]\n"
        f'schema_path = "{ROOT / "schema.graphql"}"\n'
        f'queries_path = "{CLIENT / "queries.graphql"}"\n'
        'target_package_name = "dashboard_client"\n'
        f'target_package_path = "{out}"\n'
        "[tool.ariadne-codegen.scalars.DateTime]\n"
        'type = "datetime.datetime"\n'
    )
    subprocess.run([str(codegen()), "--config", str(config)], check=True, capture_output=True)
    sys.path.insert(0, str(out))
    try:
        yield out
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.startswith("dashboard_client")]:
            del sys.modules[name]


def test_the_generated_client_type_checks(generated: Path) -> None:
    # Strict on the consumer; the generated package itself is not ours to lint
    # (follow-imports=silent: its types are used, its own style is not checked).
    config = generated / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\nfollow_imports = silent\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--config-file", str(config),
         str(CLIENT / "consumer.py")],
        env={"MYPYPATH": str(generated), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


async def _create_host(dsn: str) -> None:
    from gql_server.services import accounts

    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        await accounts.create_user(pool, Passwords(Settings(**FAST_HASHING)),
                                   email="root@example.com", password="password-123",
                                   name="Root", is_super_admin=True)  # fmt: skip
    finally:
        await pool.close()


def test_the_generated_client_runs_the_dashboard_queries(
    generated: Path, database_dsn: str
) -> None:
    asyncio.run(_create_host(database_dsn))
    client_module: Any = importlib.import_module("dashboard_client")
    with served(database_dsn) as url:

        async def scenario() -> None:
            anonymous = client_module.Client(url=f"{url}/graphql")
            signed_in = await anonymous.sign_in(email="root@example.com", password="password-123")
            assert signed_in.login.user.name == "Root"
            assert isinstance(signed_in.login.expires_at, datetime)
            host = client_module.Client(
                url=f"{url}/graphql",
                headers={"Authorization": f"Bearer {signed_in.login.token}"},
            )
            event_id = await _event_with_a_session(host.http_client, url, signed_in.login.token)
            sessions = await host.hosted_sessions(
                event=event_id, first=10, order_by=client_module.SessionOrder.LIVE_VIEWS_DESC
            )
            node = sessions.event.sessions.nodes[0]
            assert node.title == "Typed" and node.live_views == 0
            assert isinstance(node.start_time, datetime) and isinstance(node.as_of, datetime)
            charts = await host.session_charts(event=event_id, search="Typed")
            assert len(charts.event.sessions.nodes[0].retention.points) == 10
            totals = await host.event_totals(event=event_id)
            assert totals.event.analytics.sessions == 1
            with pytest.raises(client_module.GraphQLClientGraphQLMultiError) as refused:
                await anonymous.event_totals(event=event_id)
            assert refused.value.errors[0].extensions == {"code": 401, "status": 401}

        asyncio.run(scenario())


async def _event_with_a_session(http: Any, url: str, token: str) -> str:
    """Setup the typed operations do not cover, as plain GraphQL."""

    async def gql(query: str) -> Any:
        response = await http.post(f"{url}/graphql", json={"query": query},
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        return response.json()["data"]

    org = (await gql('mutation { createOrganizer(name: "O") { id } }'))["createOrganizer"]["id"]
    event = await gql(
        f'mutation {{ createEvent(input: {{organizerId: "{org}", name: "E"}}) {{ id }} }}'
    )
    event_id: str = event["createEvent"]["id"]
    await gql(
        f'mutation {{ createSession(eventId: "{event_id}", input: {{title: "Typed",'
        ' startTime: "2026-12-01T09:00:00Z", endTime: "2026-12-01T10:00:00Z",'
        " format: MAIN_STAGE, streamProvider: YOUTUBE, videoDuration: 600}) { id } }"
    )
    return event_id


def test_the_code_does_not_break_the_committed_schema_or_the_contract() -> None:
    code = build_schema(export_sdl())
    for name, committed in [("schema.graphql", ROOT / "schema.graphql"), ("contract", CONTRACT)]:
        assert committed.exists(), f"{name} is expected at {committed}"
        changes = find_breaking_changes(build_schema(committed.read_text()), code)
        assert changes == [], f"{name}: " + "; ".join(c.description for c in changes)


def test_a_breaking_change_would_be_caught() -> None:
    committed = build_schema((ROOT / "schema.graphql").read_text())
    changed = build_schema(
        export_sdl()
        .replace("  sessionId: ID!\n", "", 1)
        .replace("first: Int = 100", "first: Int!", 1)
    )
    descriptions = [c.description for c in find_breaking_changes(committed, changed)]
    assert "Field Session.sessionId was removed." in descriptions
    assert any("first" in d for d in descriptions), descriptions
