"""What the schema gains is honoured with the fast paths on: they run it, or step aside.

A new schema extension, a permission class on a field the fast paths read as
an attribute, a new argument on Event.sessions (whose page is read ahead), a
cost weight, and the request's connection given back for a mutation, whichever
executor runs it (docs/architecture.md, "one way through").
"""

import asyncio
import datetime
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import strawberry
from conftest import Api, QueryLog, app_settings
from helpers import create_session, make_world
from starlette.testclient import TestClient
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission

from gql_server.app import create_app
from gql_server.context import Info
from gql_server.db import RequestDatabase
from gql_server.engine import limits
from gql_server.engine.execution import STORED_ATTRIBUTE, FastListExecutor
from gql_server.schema import Schema, create_schema
from gql_server.types.enums import SessionOrder
from gql_server.types.events import EVENT_SESSIONS, Event
from gql_server.types.root import Query
from gql_server.types.sessions import SessionConnection

PAGE = """query($e: ID!) { event(id: $e) { name sessions(first: 10) {
  pageInfo { hasNextPage } nodes { id title liveViews watchTime { live } } } } }"""


class Seen(SchemaExtension):
    """Records every hook it is called for, and every field it sees resolved."""

    calls: ClassVar[list[str]] = []

    def on_execute(self) -> Iterator[None]:
        Seen.calls.append("execute")
        yield

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        Seen.calls.append(".".join(str(key) for key in info.path.as_list()))
        return _next(root, info, *args, **kwargs)


def app_with(database_dsn: str, **schema_options: Any) -> TestClient:
    settings = app_settings(database_dsn)
    return TestClient(create_app(settings, schema=create_schema(settings, **schema_options)))


def test_a_new_schema_extension_runs_with_the_fast_paths_on(api: Api, database_dsn: str) -> None:
    world = make_world(api)
    for title in ("A", "B"):
        create_session(api, world.event_admin_token, world.event_id, title=title)
    expected = api.data(PAGE, {"e": world.event_id}, world.event_admin_token)
    Seen.calls = []
    with app_with(database_dsn, extensions=[Seen]) as client:
        got = Api(client, QueryLog()).data(PAGE, {"e": world.event_id}, world.event_admin_token)
    assert got == expected
    # Its hooks ran, and its resolve saw every field, rendered pages and compiled
    # lists included: they step aside for it.
    assert "execute" in Seen.calls
    assert {
        "event",
        "event.sessions.nodes.0.title",
        "event.sessions.nodes.1.watchTime.live",
    } <= set(Seen.calls)


class Deny(BasePermission):
    message = "Not for you"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Item:
    stored_views: strawberry.Private[int]

    # Its value without arguments is an attribute (as Session.liveViews'), and a
    # permission class guards it.
    @strawberry.field(metadata={STORED_ATTRIBUTE: "stored_views"}, permission_classes=[Deny])  # type: ignore[untyped-decorator]
    def views(self, min_seconds: int | None = None) -> int | None:
        return self.stored_views


@strawberry.type
class ItemQuery:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(stored_views=n) for n in range(3)]


@pytest.mark.parametrize("fast", [True, False])
def test_a_permission_class_on_a_stored_attribute_field_is_checked(fast: bool) -> None:
    schema = Schema(query=ItemQuery, execution_context_class=FastListExecutor if fast else None)
    result = asyncio.run(schema.execute("{ items { views } }"))
    assert result.data == {"items": [{"views": None}] * 3}
    assert [e.message for e in result.errors or []] == ["Not for you"] * 3


@strawberry.type(name="EventWithPrefix")
class EventWithPrefix(Event):
    """Event.sessions with one argument more, applied by its own resolver."""

    @strawberry.field
    async def sessions(
        self,
        info: Info,
        first: int | None = 100,
        after: str | None = None,
        search: str | None = None,
        order_by: SessionOrder | None = SessionOrder.START_TIME_ASC,
        starts_after: datetime.datetime | None = None,
        starts_before: datetime.datetime | None = None,
        title_part: str | None = None,
    ) -> SessionConnection:
        resolve = EVENT_SESSIONS.base_resolver.wrapped_func
        connection: SessionConnection = await resolve(
            self, info, first=first, after=after, search=title_part or search,
            order_by=order_by, starts_after=starts_after, starts_before=starts_before,
        )  # fmt: skip
        return connection


@strawberry.type(name="Query")
class QueryWithPrefix(Query):
    @strawberry.field
    async def event(self, info: Info, id: strawberry.ID) -> EventWithPrefix | None:
        field = Query.__strawberry_definition__.get_field("event")  # type: ignore[attr-defined]
        resolve = field.base_resolver.wrapped_func
        event: Event = await resolve(self, info, id)
        return EventWithPrefix(
            id=event.id, name=event.name, attendance=event.attendance,
            organizer_id=event.organizer_id,
        )  # fmt: skip


def test_a_new_argument_on_event_sessions_is_honoured(api: Api, database_dsn: str) -> None:
    # The page Query.event reads ahead for Event.sessions is read only for the
    # field page_request knows; this one's resolver reads its own, with the new
    # argument applied.
    world = make_world(api)
    for title in ("Keynote", "Panel", "Keynote again"):
        create_session(api, world.event_admin_token, world.event_id, title=title)
    query = """query($e: ID!) { event(id: $e) { sessions(titlePart: "key") {
      nodes { title } } } }"""
    with app_with(database_dsn, query=QueryWithPrefix) as client:
        got = Api(client, QueryLog()).data(query, {"e": world.event_id}, world.event_admin_token)
    titles = [n["title"] for n in got["event"]["sessions"]["nodes"]]
    assert titles == ["Keynote", "Keynote again"]


def test_a_cost_weight_for_a_field_the_schema_lacks_stops_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    weights = {**limits.FIELD_WEIGHTS, ("Session", "watchedTogether"): 5}
    monkeypatch.setattr(limits, "FIELD_WEIGHTS", weights)
    with pytest.raises(ValueError, match=r"Session\.watchedTogether"):
        create_schema()


def test_a_leaf_fields_weight_applies(api: Api) -> None:
    world = make_world(api)
    page = "query($e: ID!) {{ event(id: $e) {{ sessions(first: 10) {{ nodes {{ {} }} }} }} }}"

    def cost(fields: str) -> int:
        answer = api.gql(page.format(fields), {"e": world.event_id}, world.event_admin_token)
        requested: int = answer["extensions"]["cost"]["requested"]
        return requested

    weight = limits.FIELD_WEIGHTS[("Session", "noShowCount")]
    assert weight > 0
    assert cost("id noShowCount") == cost("id") + 10 * weight


@pytest.mark.parametrize("fast_paths", [True, False])
def test_a_mutation_gives_the_requests_connection_back_whichever_executor_runs_it(
    database_dsn: str, monkeypatch: pytest.MonkeyPatch, fast_paths: bool
) -> None:
    stopped: list[bool] = []
    stop = RequestDatabase.stop_holding

    def spy(self: RequestDatabase) -> None:
        stopped.append(True)
        stop(self)

    monkeypatch.setattr(RequestDatabase, "stop_holding", spy)
    settings = app_settings(database_dsn, fast_paths=fast_paths)
    with TestClient(create_app(settings)) as client:
        api = Api(client, QueryLog())
        api.gql("{ __typename }")
        assert stopped == []  # a query keeps its connection
        api.gql('mutation { login(email: "nobody@example.com", password: "wrong-password") {'
                " token } }")  # fmt: skip
        assert stopped == [True]
