"""The database goes away and comes back: quick 503s, then recovery without a restart."""

import asyncio
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from conftest import FAST_HASHING, Api, QueryLog, app_settings, served
from helpers import PASSWORD, create_event, create_organizer, create_session, login, sign_up
from starlette.testclient import TestClient

from gql_server.app import create_app
from gql_server.auth import Passwords
from gql_server.db import EmbeddedPostgres, create_pool
from gql_server.errors import DATABASE_UNAVAILABLE
from gql_server.repo.verify import find_rollup_mismatches
from gql_server.services import accounts
from gql_server.settings import Settings


def test_requests_get_503_quickly_while_the_database_is_down_then_recover() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="gql-outage-", dir="/tmp"))
    database = EmbeddedPostgres(data_dir)
    try:
        dsn = database.start()
        with TestClient(create_app(app_settings(dsn))) as client:
            api = Api(client, QueryLog())
            _, token = sign_up(api)
            assert api.data("{ me { name } }", token=token) == {"me": {"name": "Ann"}}

            database.stop()
            began = time.monotonic()
            down = api.post("{ me { name } }", token=token)
            assert down.status_code == 503
            assert down.json()["errors"][0]["extensions"] == {"code": 503, "status": 503}
            anonymous = api.gql("{ __typename me { id } }")  # no token: no query needed
            assert anonymous["data"] == {"__typename": "Query", "me": None}
            public = api.post(
                'mutation { login(email: "a@b.co", password: "password-1") { token } }'
            )
            # One answer for an outage, whichever statement met it.
            assert public.status_code == 503
            assert public.json()["errors"] == down.json()["errors"]
            assert down.json()["errors"][0]["message"] == DATABASE_UNAVAILABLE
            # Not ready, but alive: an orchestrator stops sending traffic, and does not
            # restart a process that will serve again once the database is back.
            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"]["database"] in ("unavailable", "no answer")
            assert client.get("/healthz").status_code == 200
            assert time.monotonic() - began < 10, "the outage made requests hang"

            database.start()
            assert client.get("/readyz").json() == {
                "status": "ready",
                "checks": {"database": "ok", "migrations": "ok", "webhookWorker": "off"},
            }
            assert api.data("{ me { name } }", token=token) == {"me": {"name": "Ann"}}
            assert login(api, api.data("{ me { email } }", token=token)["me"]["email"])
    finally:
        database.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


RECORD = "mutation($s: [WatchSegmentInput!]!) { recordWatch(segments: $s) { accepted } }"
LIVE = "query($e: ID!) { event(id: $e) { sessions(first: 10) { nodes { watchTime { live } } } } }"
PLAYERS = 6
SPAN, SPANS_PER_BATCH = 5, 10  # each batch: 10 adjacent 5 s spans, 50 new seconds


@dataclass
class Outcome:
    at: float
    took: float
    status: int | str  # HTTP status, or the transport error's name
    codes: list[int]  # extensions.code of every error in the body


class Player:
    """Sends batches of new seconds; a batch is resent until acknowledged."""

    def __init__(self, url: str, token: str, session_id: str) -> None:
        self.http = httpx2.Client(base_url=url, timeout=60)
        self.token = token
        self.session_id = session_id
        self.acked = 0
        self.outcomes: list[Outcome] = []

    def batch(self) -> list[dict[str, Any]]:
        start = self.acked * SPAN * SPANS_PER_BATCH
        return [
            {"sessionId": self.session_id, "mode": "LIVE",
             "startSecond": start + i * SPAN, "endSecond": start + (i + 1) * SPAN}
            for i in range(SPANS_PER_BATCH)
        ]  # fmt: skip

    def send(self, body: dict[str, Any]) -> dict[str, Any] | None:
        began = time.monotonic()
        try:
            response = self.http.post(
                "/graphql", json=body, headers={"Authorization": f"Bearer {self.token}"}
            )
        except httpx2.TransportError as error:
            self.outcomes.append(
                Outcome(began, time.monotonic() - began, type(error).__name__, [])
            )
            return None
        payload: dict[str, Any] = response.json()
        codes = [e["extensions"]["code"] for e in payload.get("errors", [])]
        self.outcomes.append(Outcome(began, time.monotonic() - began, response.status_code, codes))
        return payload

    def play(self, stop: threading.Event) -> None:
        while not stop.is_set():
            while True:  # the same batch until it is acknowledged, even after stop
                payload = self.send({"query": RECORD, "variables": {"s": self.batch()}})
                if payload and "errors" not in payload:
                    assert payload["data"]["recordWatch"]["accepted"] == SPANS_PER_BATCH
                    self.acked += 1
                    break
                time.sleep(0.02)


def test_every_acknowledged_batch_counts_once_across_an_outage_under_load() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="gql-outage-", dir="/tmp"))
    database = EmbeddedPostgres(data_dir)
    try:
        dsn = database.start()
        with served(dsn) as url, httpx2.Client(base_url=url, timeout=60) as http:
            api = Api(http, QueryLog())  # type: ignore[arg-type]
            asyncio.run(_create_super_admin(dsn))
            host = login(api, "root@example.com")
            event_id = create_event(api, host, create_organizer(api, host))
            session_id = create_session(api, host, event_id, videoDuration=None)
            players = [Player(url, sign_up(api)[1], session_id) for _ in range(PLAYERS)]
            reader = Player(url, host, session_id)  # a host reloading the numbers
            stop = threading.Event()
            threads = [threading.Thread(target=p.play, args=(stop,)) for p in players]
            threads.append(threading.Thread(target=_read, args=(reader, event_id, stop)))
            for thread in threads:
                thread.start()
            try:
                time.sleep(1)
                stopped = time.monotonic()
                database.stop()
                time.sleep(1.5)
                database.start()
                restarted = time.monotonic()
                time.sleep(3)
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=120)
            assert not any(thread.is_alive() for thread in threads), "a client hung"

            outcomes = [o for p in [*players, reader] for o in p.outcomes]
            # Only two answers: success, or a JSON 503 (HTTP 503 before execution,
            # or HTTP 200 with code 503 from a resolver). No 500, no hang.
            for outcome in outcomes:
                assert outcome.status in (200, 503), outcome
                assert set(outcome.codes) <= {503}, outcome
                assert outcome.took < 10, outcome
            failed = [o for o in outcomes if o.status != 200 or o.codes]
            assert failed, "the outage was not seen by any client"
            assert all(stopped - 1 < o.at < restarted + 2 for o in failed), "no recovery"
            for player in players:
                assert any(o.at < stopped and not o.codes for o in player.outcomes)
                assert any(o.at > restarted and not o.codes for o in player.outcomes)

            # Each player covered [0, 50 x acked) once; resent batches add nothing.
            nodes = api.data(LIVE, {"e": event_id}, host)["event"]["sessions"]["nodes"]
            acked_seconds = sum(p.acked for p in players) * SPAN * SPANS_PER_BATCH
            assert nodes == [{"watchTime": {"live": acked_seconds}}]
            assert asyncio.run(_mismatches(dsn, int(event_id))) == []
    finally:
        database.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _read(reader: Player, event_id: str, stop: threading.Event) -> None:
    while not stop.is_set():
        reader.send({"query": LIVE, "variables": {"e": event_id}})
        time.sleep(0.05)


async def _create_super_admin(dsn: str) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        await accounts.create_user(pool, Passwords(Settings(**FAST_HASHING)),
                                   email="root@example.com", password=PASSWORD, name="Root",
                                   is_super_admin=True)  # fmt: skip
    finally:
        await pool.close()


async def _mismatches(dsn: str, event_id: int) -> list[Any]:
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        return await find_rollup_mismatches(pool, event_id)
    finally:
        await pool.close()


def test_a_request_that_runs_too_long_gets_503(database_dsn: str) -> None:
    # Hashing this costly takes seconds; the deadline is a tenth of one.
    settings = app_settings(
        database_dsn, request_timeout=0.1, argon2_time_cost=40, argon2_memory_kib=65536
    )
    with TestClient(create_app(settings)) as client:
        api = Api(client, QueryLog())
        began = time.monotonic()
        response = api.post(
            'mutation { signUp(email: "a@b.co", password: "password-1", name: "A") { id } }'
        )
        assert time.monotonic() - began < 2
        assert response.status_code == 503
        assert response.json()["errors"] == [
            {"message": "The request took too long", "extensions": {"code": 503, "status": 503}}
        ]


def test_a_frozen_database_cannot_hold_requests_past_their_deadline() -> None:
    # PostgreSQL stopped dead (SIGSTOP: no answer, no refusal): requests used to
    # hang until it woke, and the health probe took over 5 s. Now a request ends by
    # its deadline (GQL_SERVER_REQUEST_TIMEOUT, here 3 s) with the outage's one
    # answer, /readyz within its 2 s bound, and all recover when it wakes.
    import os
    import signal

    import psutil

    data_dir = Path(tempfile.mkdtemp(prefix="gql-freeze-", dir="/tmp"))
    database = EmbeddedPostgres(data_dir)
    frozen: list[psutil.Process] = []
    try:
        dsn = database.start()
        settings = app_settings(dsn, request_timeout=3)
        with TestClient(create_app(settings)) as client:
            api = Api(client, QueryLog())
            _, token = sign_up(api)
            assert api.data("{ me { name } }", token=token) == {"me": {"name": "Ann"}}
            postmaster = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
            parent = psutil.Process(postmaster)
            frozen = [parent, *parent.children(recursive=True)]
            for process in frozen:
                os.kill(process.pid, signal.SIGSTOP)
            began = time.monotonic()
            hung = api.post("{ me { name } }", token=token)
            assert time.monotonic() - began < 6, "the request outlived its deadline"
            assert hung.status_code == 503
            assert hung.json()["errors"][0]["extensions"] == {"code": 503, "status": 503}
            began = time.monotonic()
            frozen_probe = client.get("/readyz")
            assert frozen_probe.status_code == 503
            assert frozen_probe.json()["checks"]["database"] == "no answer"
            assert time.monotonic() - began < 3, "/readyz outlived its bound"
            began = time.monotonic()
            assert client.get("/healthz").status_code == 200  # alive, and says so at once
            assert time.monotonic() - began < 1
            for process in frozen:
                os.kill(process.pid, signal.SIGCONT)
            frozen = []
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "no recovery after the database woke"
                time.sleep(0.2)
            assert api.data("{ me { name } }", token=token) == {"me": {"name": "Ann"}}
    finally:
        for process in frozen:
            os.kill(process.pid, signal.SIGCONT)
        database.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
