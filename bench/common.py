"""What the benchmark scripts share: a throwaway database, a server process, percentiles."""

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import psutil

from gql_server.db import EmbeddedPostgres
from gql_server.web.serving import free_port


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """A fresh embedded PostgreSQL in a temporary directory (not under /root)."""
    path = Path(tempfile.mkdtemp(prefix="gql-bench-", dir="/tmp"))
    embedded = EmbeddedPostgres(path)
    try:
        yield embedded.start()
    finally:
        embedded.stop()
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def server(dsn: str, *, workers: int = 1) -> Iterator[str]:
    """`gql-server serve` on loopback against `dsn`; yields its base URL."""
    with server_process(dsn, workers=workers) as (url, _):
        yield url


@contextlib.contextmanager
def server_process(dsn: str, *, workers: int = 1, fast_paths: bool = True,
                   source: Path | None = None, extra_env: dict[str, str] | None = None,
                   ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:  # fmt: skip
    """Like server(), also yielding the process (to watch its memory).

    fast_paths=False: GQL_SERVER_FAST_PATHS=false, graphql-core's and Strawberry's
    general execution and coercion (the same answers, slower). source: a checkout
    of another commit whose gql_server/ runs instead (e.g. a git worktree), to
    measure before and after in one run. extra_env: more settings (OBSERVE's)."""
    port = free_port()
    # Simulated players sign up and in from one address: the per-client throttle
    # (30 sign-ins, 10 sign-ups a minute) would refuse them, as it should a real
    # client doing that.
    env = {**os.environ, "DATABASE_URL": dsn, "GQL_SERVER_POOL_MAX_SIZE": "10",
           "GQL_SERVER_FAST_PATHS": str(fast_paths).lower(),
           "GQL_SERVER_SIGN_UPS_PER_MINUTE": "1000000",
           "GQL_SERVER_SIGN_INS_PER_MINUTE": "1000000"}  # fmt: skip
    if source is not None:
        env["PYTHONPATH"] = str(source.resolve())
    env.update(extra_env or {})
    command = [sys.executable, "-m", "gql_server", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit("the server exited during start-up")
            try:
                if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start within 60 s")
            time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def login(url: str, email: str, password: str) -> str:
    response = httpx2.post(
        f"{url}/graphql",
        json={
            "query": "mutation($e: String!, $p: String!)"
            " { login(email: $e, password: $p) { token } }",
            "variables": {"e": email, "p": password},
        },
    )
    token: str = response.json()["data"]["login"]["token"]
    return token


class RawClient:
    """A minimal keep-alive HTTP/1.1 client: the load generator shares the CPU with
    the server, so it should cost as little as possible (httpx2 costs ~2-4 ms a request)."""

    def __init__(self, url: str) -> None:
        parts = httpx2.URL(url)
        self.host, self.port = parts.host, parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return await self.request("POST", path, body, headers)

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str],
                      content_type: str = "application/json") -> tuple[int, bytes]:  # fmt: skip
        try:
            return await self._request(method, path, body, headers, content_type)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closed an idle keep-alive connection: reconnect once.
            await self.close()
            return await self._request(method, path, body, headers, content_type)

    async def _request(self, method: str, path: str, body: bytes, headers: dict[str, str],
                       content_type: str) -> tuple[int, bytes]:  # fmt: skip
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]  # fmt: skip
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        closing = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                closing = True
        answer = await self.reader.readexactly(length)
        if closing:
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its live children (uvicorn's workers)."""
    process = psutil.Process(pid)
    times = [process.cpu_times(), *(c.cpu_times() for c in process.children(recursive=True))]
    return sum(t.user + t.system for t in times)


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"


# What watching the server costs (bench/peer.py and bench/ingest.py --observe): the
# server as deployed by default (metrics on, no traces), with metrics off, and with
# every request traced (100 % sampled, exported over OTLP/HTTP to otlp_sink()).
OBSERVE = ("metrics", "no-metrics", "traced")


def observe_env(config: str, sink: str) -> dict[str, str]:
    if config == "no-metrics":
        return {"GQL_SERVER_METRICS": "false"}
    if config == "traced":
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": sink, "OTEL_TRACES_SAMPLER": "always_on"}
    return {}


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    """A process that takes OTLP/HTTP exports and drops them (a collector's cheapest
    stand-in); yields its URL. It prints what it got when it stops."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(Path(__file__).parent / "otlp_sink.py"),
                                str(port)])  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx2.get(url, timeout=1)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("the OTLP sink did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
