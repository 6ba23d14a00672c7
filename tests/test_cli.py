"""The installed command, used as an operator would: migrate, create-user, serve, stop."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import psutil
import pytest

from gql_server.db import known_migrations
from gql_server.web.serving import free_port

GQL_SERVER = shutil.which("gql-server")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gql-cli-", dir="/tmp"))
    yield path
    postmaster = path / "pgdata" / "postmaster.pid"
    if postmaster.exists():  # never leave a server behind, even when a test failed
        pid = int(postmaster.read_text().split()[0])
        if psutil.pid_exists(pid):
            os.kill(pid, signal.SIGQUIT)
    shutil.rmtree(path, ignore_errors=True)


def environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["GQL_SERVER_DATA_DIR"] = str(data_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert GQL_SERVER, "gql-server is not installed (pip install -e .)"
    return subprocess.run(
        [GQL_SERVER, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


class Server:
    def __init__(self, env: dict[str, str], output: Path | None = None) -> None:
        """`gql-server serve`; its stdout and stderr go to `output` when given."""
        assert GQL_SERVER
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        sink = output.open("w") if output is not None else None
        self.process = subprocess.Popen(
            [GQL_SERVER, "serve", "--port", str(self.port)],
            env=env,
            stdout=sink or subprocess.DEVNULL,
            stderr=sink or subprocess.PIPE,
            text=True,
        )
        if sink is not None:
            sink.close()  # the child has its own copy
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.communicate()[1]
            try:
                if httpx2.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("the server did not become healthy in 60 s")

    def graphql(self, query: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx2.post(f"{self.url}/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def login(self) -> str:
        body = self.graphql(
            'mutation { login(email: "root@example.com", password: "root-password") { token } }'
        )
        token: str = body["data"]["login"]["token"]
        return token

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)
        self.process.communicate(timeout=30)  # waits, and closes the stderr pipe


def postgres_running(data_dir: Path) -> bool:
    postmaster = data_dir / "pgdata" / "postmaster.pid"
    return postmaster.exists() and psutil.pid_exists(int(postmaster.read_text().split()[0]))


@pytest.mark.parametrize("mode", ["embedded", "database_url"])
def test_migrate_create_user_serve_and_query(
    data_dir: Path, mode: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("database_dsn") if mode == "database_url" else None
    env = environment(data_dir, database_url)
    migrated = cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    # A fresh embedded database gets every migration (the test databases on
    # DATABASE_URL are copies of a migrated template): each run says what it did.
    every = f"Applied {len(known_migrations())} migrations"
    assert (every in migrated.stderr) == (mode == "embedded")
    again = cli(env, "migrate")
    assert "Applied" not in again.stderr and "The database is up to date." in again.stderr
    args = ["--email", "Root@Example.com", "--password", "root-password", "--name", "Root"]
    created = cli(env, "create-user", *args, "--super-admin")
    assert created.returncode == 0, created.stderr
    again = cli(env, "create-user", *args)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert (data_dir / "pgdata").exists() == (mode == "embedded")
    # An operator vouches for an address (a server that sends no mail); an unknown one: 1.
    unknown = cli(env, "verify-email", "--email", "Nobody@Example.com")
    assert unknown.returncode == 1 and "No account has the address nobody@example.com" in (
        unknown.stderr
    )
    vouched = cli(env, "verify-email", "--email", "ROOT@example.com")
    assert vouched.returncode == 0 and "root@example.com is verified" in vouched.stderr

    server = Server(env)
    try:
        token = server.login()
        me = server.graphql("{ me { email isSuperAdmin emailVerified } }", token)
        assert me["data"] == {
            "me": {"email": "root@example.com", "isSuperAdmin": True, "emailVerified": True}
        }
        made = server.graphql('mutation { createOrganizer(name: "Kept") { id } }', token)
        assert made["data"]["createOrganizer"]["id"]
    finally:
        server.stop()
    assert server.process.returncode in (0, -signal.SIGTERM)
    # The embedded database was stopped with the server, and starts again with the data.
    assert not postgres_running(data_dir)
    server = Server(env)
    try:
        assert server.graphql("{ me { email } }", server.login())["data"]["me"]
    finally:
        server.stop()


def test_a_killed_server_does_not_block_the_next_start(data_dir: Path) -> None:
    env = environment(data_dir, None)
    assert cli(env, "create-user", "--email", "root@example.com", "--password",
               "root-password", "--name", "Root").returncode == 0  # fmt: skip
    killed = Server(env)
    killed.stop(signal.SIGKILL)  # no cleanup at all: its pid stays in the handle list
    handles = data_dir / "pgdata" / ".handle_pids.json"
    assert killed.process.pid in json.loads(handles.read_text())
    assert postgres_running(data_dir)

    server = Server(env)  # attaches to the running database, prunes the dead pid
    try:
        assert server.login()
        assert killed.process.pid not in json.loads(handles.read_text())
    finally:
        server.stop()
    assert not postgres_running(data_dir)  # the last live handle stopped it


def test_export_schema_prints_the_committed_sdl() -> None:
    printed = cli(dict(os.environ), "export-schema")
    assert printed.returncode == 0
    assert printed.stdout == (Path(__file__).parent.parent / "schema.graphql").read_text()


def test_the_served_process_prints_no_secret(data_dir: Path) -> None:
    # uvicorn's own access log prints the request line, query string included.
    env = environment(data_dir, None)
    output = data_dir / "output.txt"
    server = Server(env, output)
    try:
        login = 'mutation { login(email: "a@example.com", password: "s3cret-in-url") { token } }'
        refused = httpx2.get(f"{server.url}/graphql", params={"query": login})
        assert refused.status_code == 405
        httpx2.get(f"{server.url}/events/1/sessions.csv", params={"token": "t0ken-in-url"})
        httpx2.get(f"{server.url}/healthz", headers={"Authorization": "Bearer t0ken-in-header"})
    finally:
        server.stop()
    printed = output.read_text()
    assert "GET /graphql 405" in printed, printed  # our own access log ran
    assert f"Dashboard: http://127.0.0.1:{server.port}/" in printed
    for secret in ("s3cret-in-url", "t0ken-in-url", "t0ken-in-header", "login("):
        assert secret not in printed, printed


def test_help_and_bad_settings_are_short_and_name_the_problem(tmp_path: Path) -> None:
    env = environment(tmp_path, None)
    for flag in ("-h", "--help"):
        shown = cli(env, flag)
        assert shown.returncode == 0, shown.stderr
        text = " ".join(shown.stdout.split())
        assert "DATABASE_URL" in text and "GQL_SERVER_DATA_DIR" in text, text
    # A database that cannot be used: one line naming it (never its password) and why.
    unusable = [("postgresql://app:s3cret@127.0.0.1:1/x", "ConnectionRefusedError"),
                ("postgresql://app:s3cret@no-such-host.invalid/x", "gaierror")]  # fmt: skip
    for url, cause in unusable:
        failed = cli(environment(tmp_path, url), "migrate")
        text = " ".join(failed.stderr.split())
        assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
        assert text.startswith("Cannot use DATABASE_URL's server") and cause in text, text
        assert "s3cret" not in failed.stderr and len(failed.stderr.splitlines()) <= 3
    # An invalid setting: named, not repeated (it may hold a password), no traceback.
    bad = {**env, "GQL_SERVER_SMTP_URL": "http://user:s3cret@mail.example.com"}
    refused = cli(bad, "migrate")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "GQL_SERVER_SMTP_URL" in refused.stderr and "s3cret" not in refused.stderr


def test_json_logs_and_request_ids(tmp_path: Path, database_dsn: str) -> None:
    env = {**environment(tmp_path, database_dsn), "GQL_SERVER_LOG_FORMAT": "json"}
    output = tmp_path / "server.log"
    server = Server(env, output)
    try:
        body = {"query": "query Probe { __typename }"}
        given = httpx2.post(f"{server.url}/graphql", json=body,
                            headers={"X-Request-ID": "req-42.a:b"})  # fmt: skip
        assert given.headers["x-request-id"] == "req-42.a:b"  # the client's, sent back
        for bad in ("two words", "x" * 129, "<script>"):
            made = httpx2.get(f"{server.url}/healthz", headers={"X-Request-ID": bad})
            assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])  # a new one
        assert re.fullmatch(r"[0-9a-f]{32}", httpx2.get(f"{server.url}/healthz").headers[
            "x-request-id"])  # fmt: skip
    finally:
        server.stop()
    lines = output.read_text().splitlines()
    banner = ("Dashboard:", "GraphiQL:", "Applied ", "The database")
    records = [json.loads(line) for line in lines if not line.startswith(banner)]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    (probe,) = [r for r in records if r.get("request_id") == "req-42.a:b"]
    assert probe["logger"] == "gql_server.access" and probe["level"] == "INFO"
    assert {k: probe[k] for k in ("method", "path", "status", "operation")} == {
        "method": "POST", "path": "/graphql", "status": 200, "operation": "Probe"}  # fmt: skip
    assert isinstance(probe["duration_ms"], float)
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's lines too
