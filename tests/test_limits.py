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
    # The limits must not defeat the validation cache (new rule classes per
    # request did: every request was validated), and a document over them is
    # refused before graphql-core's rules run at all.
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
    assert len(validated) == 1


def test_too_deep_is_refused_before_the_database(database_dsn: str) -> None:
    # The schema's deepest path (event > sessions > edges > node > watchTime >
    # live) has depth 5 as the limiter counts (the root field is 0).
    settings = app_settings(database_dsn, max_query_depth=4)
    with TestClient(create_app(settings)) as client:
        shallow = Api(client, QueryLog())
        query = '{ event(id: "1") { sessions { edges { node { watchTime { live } } } } } }'
        error = shallow.error(query)
        assert error["extensions"] == {"code": 400, "status": 400}
        assert error["message"] == "The query is deeper than 4 levels"
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


def doubling_fragments(levels: int) -> str:
    """Fragment k spreads fragment k-1 twice: 2^levels fields once expanded."""
    fragments = ["fragment F0 on Query { __typename }"]
    fragments += [
        f"fragment F{k} on Query {{ ...F{k - 1} ...F{k - 1} }}" for k in range(1, levels)
    ]
    return f"{{ ...F{levels - 1} }} " + " ".join(fragments)


def test_fragments_that_double_at_each_level_are_refused(api: Api) -> None:
    query = doubling_fragments(20)
    assert len(query) < 1000
    error = refused(api, query)
    # Refused at F7 already: 128 fields collected in the query's selection set.
    assert "asks for 128 fields" in error["message"]
    # As a GET of a short URL, too.
    response = api.client.get("/graphql", params={"query": query})
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == 400
    # Six levels (64 fields once expanded) are within the limits and answer.
    assert api.data(doubling_fragments(6)) == {"__typename": "Query"}


def test_more_fields_than_the_limit_once_fragments_are_expanded_are_refused(api: Api) -> None:
    # Each selection set is small; spread 30 times, the fragment is 30 x 101 fields.
    titles = " ".join("title" for _ in range(99))
    spreads = " ".join(f'e{i}: event(id: "1") {{ ...E }}' for i in range(30))
    query = f"{{ {spreads} }} fragment E on Event {{ sessions {{ nodes {{ {titles} }} }} }}"
    assert "more than 2000 fields" in refused(api, query)["message"]
    # 19 spreads (1,957 fields with the events) are within the limit.
    fewer = " ".join(f'e{i}: event(id: "1") {{ ...E }}' for i in range(19))
    query = f"{{ {fewer} }} fragment E on Event {{ sessions {{ nodes {{ {titles} }} }} }}"
    assert {e["extensions"]["code"] for e in api.gql(query)["errors"]} == {401}


def test_a_selection_set_of_hundreds_of_fields_is_refused(api: Api) -> None:
    # graphql-core's overlapping-fields rule compares each pair: 495 took 1.2 s.
    error = refused(api, "{ " + " ".join("me { id }" for _ in range(495)) + " }")
    assert "asks for 495 fields" in error["message"]
    # Through fragments, too.
    half = " ".join("me { id }" for _ in range(60))
    error = refused(api, f"{{ ...A ...B }} fragment A on Query {{ {half} }} "
                         f"fragment B on Query {{ {half} }}")  # fmt: skip
    assert "asks for 120 fields" in error["message"]


def test_fragment_cycles_and_unknown_fragments_are_validation_errors(api: Api) -> None:
    cyclic = refused(api, "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
    assert "Cannot spread fragment 'A' within itself" in cyclic["message"]
    assert "Unknown fragment 'Nope'" in refused(api, "{ ...Nope }")["message"]


EXPENSIVE = """
query($first: Int!) { event(id: "1") { sessions(first: $first) { nodes {
  viewers(first: 100) { nodes { user { name } liveWatchedSeconds } }
  retention(mode: LIVE) { points { percent } }
  %s
} } } }
"""


def test_the_estimated_cost_refuses_a_huge_page_of_deep_analytics(api: Api) -> None:
    concurrency = " ".join(f"c{i}: concurrency {{ points {{ viewers }} }}" for i in range(25))
    query = EXPENSIVE % concurrency
    # 1000.0 is the Int 1000 to graphql-core's coercion, so it costs as much.
    as_float = api.gql(query, {"first": 1000.0})
    assert as_float["extensions"]["cost"] == {"requested": 54_988_002, "limit": 50_000}
    assert "data" not in as_float
    body = api.gql(query, {"first": 1000})
    assert body["errors"][0]["extensions"] == {"code": 400, "status": 400}
    # Per session: viewers 1 + 10 + 100 x (nodes 1 + user 1) = 211; retention
    # 1 + 25 + 100 x points 1 = 126; each concurrency 1 + 25 + 2,160 points (a
    # minute each over 36 hours) = 2,186, and nodes 1: 1 + 211 + 126 + 25 x 2,186
    # = 54,988. sessions: 1 + 1000 x 54,988; event: 1 more.
    assert body["extensions"]["cost"] == {"requested": 54_988_002, "limit": 50_000}
    assert "estimated cost is 54988002" in body["errors"][0]["message"]
    assert "data" not in body
    # The same document with a small page is within the budget (and runs:
    # an anonymous caller gets 401).
    small = api.gql(EXPENSIVE % "", {"first": 10})
    assert small["extensions"]["cost"]["requested"] == 2 + 10 * (1 + 211 + 126)
    assert small["errors"][0]["extensions"]["code"] == 401


def test_every_answer_reports_its_cost(api: Api) -> None:
    world = make_world(api)
    query = """query($e: ID!) { event(id: $e) { name sessions(first: 10) { totalCount nodes {
      title watchTime { live } viewers(first: 5) { nodes { user { name } } } } } } }"""
    body = api.gql(query, {"e": world.event_id}, world.super_token)
    assert "errors" not in body
    # event 1 + sessions (1 + 10 x (nodes 1 + watchTime 1 + viewers (1 + 10 + 5 x 2))) = 232
    assert body["extensions"]["cost"] == {"requested": 232, "limit": 50_000}
    assert api.gql("{ __typename }")["extensions"]["cost"]["requested"] == 0


def test_graphiqls_introspection_query_fits_the_limits(api: Api) -> None:
    from graphql import get_introspection_query

    body = api.gql(get_introspection_query(descriptions=True))
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_several_operations_need_an_operation_name(api: Api) -> None:
    document = "query A { __typename } mutation B { logout }"
    response = api.client.post("/graphql", json={"query": document})
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": 400, "status": 400}
    assert "operationName" in error["message"]
    assert "data" not in response.json()
    named = api.client.post("/graphql", json={"query": document, "operationName": "A"})
    assert named.json()["data"] == {"__typename": "Query"}
    unknown = api.client.post("/graphql", json={"query": document, "operationName": "C"})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["message"] == "The document has no operation named 'C'"


def test_a_document_of_more_tokens_than_the_limit_is_refused(api: Api) -> None:
    # GQL_SERVER_MAX_TOKENS (2000): a query of 1 + 3 x 666 + 1 = 2000 tokens
    # parses (and is refused by the next limit), one of 2003 does not; the
    # second time too (the parse cache keeps documents, not refusals).
    def query(fields: int) -> str:
        return "{ " + " ".join(f"a{i}: __typename" for i in range(fields)) + " }"

    for _ in range(2):
        assert "more than 2000 tokens" in refused(api, query(667))["message"]
        assert "666 fields" in refused(api, query(666))["message"]


def test_the_cost_is_of_what_will_run(api: Api) -> None:
    """Defaults of variables count (a refused page does not pass by moving its size into
    the default), points count as many as the arguments allow, lists no argument
    sizes as many as they may hold, and long strings by their size."""

    def cost(query: str, variables: dict[str, Any] | None = None) -> int:
        requested: int = api.gql(query, variables)["extensions"]["cost"]["requested"]
        return requested

    page = 'query($n: Int%s) { event(id: "1") { sessions(first: $n) { nodes { id } } } }'
    assert cost(page % " = 1000") == cost(page % "", {"n": 1000}) == 1 + 1 + 1000
    assert cost(page % " = 1000", {"n": 10}) == 12
    timeline = ('{ event(id: "1") { timeline(timeZone: "UTC", bucket: HOUR%s)'
                " { points { uniqueViewers } } } }")  # fmt: skip
    assert cost(timeline % "") == 1 + 1 + 50 + 10_000
    day = ', from: "2026-12-01T00:00:00Z", to: "2026-12-02T00:00:00Z"'
    assert cost(timeline % day) == 1 + 1 + 50 + 26  # 24 hours, and one on each side
    concurrency = (
        '{ event(id: "1") { session(id: "1") { concurrency%s { points { viewers } } } } }'
    )
    assert cost(concurrency % "") == 1 + 1 + 1 + 25 + 36 * 60  # a point a minute over 36 h
    assert cost(concurrency % "(bucketSeconds: 600)") == 1 + 1 + 1 + 25 + 36 * 6
    assert cost('{ event(id: "1") { webhookEndpoints { id } } }') == 1 + 20 * 1
    deliveries = ('{ event(id: "1") { webhookEndpoints { deliveries(first: 10) {'
                  " nodes { payload } } } } }")  # fmt: skip
    # Each endpoint 1, its deliveries 1 + 10 x (a node 1 + its payload 100).
    assert cost(deliveries) == 1 + 20 * (1 + 1 + 10 * (1 + 100))


def test_documents_padded_with_comments_are_refused_and_not_kept(api: Api) -> None:
    """Comments are no tokens, but a parsed document keeps its text: 1,450 distinct
    1 MB documents padded with a comment took the server to 2.78 GB. Past
    GQL_SERVER_MAX_DOCUMENT_BYTES a document is refused before it is parsed."""
    from gql_server.engine.cache import cache_of

    schema = api.client.app.state.schema  # type: ignore[attr-defined]
    cache = cache_of(schema._schema)
    before = cache.bytes
    for n in range(5):
        padded = "{ __typename } #" + str(n) * 200_000
        answer = api.client.post("/graphql", json={"query": padded})
        [error] = answer.json()["errors"]
        assert error["extensions"] == {"code": 400, "status": 400}
        assert error["message"] == "The document is 200016 bytes, over the limit of 102400"
    assert cache.bytes == before
    # Just under the limit: parsed, answered, and weighed by its length.
    fits = "{ __typename } #" + "x" * 100_000
    assert api.client.post("/graphql", json={"query": fits}).json()["data"] == {
        "__typename": "Query"
    }
