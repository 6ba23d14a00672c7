"""The fast paths are taken (they must not switch off silently), and agree with the plain ones.

Deleting one of the hooks into graphql-core (FastListExecutor's
complete_iterable_value and execute_operation, coercion's get_variable_values), the recordWatch
resolver or Schema.execute's own pipeline would leave every answer right and only
the speed would go: these tests fail instead. GQL_SERVER_FAST_PATHS=false turns
them all off.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import strawberry
from conftest import Api, QueryLog, app_settings
from helpers import (
    RECORD,
    World,
    create_session,
    make_world,
    sessions_by_id,
)
from starlette.testclient import TestClient
from strawberry.schema import schema_converter
from strawberry.types.arguments import convert_arguments as convert

from gql_server.app import create_app
from gql_server.engine import coercion
from gql_server.engine.execution import FastListExecutor, JsonList
from gql_server.schema import DocumentRules
from gql_server.types.root import resolve_record_watch_fast

PAGE = """query($e: ID!) { event(id: $e) { sessions(first: 100) { nodes {
  id title liveViews watchTime { live } } } } }"""
# With edges the nodes are objects (an edge holds the same node): the compiled plan.
EDGES_PAGE = """query($e: ID!) { event(id: $e) { sessions(first: 100) {
  edges { node { id title liveViews watchTime { live } } } } } }"""


@pytest.fixture
def general_lists(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the lists graphql-core completed itself (not a compiled plan)."""
    completed: list[str] = []
    general = FastListExecutor.__mro__[1].complete_iterable_value  # type: ignore[attr-defined]

    def spy(self: Any, item_type: Any, fields: Any, info: Any, path: Any, *rest: Any) -> Any:
        completed.append(".".join(str(key) for key in path.as_list()))
        return general(self, item_type, fields, info, path, *rest)

    monkeypatch.setattr(FastListExecutor.__mro__[1], "complete_iterable_value", spy)
    return completed


@pytest.fixture
def compiled_coercions(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each request's variables: whether the compiled plan coerced them."""
    results: list[bool] = []
    compiled = coercion.coerce_compiled

    def spy(*args: Any) -> Any:
        result = compiled(*args)
        results.append(result is not None)
        return result

    monkeypatch.setattr(coercion, "coerce_compiled", spy)
    return results


def world_with_sessions(api: Api, *titles: str) -> World:
    world = make_world(api)
    for title in titles:
        create_session(api, world.event_admin_token, world.event_id, title=title)
    return world


def test_a_page_of_sessions_takes_the_compiled_list_plan(
    api: Api, general_lists: list[str], compiled_coercions: list[bool]
) -> None:
    world = world_with_sessions(api, "A", "B", "C")
    compiled_coercions.clear()
    page = api.data(EDGES_PAGE, {"e": world.event_id}, world.super_token)
    assert [e["node"]["title"] for e in page["event"]["sessions"]["edges"]] == ["A", "B", "C"]
    assert "event.sessions.edges" not in general_lists
    assert compiled_coercions == [True]  # {"e": ...} went through the compiled plan


@pytest.fixture
def rendered_lists(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the lists completed from JSON the database rendered."""
    completed: list[str] = []
    complete = FastListExecutor.complete_iterable_value

    def spy(self: Any, item_type: Any, fields: Any, info: Any, path: Any, items: Any,
            *rest: Any) -> Any:  # fmt: skip
        if isinstance(items, JsonList):
            completed.append(".".join(str(key) for key in path.as_list()))
        return complete(self, item_type, fields, info, path, items, *rest)

    monkeypatch.setattr(FastListExecutor, "complete_iterable_value", spy)
    return completed


def test_a_page_of_nodes_is_rendered_by_postgresql(
    api: Api, general_lists: list[str], rendered_lists: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = world_with_sessions(api, "A", "B", "C")
    page = api.data(PAGE, {"e": world.event_id}, world.super_token)
    assert [n["title"] for n in page["event"]["sessions"]["nodes"]] == ["A", "B", "C"]
    assert rendered_lists == ["event.sessions.nodes"]
    assert "event.sessions.nodes" not in general_lists


@pytest.fixture
def general_fields(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the fields graphql-core executed itself (not an operation plan)."""
    executed: list[str] = []
    general = FastListExecutor.__mro__[1].execute_field  # type: ignore[attr-defined]

    def spy(self: Any, parent: Any, source: Any, fields: Any, path: Any, *rest: Any) -> Any:
        executed.append(".".join(str(key) for key in path.as_list()))
        return general(self, parent, source, fields, path, *rest)

    monkeypatch.setattr(FastListExecutor.__mro__[1], "execute_field", spy)
    return executed


def test_a_page_of_sessions_takes_the_operation_plan(
    api: Api,
    general_fields: list[str],
    rendered_lists: list[str],
) -> None:
    world = world_with_sessions(api, "A", "B")
    general_fields.clear()  # the mutations that made them
    query = PAGE.replace("nodes {", "pageInfo { hasNextPage endCursor } nodes {")

    def ask() -> None:
        for _ in range(2):  # the plan made, then from the cache
            page = api.data(query, {"e": world.event_id}, world.super_token)
            assert [n["title"] for n in page["event"]["sessions"]["nodes"]] == ["A", "B"]
            assert page["event"]["sessions"]["pageInfo"]["hasNextPage"] is False

    ask()  # the resolvers, through the plan
    assert rendered_lists == ["event.sessions.nodes"] * 2
    assert general_fields == []
    # A mutation is executed by graphql-core, field by field.
    api.data("mutation { logout }", token=world.super_token)
    assert general_fields == ["logout"]


@pytest.fixture
def strawberry_conversions(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The arguments coercion.convert_arguments handed to Strawberry's own conversion."""
    seen: list[dict[str, Any]] = []

    def spy(args: Any, *rest: Any, **kwargs: Any) -> Any:
        seen.append(args)
        return convert(args, *rest, **kwargs)

    monkeypatch.setattr(coercion, "strawberry_convert_arguments", spy)
    return seen


ARGUMENTS_PAGE = """query($e: ID!, $o: SessionOrder, $a: DateTime) {
  event(id: $e) { sessions(first: 2, orderBy: $o, search: "b", startsAfter: $a) {
    edges { node { title } } } } }"""


def test_scalar_and_enum_arguments_are_renamed_not_converted(
    api: Api, strawberry_conversions: list[dict[str, Any]]
) -> None:
    world = world_with_sessions(api, "ab", "b", "c", "B")
    strawberry_conversions.clear()  # creating them took input objects
    values = {"e": world.event_id, "o": "TITLE_ASC", "a": "2020-01-01T00:00:00Z"}
    page = api.data(ARGUMENTS_PAGE, values, world.super_token)
    assert [e["node"]["title"] for e in page["event"]["sessions"]["edges"]] == ["ab", "b"]
    assert strawberry_conversions == []


def test_with_fast_paths_off_strawberry_converts_the_arguments(
    plain_api: Api, strawberry_conversions: list[dict[str, Any]]
) -> None:
    world = world_with_sessions(plain_api, "ab", "b", "c", "B")
    values = {"e": world.event_id, "o": "TITLE_ASC", "a": "2020-01-01T00:00:00Z"}
    page = plain_api.data(ARGUMENTS_PAGE, values, world.super_token)
    assert [e["node"]["title"] for e in page["event"]["sessions"]["edges"]] == ["ab", "b"]
    assert {"first", "orderBy", "search", "startsAfter"} <= set(strawberry_conversions[-1])


@pytest.fixture
def converted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The arguments Strawberry converted for a resolver (input objects field by field)."""
    seen: list[Any] = []

    def spy(args: Any, *rest: Any, **kwargs: Any) -> Any:
        seen.append(args)
        return convert(args, *rest, **kwargs)

    monkeypatch.setattr(schema_converter, "convert_arguments", spy)
    return seen


def test_a_record_watch_post_takes_the_fast_resolver(
    api: Api, converted: list[Any], compiled_coercions: list[bool]
) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    field = api.client.app.state.schema._schema.mutation_type.fields["recordWatch"]  # type: ignore[attr-defined]
    assert field.resolve.__wrapped__ is resolve_record_watch_fast  # under schema.mutation_guard
    segments = [{"sessionId": session, "mode": "LIVE", "startSecond": s, "endSecond": s + 15}
                for s in range(0, 100, 10)]  # fmt: skip
    assert api.data(RECORD, {"s": segments}, world.attendee_token) == {
        "recordWatch": {"accepted": 10}
    }
    assert not any("segments" in args for args in converted)
    assert compiled_coercions[-1] is True


@pytest.fixture
def plain_api(database_dsn: str) -> Iterator[Api]:
    app = create_app(app_settings(database_dsn, fast_paths=False))
    with TestClient(app) as client:
        yield Api(client, QueryLog())


def test_with_fast_paths_off_the_general_paths_give_the_same_numbers(
    plain_api: Api, general_lists: list[str], compiled_coercions: list[bool], converted: list[Any]
) -> None:
    # Strawberry's own input conversion for recordWatch, graphql-core's own
    # coercion and list completion: the same stored numbers as the fast paths
    # give (tests/test_analytics.py checks those against a reference).
    api = plain_api
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=50)
    field = api.client.app.state.schema._schema.mutation_type.fields["recordWatch"]  # type: ignore[attr-defined]
    assert field.resolve.__wrapped__ is not resolve_record_watch_fast
    segments = [
        {"sessionId": session, "mode": "LIVE", "startSecond": 0, "endSecond": 20},
        {"sessionId": session, "mode": "LIVE", "startSecond": 10, "endSecond": 40},
        {"sessionId": session, "mode": "RECORDING", "startSecond": 45, "endSecond": 90},
    ]
    assert api.data(RECORD, {"s": segments}, world.attendee_token) == {
        "recordWatch": {"accepted": 3}
    }
    bad = [{**segments[0], "endSecond": 0}]
    error = api.error(RECORD, {"s": bad}, world.attendee_token)
    assert error["message"] == "segments[0]: endSecond must be greater than startSecond"
    got = sessions_by_id(api, world.super_token, world.event_id)[session]
    assert got["liveViews"] == 1 and got["recordingViews"] == 0
    assert got["watchTime"] == {"live": 40, "recording": 5, "total": 45}
    assert "event.sessions.nodes" in general_lists  # not rendered by PostgreSQL either
    assert compiled_coercions == []  # graphql-core coerced every request itself
    assert any("segments" in args for args in converted)


# Requests that end at each step of an execution: parsing, the operation and its
# type, validation, the cost, variables, resolvers, and success.
PIPELINE_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("POST", {"query": "{ __typename }"}),
    ("POST", {"query": "query Q { __typename }", "operationName": "Q"}),
    ("POST", {"query": ""}),
    ("POST", {"query": "{ __typename"}),
    ("POST", {"query": "{ " + "__typename " * 80 + "}"}),  # over max_tokens
    ("POST", {"query": "{ nope }"}),
    ("POST", {"query": "query A { __typename } query B { __typename }"}),
    ("POST", {"query": "query A { __typename } mutation B { __typename }", "operationName": "B"}),
    ("POST", {"query": "query A { __typename }", "operationName": "C"}),
    ("POST", {"query": "subscription { __typename }"}),
    ("GET", {"query": "mutation { __typename }"}),
    ("GET", {"query": "mutation B { __typename } query A { __typename }"}),
    ("POST", {"query": "{ __schema { queryType { name } } }"}),
    ("POST", {"query": "query($e: ID!) { event(id: $e) { id } }"}),
    ("POST", {"query": "query($e: ID!) { event(id: $e) { id } }", "variables": {"e": "0"}}),
    ("POST", {"query": "{ event(id: \"1\") { sessions(first: 1000) { nodes { id } } } }"}),
    ("POST", {"query": "query($e: ID!) { event(id: $e) { name sessions(first: 2) {"
              " pageInfo { hasNextPage } nodes { title liveViews } } } }", "variables": {}}),
]  # fmt: skip


@pytest.fixture
def strawberry_executions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The schemas whose requests Strawberry's own execute ran."""
    schemas: list[Any] = []
    general = strawberry.Schema.execute

    async def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        schemas.append(self)
        return await general(self, *args, **kwargs)

    monkeypatch.setattr(strawberry.Schema, "execute", spy)
    return schemas


@pytest.mark.parametrize("introspection", [True, False])
def test_our_pipeline_answers_as_strawberrys_does(
    database_dsn: str, introspection: bool, strawberry_executions: list[Any]
) -> None:
    # With fast paths on, Schema.execute runs the document rules itself; off, it
    # is Strawberry's execute with the DocumentLimits extension. Every request
    # gets the same status and body from both (the cost limit made small enough
    # for the 1000-session page to pass it).
    limits = {"max_query_cost": 500, "max_tokens": 60, "introspection": introspection}
    fast = create_app(app_settings(database_dsn, **limits))
    plain = create_app(app_settings(database_dsn, fast_paths=False, **limits))
    with TestClient(fast) as fast_client, TestClient(plain) as plain_client:
        assert fast.state.schema.document_rules is not None
        assert plain.state.schema.document_rules is None
        world = world_with_sessions(Api(fast_client, QueryLog()), "A", "B", "C")
        headers = {"Authorization": f"Bearer {world.super_token}"}
        answers: list[tuple[int, Any]] = []
        for method, body in PIPELINE_REQUESTS:
            if "variables" in body:
                body = {**body, "variables": {"e": world.event_id, **body["variables"]}}
            got = []
            for client in (fast_client, plain_client):
                if method == "GET":
                    response = client.get("/graphql", params=body, headers=headers)
                else:
                    response = client.post("/graphql", json=body, headers=headers)
                got.append((response.status_code, response.json()))
            assert got[0] == got[1], (method, body)
            answers.append(got[0])
    statuses = [status for status, _ in answers]
    assert statuses == [200, 200, 400, 200, 200, 200, 200, 200, 400, 405, 405, 405, 200,
                        200, 200, 200, 200]  # fmt: skip
    data = [answer.get("data") for _, answer in answers]
    assert data[0] == {"__typename": "Query"} and data[1] == data[0]
    assert data[7] == {"__typename": "Mutation"}
    assert data[-1]["event"]["sessions"]["nodes"][0] == {"title": "A", "liveViews": 0}
    assert answers[-1][1]["extensions"]["cost"]["limit"] == 500
    cost = answers[-2][1]["errors"][0]["message"]
    assert "estimated cost" in cost and "over the limit of 500" in cost
    assert ("errors" in answers[12][1]) is not introspection
    assert "WebSocket" in answers[9][1]["errors"][0]["message"]
    assert fast.state.schema not in strawberry_executions
    assert strawberry_executions.count(plain.state.schema) == len(PIPELINE_REQUESTS)


def test_a_failure_inside_the_pipeline_is_answered_alike_by_both(
    database_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Strawberry turns an exception raised while validating or executing into an
    # error of the answer (never a 500 page); so does our pipeline.
    def broken(*args: Any) -> Any:
        raise RuntimeError("the rules broke")

    monkeypatch.setattr(DocumentRules, "problems", broken)
    answers = []
    for fast_paths in (True, False):
        app = create_app(app_settings(database_dsn, fast_paths=fast_paths))
        with TestClient(app) as client:
            response = client.post("/graphql", json={"query": "{ __typename }"})
            answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 200 and "data" not in answers[0][1]
    assert answers[0][1]["errors"][0]["message"] == "the rules broke"
