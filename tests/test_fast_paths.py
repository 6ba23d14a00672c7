"""The fast paths are taken (they must not switch off silently), and agree with the plain ones.

Deleting one of the hooks into graphql-core (FastListExecutor's
complete_iterable_value and execute_operation, coercion's get_variable_values) or the recordWatch
resolver would leave every answer right and only the speed would go: these
tests fail instead. GQL_SERVER_FAST_PATHS=false turns all three off.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Api, QueryLog, app_settings
from helpers import RECORD, World, create_session, make_world, sessions_by_id
from starlette.testclient import TestClient
from strawberry.schema import schema_converter
from strawberry.types.arguments import convert_arguments as convert

from gql_server import coercion
from gql_server.app import create_app
from gql_server.execution import FastListExecutor, JsonList
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
    api: Api, general_lists: list[str], rendered_lists: list[str]
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
    api: Api, general_fields: list[str], rendered_lists: list[str]
) -> None:
    world = world_with_sessions(api, "A", "B")
    general_fields.clear()  # the mutations that made them
    query = PAGE.replace("nodes {", "pageInfo { hasNextPage endCursor } nodes {")
    for _ in range(2):  # the plan made, then from the cache
        page = api.data(query, {"e": world.event_id}, world.super_token)
        assert [n["title"] for n in page["event"]["sessions"]["nodes"]] == ["A", "B"]
        assert page["event"]["sessions"]["pageInfo"]["hasNextPage"] is False
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
    assert field.resolve.__wrapped__ is resolve_record_watch_fast  # under schema.token_first
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
