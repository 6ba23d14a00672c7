"""GraphQL over HTTP: status codes for both media types, limits, tokens, masking."""

import asyncio
import base64
import json
import logging
from typing import Any

import httpx2
import orjson
import pytest
from conftest import Api, app_settings, served
from helpers import create_session, make_world
from starlette.testclient import TestClient

from gql_server.app import create_app

GQL = "application/graphql-response+json"
JSON = "application/json"


def post(api: Api, body: Any, accept: str | None = None, **headers: str) -> Any:
    if accept is not None:
        headers["Accept"] = accept
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    headers.setdefault("Content-Type", JSON)
    return api.client.post("/graphql", content=content, headers=headers)


def codes(response: Any) -> list[int]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ me { id "},  # does not parse
        {"query": "{ nosuchfield }"},  # does not validate
        {"query": "query($id: ID!) { event(id: $id) { id } }", "variables": {"id": None}},
        {"query": "query($id: ID!) { event(id: $id) { id } }"},  # variable missing
    ],
)
def test_request_errors_are_400_for_graphql_response_json_and_200_for_json(
    api: Api, body: dict[str, Any]
) -> None:
    strict = post(api, body, GQL)
    assert strict.status_code == 400
    assert strict.headers["content-type"].startswith(GQL)
    assert "data" not in strict.json()
    assert codes(strict) == [400]
    for accept in (JSON, None, "*/*"):
        legacy = post(api, body, accept)
        assert legacy.status_code == 200
        assert legacy.headers["content-type"].startswith(JSON)
        assert codes(legacy) == [400]


def test_field_errors_are_200_with_partial_data_under_both(api: Api) -> None:
    world = make_world(api)
    query = "query($e: ID!) { me { name } event(id: $e) { id } }"
    for accept in (GQL, JSON):
        response = api.client.post(
            "/graphql",
            json={"query": query, "variables": {"e": "4242"}},
            headers={"Accept": accept, "Authorization": f"Bearer {world.attendee_token}"},
        )
        assert response.status_code == 200
        body = response.json()
        assert body["data"] == {"me": {"name": "Ada"}, "event": None}
        assert body["errors"][0]["path"] == ["event"]
        assert body["errors"][0]["extensions"] == {"code": 4040200, "status": 404}


@pytest.mark.parametrize("accept", [GQL, JSON])
@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"query": "{ me { id } }"', "not valid JSON"),
        (b"", "empty"),
        (b"[]", "JSON object"),
        (b'{"notquery": "{ __typename }"}', "query must be a string"),
        (b'{"query": 1}', "query must be a string"),
        (b'{"query": "{ __typename }", "variables": "x"}', "variables"),
        (b'{"query": "{ __typename }", "operationName": 3}', "operationName"),
        (b'{"query": "{ __typename }", "extensions": []}', "extensions"),
        (b'{"query": ""}', "query"),
    ],
)
def test_bad_request_bodies_are_http_400_under_both(
    api: Api, accept: str, body: bytes, words: str
) -> None:
    response = post(api, body, accept)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(accept)
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": 400, "status": 400}
    assert words in error["message"]


def test_unsupported_content_type_is_415(api: Api) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = post(api, {"query": "{ __typename }"}, JSON, **{"Content-Type": content_type})
        assert response.status_code == 415
        assert codes(response) == [415]
    latin = post(
        api, {"query": "{ __typename }"}, JSON, **{"Content-Type": f"{JSON}; charset=latin-1"}
    )
    assert latin.status_code == 415
    utf8 = post(
        api, {"query": "{ __typename }"}, JSON, **{"Content-Type": f"{JSON}; charset=UTF-8"}
    )
    assert utf8.status_code == 200


def test_a_body_over_the_limit_is_413(api: Api) -> None:
    big = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * 1_100_000}})
    response = post(api, big)
    assert response.status_code == 413
    assert codes(response) == [413]


def test_other_methods_are_405_and_get_cannot_mutate(api: Api) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = api.client.request(method, "/graphql")
        assert response.status_code == 405
        assert codes(response) == [405]
    mutation = api.client.get("/graphql", params={"query": "mutation { logout }"})
    assert mutation.status_code == 405
    assert mutation.headers["allow"] == "POST"
    assert codes(mutation) == [405]


def test_queries_work_over_get(api: Api) -> None:
    response = api.client.get(
        "/graphql",
        params={"query": "query($n: String!) { __type(name: $n) { name } }",
                "variables": json.dumps({"n": "Session"})},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["data"] == {"__type": {"name": "Session"}}


@pytest.mark.parametrize(
    "header", ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "token", "Bearer nosuchtoken"]
)
def test_a_bad_authorization_header_is_http_401_even_for_public_operations(
    api: Api, header: str
) -> None:
    for query in ("{ me { id } }", 'mutation { login(email: "a@b.c", password: "x") { token } }'):
        response = api.client.post(
            "/graphql", json={"query": query}, headers={"Authorization": header}
        )
        assert response.status_code == 401
        assert codes(response) == [401]


def test_graphiql_is_served_to_browsers(api: Api) -> None:
    response = api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


def test_healthz(api: Api) -> None:
    response = api.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_names_what_is_not_ready(database_dsn: str) -> None:
    settings = app_settings(database_dsn, webhook_worker=True, webhook_poll_seconds=60)
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {
            "database": "ok", "migrations": "ok", "webhookWorker": "ok"}}  # fmt: skip
        pool = client.app.state.pool  # type: ignore[attr-defined]
        portal = client.portal
        assert portal is not None
        # A migration this code has that the database lacks (an older schema).
        last = "0012_attended_live.sql"
        portal.call(pool.execute, "DELETE FROM schema_migrations WHERE name = $1", last)
        pending = client.get("/readyz")
        assert pending.status_code == 503
        assert pending.json()["checks"]["migrations"] == "pending"
        portal.call(pool.execute, "INSERT INTO schema_migrations (name) VALUES ($1)", last)
        # The webhook worker's loop gone.
        worker = client.app.state.worker  # type: ignore[attr-defined]

        async def end_its_loop() -> None:
            worker.task.cancel()
            await asyncio.wait({worker.task})

        portal.call(end_its_loop)
        stopped = client.get("/readyz")
        assert stopped.status_code == 503
        assert stopped.json()["checks"] == {
            "database": "ok", "migrations": "ok", "webhookWorker": "stopped"}  # fmt: skip
        assert client.get("/healthz").status_code == 200


def test_unexpected_errors_are_masked_as_500_and_logged(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(api)
    create_session(api, world.event_admin_token, world.event_id)

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals at /srv/db.py line 12")

    monkeypatch.setattr("gql_server.services.sessions.count_sessions", broken)
    with caplog.at_level(logging.ERROR):
        response = api.post(
            "query($e: ID!) { event(id: $e) { name sessions { totalCount nodes { title } } } }",
            {"e": world.event_id},
            world.super_token,
        )
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["event"] is None or body["data"]["event"]["sessions"] is None
    assert body["errors"] == [
        {
            "message": "Internal server error",
            "locations": body["errors"][0]["locations"],
            "path": ["event", "sessions", "totalCount"],
            "extensions": {"code": 500, "status": 500},
        }
    ]
    assert "secret" not in response.text and "Traceback" not in response.text
    assert "secret internals" in caplog.text  # the operator sees it


def test_a_database_that_cannot_be_reached_is_503(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(api)

    async def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("connection refused")

    # A field's statement: an outage is one answer, whichever statement met it
    # (`me` has looked the token up first): HTTP 503, code 503, a real message.
    monkeypatch.setattr("gql_server.repo.events.get_event_access", down)
    response = api.post("query($e: ID!) { me { id } event(id: $e) { id } }",
                        {"e": world.event_id}, world.super_token)  # fmt: skip
    assert response.status_code == 503
    assert response.json() == {"errors": [{
        "message": "The database is unavailable; try again shortly",
        "extensions": {"code": 503, "status": 503}}]}  # fmt: skip
    # The token's lookup, alone or along with the event (accounts.TokenLookup):
    # the whole request, as when the token cannot be checked.
    monkeypatch.setattr("gql_server.repo.events.get_event_access_for_token", down)
    monkeypatch.setattr("gql_server.repo.accounts.get_token_user", down)
    for query in ("query($e: ID!) { event(id: $e) { id } }", "{ me { id } }", "{ __typename }"):
        response = api.post(query, {"e": world.event_id}, token=world.super_token)
        assert response.status_code == 503
        assert codes(response) == [503]


def test_unknown_paths_and_methods_answer_with_codes(api: Api) -> None:
    missing = api.client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["extensions"] == {"code": 404, "status": 404}
    wrong = api.client.post("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["errors"][0]["extensions"] == {"code": 405, "status": 405}


def test_text_with_a_nul_character_is_400_and_writes_nothing(api: Api) -> None:
    """PostgreSQL cannot store U+0000 in text; the fuzzer found it as a 500."""
    world = make_world(api)
    nul = {"e": "a\u0000b@example.com", "n": "N\u0000", "p": "password-123"}
    sign_up = "mutation($e: String!, $n: String!, $p: String!) { signUp(email: $e, password: $p, name: $n) { id } }"  # noqa: E501
    error = api.error(sign_up, nul)
    assert error["extensions"] == {"code": 400, "status": 400}
    assert error["message"] == "email must not contain the NUL character (U+0000)"
    named = 'mutation { createOrganizer(name: "x\\u0000y") { id } }'
    assert api.code(named, token=world.super_token) == 400
    search = 'query($e: ID!) { event(id: $e) { sessions(search: "\\u0000") { totalCount } } }'
    assert api.code(search, {"e": world.event_id}, world.super_token) == 400

    async def organizers(pool: Any) -> int:
        count: int = await pool.fetchval("SELECT count(*) FROM organizers")
        return count

    assert api.run(organizers) == 1  # the world's own


def test_the_connection_goes_back_to_the_pool_after_the_response_is_sent(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Giving a connection back is a task of asyncpg's (~80 us): the client
    # need not wait for it. It still goes back, error or not.
    from starlette.responses import Response

    from gql_server.db import RequestDatabase

    events: list[str] = []
    send, close = Response.__call__, RequestDatabase.close

    async def sending(self: Any, *args: Any) -> None:
        await send(self, *args)
        events.append("sent")

    async def closing(self: RequestDatabase) -> None:
        events.append("holding" if self._conn is not None else "not holding")
        await close(self)
        assert self._conn is None

    monkeypatch.setattr(Response, "__call__", sending)
    monkeypatch.setattr(RequestDatabase, "close", closing)
    world = make_world(api)
    events.clear()
    assert api.data("query($e: ID!) { event(id: $e) { id } }", {"e": world.event_id},
                    world.super_token)  # fmt: skip
    assert post(api, {"query": "{ me { id "}).status_code == 200
    assert events == ["sent", "holding", "sent", "not holding"]
    pool = api.client.app.state.pool  # type: ignore[attr-defined]
    assert pool.get_idle_size() == pool.get_size()


def test_inputs_that_answered_500_are_refused_naming_what_is_wrong(
    database_dsn: str, api: Api
) -> None:
    # Over a real server: a NUL in search (PostgreSQL cannot store it), a cursor
    # of deeply nested arrays (json.loads recursed), sizes past 64 bits (the cost
    # figure could not be written). Each is a 400 that names it.
    world = make_world(api)
    create_session(api, world.event_admin_token, world.event_id)
    page = ('query($e: ID!, $s: String, $a: String, $f: Int) { event(id: $e) {'
            " sessions(search: $s, after: $a, first: $f) { nodes { id } } } }")  # fmt: skip
    nested = base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode()
    huge = (
        b'{"query": "query($f: Int) { event(id: \\"1\\") {'
        b' sessions(first: $f) { nodes { id } } } }",'
    )
    cases = [
        (orjson.dumps({"query": page, "variables": {"e": world.event_id, "s": "a\x00b"}}),
         "search must not contain the NUL character (U+0000)"),
        (orjson.dumps({"query": page, "variables": {"e": world.event_id, "a": nested}}),
         "after is not a cursor of this connection"),
        (orjson.dumps({"query": page, "variables": {"e": world.event_id, "f": 1e30}}),
         "The query's estimated cost is 9007199254740991, over the limit"),
        (huge + b' "variables": {"f": 1000000000000000000000000000000}}',
         "The query's estimated cost is 9007199254740991, over the limit"),
    ]  # fmt: skip
    headers = {"Authorization": f"Bearer {world.event_admin_token}",
               "Content-Type": "application/json"}  # fmt: skip
    with served(database_dsn) as url, httpx2.Client(base_url=url, timeout=30) as http:
        for body, words in cases:
            response = http.post("/graphql", content=body, headers=headers)
            assert response.status_code == 200, response.text
            [error] = response.json()["errors"]
            assert error["extensions"] == {"code": 400, "status": 400}
            assert words in error["message"], error["message"]
