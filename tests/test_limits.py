"""Requests that ask for too much are refused before they reach the database."""

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Api, QueryLog, app_settings
from helpers import SESSION_FIELDS, create_session, make_world
from starlette.testclient import TestClient

from gql_server.app import create_app


@pytest.fixture
def strict_api(database_dsn: str) -> Iterator[Api]:
    queries = QueryLog()
    settings = app_settings(
        database_dsn,
        introspection=False,
        graphiql=False,
        cors_origins=["https://dash.example"],
    )
    with TestClient(create_app(settings, on_query=queries)) as client:
        yield Api(client, queries)


def refused(api: Api, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    api.queries.statements.clear()
    error = api.error(query, variables)
    assert error["extensions"] == {"code": 400, "status": 400}
    assert api.queries.statements == [], "refused after touching the database"
    return error


def test_every_dashboard_query_fits_the_limits(api: Api) -> None:
    world = make_world(api)
    create_session(api, world.event_admin_token, world.event_id)
    query = f"""
    query Dashboard($e: ID!) {{
      me {{ id name }}
      event(id: $e) {{
        name organizer {{ name }}
        sessions(first: 100, orderBy: LIVE_VIEWS_DESC) {{
          totalCount pageInfo {{ hasNextPage endCursor }}
          edges {{ cursor node {{ ...Row }} }}
        }}
      }}
    }}
    fragment Row on Session {{ {SESSION_FIELDS} }}
    """
    assert api.data(query, {"e": world.event_id}, world.super_token)["event"]["sessions"]


def test_a_document_is_validated_once_not_per_request(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limits are validation rules; they must not defeat the validation
    # cache (new rule classes per request did: every request was validated).
    from graphql import validate

    validated: list[object] = []

    def counting_validate(*args: Any, **kwargs: Any) -> Any:
        validated.append(args[1])
        return validate(*args, **kwargs)

    world = make_world(api)
    monkeypatch.setattr("strawberry.schema.schema.validate", counting_validate)
    query = "query ValidatedOnce($e: ID!) { event(id: $e) { name } }"
    for _ in range(3):
        assert api.data(query, {"e": world.event_id}, world.super_token)["event"]["name"]
    assert len(validated) == 1
    too_many_aliases = "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(60)) + " }"
    refused(api, too_many_aliases)
    refused(api, too_many_aliases)
    assert len(validated) == 2


def test_too_deep_is_refused_before_the_database(database_dsn: str) -> None:
    # The schema's deepest path (event > sessions > edges > node > watchTime >
    # live) has depth 5 as the limiter counts (the root field is 0).
    settings = app_settings(database_dsn, max_query_depth=4)
    with TestClient(create_app(settings)) as client:
        shallow = Api(client, QueryLog())
        query = '{ event(id: "1") { sessions { edges { node { watchTime { live } } } } } }'
        error = shallow.error(query)
        assert error["extensions"] == {"code": 400, "status": 400}
        assert "exceeds maximum operation depth of 4" in error["message"]
        assert shallow.code('{ event(id: "1") { sessions { nodes { title } } } }') == 401


def test_too_many_aliases_are_refused(api: Api) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    assert "aliases" in refused(api, query)["message"]


def test_too_many_tokens_are_refused(api: Api) -> None:
    query = "{ " + " ".join("__typename" for _ in range(2100)) + " }"
    assert "token" in refused(api, query)["message"].lower()


def test_errors_do_not_suggest_field_names(api: Api) -> None:
    error = refused(api, "{ mee { id } }")
    assert error["message"] == "Cannot query field 'mee' on type 'Query'."


def test_introspection_and_graphiql_can_be_switched_off(strict_api: Api) -> None:
    strict_api.queries.statements.clear()
    body = strict_api.gql("{ __schema { types { name } } }")
    assert "data" not in body
    assert {e["extensions"]["code"] for e in body["errors"]} == {400}
    assert "introspection has been disabled" in body["errors"][0]["message"]
    assert strict_api.queries.statements == []
    page = strict_api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 400
    assert "graphiql" not in page.text.lower()
    assert strict_api.data("{ __typename }") == {"__typename": "Query"}


def test_cors_allows_only_configured_origins(strict_api: Api, api: Api) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    allowed = strict_api.client.options(
        "/graphql", headers={"Origin": "https://dash.example", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
    other = strict_api.client.options(
        "/graphql", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers
    # By default no origin is allowed at all.
    default = api.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://dash.example"}
    )
    assert "access-control-allow-origin" not in default.headers
