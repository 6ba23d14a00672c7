"""The fast list executor returns exactly what graphql-core's general path returns.

Random queries over the sessions connection (aliases, named and inline
fragments, @include/@skip, __typename, repeated fields, nested objects) are
executed with both schemas and their JSON compared; so are lists the fast
loop must hand back (a null in a non-null field, a value that fails to
serialize), with their errors and paths. Pages whose nodes PostgreSQL
renders (execution.JsonList) are compared the same way, down to whether a
number is printed as an int or a float.
"""

import asyncio
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import Enum
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import orjson
import pytest
import strawberry
from conftest import Api, QueryLog, app_settings
from graphql import FieldNode, GraphQLNonNull, OperationDefinitionNode, build_schema, parse
from graphql.execution.values import get_variable_values
from helpers import (
    World,
    create_session,
    make_world,
    record,
    sign_up,
)
from schema_queries import SchemaQueries, Values
from starlette.testclient import TestClient

from gql_server.app import create_app
from gql_server.auth import Actor, hash_token
from gql_server.context import Context, Loaders
from gql_server.db import Pool
from gql_server.engine.execution import FastListExecutor, argument_values
from gql_server.repo import sessions as sessions_repo
from gql_server.schema import create_schema, format_error
from gql_server.services import sessions as sessions_service
from gql_server.services.accounts import TokenLookup
from gql_server.settings import Settings
from gql_server.types.scalars import serialize_datetime

LEAVES = ["id", "sessionId", "title", "startTime", "endTime", "format", "streamProvider",
          "duration", "registeredUserCount", "attendeeCount", "analyticsAvailable",
          "liveViews", "recordingViews", "avgAttendedDuration", "__typename", "asOf",
          "avgRecordingDuration", "liveEngagement", "recordingEngagement",
          "noShowCount", "views10: liveViews(minSeconds: 10)"]  # fmt: skip
WATCH = ["live", "recording", "total", "__typename"]


def random_selection(rng: random.Random, fragments: list[str]) -> str:
    parts = []
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        if choice < 0.6:
            field = rng.choice(LEAVES)
            aliased = ":" not in field and rng.random() < 0.3
            alias = f"a{rng.randint(0, 3)}_{field.strip('_')}: " if aliased else ""
            if alias and rng.random() < 0.5:
                alias = ""  # same field twice without alias: merged
            directive = ""
            if rng.random() < 0.2:
                directive = rng.choice([" @include(if: $yes)", " @skip(if: $yes)",
                                        " @include(if: $no)", " @skip(if: $no)"])  # fmt: skip
            parts.append(f"{alias}{field}{directive}")
        elif choice < 0.75:
            inner = " ".join(rng.sample(WATCH, k=rng.randint(1, 3)))
            parts.append(f"watchTime {{ {inner} }}")
        elif choice < 0.85:
            parts.append(f"... on Session {{ {rng.choice(LEAVES)} }}")
        else:
            name = f"F{len(fragments)}"
            fragments.append(
                f"fragment {name} on Session {{ {' '.join(rng.sample(LEAVES, k=3))} }}"
            )
            parts.append(f"...{name}")
    return " ".join(parts)


def random_query(rng: random.Random) -> str:
    fragments: list[str] = []
    nodes = random_selection(rng, fragments)
    edges = random_selection(rng, fragments) if rng.random() < 0.5 else ""
    order = rng.choice(["START_TIME_ASC", "TITLE_ASC", "LIVE_VIEWS_DESC"])
    body = f"""
    query Q($e: ID!, $yes: Boolean = true, $no: Boolean = false) {{
      event(id: $e) {{ sessions(first: {rng.randint(1, 20)}, orderBy: {order}) {{
        totalCount @include(if: $yes) pageInfo {{ hasNextPage @skip(if: $no) }}
        nodes {{ {nodes} }}
        {"edges { cursor node { " + edges + " } }" if edges else ""}
      }} }}
    }}
    """
    return body + "\n".join(fragments)


def canonical(raw: bytes) -> bytes:
    """A JSON answer with its keys sorted (1 and 1.0 stay apart, unlike in ==)."""
    return orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS)


def as_json(result: Any) -> bytes:
    """The result as a client reads it: rendered lists (orjson.Fragment) parsed too.

    When a non-null root field's error nulls the whole answer, the errors of the
    other root fields "may or may not" be there (the spec, on sibling fields run
    concurrently: it depends on which statement came back first), so only the
    errors of non-null root fields are kept then; and errors are sorted."""
    errors = [format_error(e) for e in result.errors or []]
    data = orjson.loads(orjson.dumps(result.data))
    if data is None and any(e.get("path") for e in errors):
        errors = [e for e in errors if e.get("path", [None])[0] in NON_NULL_ROOT_FIELDS]
    # In the order they happened: fields run concurrently may finish either way.
    errors.sort(key=lambda e: orjson.dumps(e, option=orjson.OPT_SORT_KEYS))
    return orjson.dumps({"data": data, "errors": errors}, option=orjson.OPT_SORT_KEYS)


NON_NULL_ROOT_FIELDS = {
    name
    for name, field in create_schema()._schema.query_type.fields.items()  # type: ignore[union-attr]
    if isinstance(field.type, GraphQLNonNull)
}


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each page whose nodes PostgreSQL was asked to render: whether it could."""
    results: list[bool] = []
    render = sessions_service.list_sessions_json

    async def spy(*args: Any, **kwargs: Any) -> Any:
        page = await render(*args, **kwargs)
        results.append(page is not None)
        return page

    monkeypatch.setattr(sessions_service, "list_sessions_json", spy)
    return results


@pytest.fixture
def read_ahead(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each rendered page: whether Query.event's statement had read it already."""
    results: list[bool] = []
    render = sessions_service.list_sessions_json

    async def spy(*args: Any, ahead: Any = None, **kwargs: Any) -> Any:
        results.append(ahead is not None and ahead.row is not None)
        return await render(*args, ahead=ahead, **kwargs)

    monkeypatch.setattr(sessions_service, "list_sessions_json", spy)
    return results


# Titles JSON must escape (quotes, backslashes, a tab) or keep as they are.
TITLES = ["", ' "quoted" \\ back\tslash', " ü 💡 </script>"]


def create_sessions(api: Api, world: World, rng: random.Random) -> list[str]:
    """Sessions of every kind, some with fractions of a second in their times, and
    one to three viewers each (averages and engagements whole and fractional)."""
    providers = [("MAIN_STAGE", "YOUTUBE"), ("EXPO", "ZOOM"), ("WORKSHOP", None),
                 ("BREAK", "VIMEO"), ("OTHER", "DIRECT_UPLOAD"), ("EXPO", None)]  # fmt: skip
    created = []
    for i in range(14):
        fmt, provider = providers[i % len(providers)]
        fraction = rng.choice(["", ".5", ".000001", f".{rng.randint(0, 999999):06d}"])
        session = create_session(
            api, world.super_token, world.event_id, title=f"S{i % 5}" + TITLES[i % 3], format=fmt,
            streamProvider=provider, videoDuration=rng.choice([None, 20, 600]),
            startTime=f"2026-12-0{1 + i % 3}T09:00:0{i % 10}{fraction}+00:00",
            endTime="2026-12-05T10:00:00+00:00",
        )  # fmt: skip
        if provider in ("YOUTUBE", "VIMEO", "DIRECT_UPLOAD"):
            for _ in range(rng.randint(1, 3)):
                viewer = sign_up(api)[1]
                record(api, viewer, session, "LIVE", (0, rng.randint(1, 90)))
                if rng.random() < 0.5:
                    record(api, viewer, session, "RECORDING", (0, rng.randint(1, 90)))
        created.append(session)
    return created


class Compare:
    """Runs documents with the fast schema (rendered pages allowed, as over HTTP) and
    the general one, on the app's pool, and checks that their JSON is the same.

    The fast side signs in as the HTTP endpoint does (the token looked up by
    the first statement that needs it: Query.event's, which reads the
    rendered page too); the general side with the actor known beforehand.
    """

    def __init__(self, api: Api, token: str) -> None:
        self.api, self.token = api, token
        self.fast, self.general = create_schema(), create_schema(Settings(fast_paths=False))
        assert self.fast.execution_context_class is FastListExecutor

    def run(self, queries: list[str], variables: list[dict[str, Any]]) -> list[Any]:
        async def compare(pool: Pool) -> list[Any]:
            actor = Actor(1, "root@example.com", "Root", True, b"")
            state = self.api.client.app.state  # type: ignore[attr-defined]

            def context(signed_in: bool) -> Context:
                lookup = None if signed_in else TokenLookup(hash_token(self.token))
                return Context(pool=pool, settings=state.settings, passwords=state.passwords,
                               actor=actor if signed_in else None, loaders=Loaders(pool),
                               json_lists=True, token_lookup=lookup)  # fmt: skip

            answers = []
            for values in variables:
                for query in queries:
                    one = await self.fast.execute(query, values, context_value=context(False))
                    two = await self.general.execute(query, values, context_value=context(True))
                    assert as_json(one) == as_json(two), (
                        query,
                        values,
                        as_json(one),
                        as_json(two),
                    )
                    answers.append(orjson.loads(as_json(one)))
            return answers

        return self.api.run(compare)


def test_random_queries_give_identical_json_both_ways(
    api: Api, rendered: list[bool], read_ahead: list[bool]
) -> None:
    world = make_world(api)
    rng = random.Random(99)
    create_sessions(api, world, rng)
    queries = [random_query(rng) for _ in range(150)]
    # The same documents again with @include/@skip flipped: list plans are
    # cached per document and must follow the fields each request selects.
    flipped = {"e": world.event_id, "yes": False, "no": True}
    answers = Compare(api, world.super_token).run(
        queries, [{"e": world.event_id}, flipped, {"e": world.event_id}]
    )
    assert len(answers) == 3 * len(queries)
    assert all(answer["data"] is not None for answer in answers)
    # Both ways were taken: nodes alone rendered by PostgreSQL (but not with
    # fields it cannot render: noShowCount, liveViews(minSeconds)), with edges not.
    assert 100 < len(rendered) < 3 * len(queries) - 100 and all(rendered)
    # Most read along with the event (not a query with `sessions` under two keys).
    assert len(read_ahead) == len(rendered) and sum(read_ahead) > 0.8 * len(read_ahead)


def test_random_queries_asked_twice_over_http_get_the_plain_apps_answers(
    api: Api, database_dsn: str
) -> None:
    # Over HTTP (orjson, rendered pages, the read-ahead), every random query,
    # asked twice (@include/@skip both ways), gets the plain app's answer both
    # times: nothing of the first answer is reused for the second.
    world = make_world(api)
    rng = random.Random(5)
    create_sessions(api, world, rng)
    queries = [random_query(rng) for _ in range(40)]
    plain_app = create_app(app_settings(database_dsn, fast_paths=False))
    with TestClient(plain_app) as plain_client:
        plain = Api(plain_client, QueryLog())
        for variables in ({"e": world.event_id}, {"e": world.event_id, "yes": False, "no": True}):
            for query in queries:
                expected = canonical(plain.post(query, variables, world.super_token).content)
                for _ in range(2):
                    got = canonical(api.post(query, variables, world.super_token).content)
                    assert got == expected, (query, variables)


def test_values_postgresql_cannot_print_exactly_take_the_object_path(
    api: Api, rendered: list[bool]
) -> None:
    world = make_world(api)
    live, recording = create_sessions(api, world, random.Random(7))[:2]

    async def inflate(pool: Pool) -> None:
        # Over 32 bits (an Int error), and past what a double divides exactly.
        for session, seconds in ((live, 3_000_000_000), (recording, 2 * 10**15)):
            await pool.execute(
                "UPDATE session_stats SET live_seconds = $2, live_viewers = 3"
                " WHERE session_id = $1", int(session), seconds,
            )  # fmt: skip

    api.run(inflate)
    page = "query($e: ID!) {{ event(id: $e) {{ sessions(first: 50) {{ nodes {{ {} }} }} }} }}"
    queries = [page.format(f) for f in ("id watchTime { live }", "id watchTime { total }",
                                        "avgAttendedDuration", "liveEngagement")]  # fmt: skip
    answers = Compare(api, world.super_token).run(
        [*queries, page.format("id title")], [{"e": world.event_id}]
    )
    assert rendered == [False, False, False, False, True]
    assert [len(answer["errors"]) for answer in answers] == [1, 1, 0, 0, 0]
    assert answers[0]["errors"][0]["path"][-1] == "live"


def test_rendered_pages_page_like_the_object_path(api: Api, rendered: list[bool]) -> None:
    world = make_world(api)
    create_sessions(api, world, random.Random(3))
    query = """query($e: ID!, $after: String, $o: SessionOrder, $s: String, $a: DateTime) {
      event(id: $e) { sessions(first: 2, after: $after, orderBy: $o, search: $s,
                               startsAfter: $a) {
        pageInfo { hasNextPage endCursor } nodes { id } %s } } }"""
    for order in ("START_TIME_ASC", "START_TIME_DESC", "TITLE_ASC", "LIVE_VIEWS_DESC"):
        for search, starts_after in ((None, None), ("S", "2026-12-02T00:00:00+00:00")):
            walks = []
            for edges in ("", "edges { cursor }"):  # rendered by PostgreSQL, or not
                after, walk = None, []
                while True:
                    values = {"e": world.event_id, "after": after, "o": order, "s": search,
                              "a": starts_after}  # fmt: skip
                    got = api.data(query % edges, values, world.super_token)["event"]["sessions"]
                    walk.append((got["nodes"], got["pageInfo"]))
                    if edges:
                        assert got["pageInfo"]["endCursor"] == got["edges"][-1]["cursor"]
                    if not got["pageInfo"]["hasNextPage"]:
                        break
                    after = got["pageInfo"]["endCursor"]
                walks.append(walk)
            assert walks[0] == walks[1], (order, search)
            assert len(walks[0]) > 1
    assert rendered and all(rendered)


@strawberry.enum
class Color(Enum):
    RED = "RED"


@strawberry.type
class Thing:
    name: str
    color: Color
    size: int | None
    ratio: float | None = 0.5


@strawberry.type
class Query:
    @strawberry.field
    def things(self, which: str) -> list[Thing]:
        good = [Thing(name="a", color=Color.RED, size=1), Thing(name="b", color=Color.RED, size=2)]
        if which == "null-in-non-null":
            return [*good, Thing(name=None, color=Color.RED, size=3)]  # type: ignore[arg-type]
        if which == "bad-int":
            return [*good, Thing(name="c", color=Color.RED, size=2**40)]
        if which == "nan":
            return [*good, Thing(name="e", color=Color.RED, size=1, ratio=float("nan"))]
        if which == "infinity":
            return [*good, Thing(name="f", color=Color.RED, size=1, ratio=float("-inf"))]
        if which == "int-ratio":  # serialized as 2.0 both ways, no error
            return [*good, Thing(name="g", color=Color.RED, size=1, ratio=2)]
        if which == "null-item":  # a null in a list of non-null items
            return [*good, None]  # type: ignore[list-item]
        if which == "bad-enum":
            return [*good, Thing(name="d", color="PURPLE", size=1)]  # type: ignore[arg-type]
        return good

    @strawberry.field
    def maybe_things(self) -> list[Thing | None]:
        return [Thing(name="a", color=Color.RED, size=None), None]


def test_lists_the_fast_loop_hands_back_report_the_same_errors() -> None:
    fast = strawberry.Schema(query=Query, execution_context_class=FastListExecutor)
    general = strawberry.Schema(query=Query)
    cases = (
        "ok",
        "null-in-non-null",
        "bad-int",
        "bad-enum",
        "nan",
        "infinity",
        "int-ratio",
        "null-item",
    )
    for which in cases:
        things = f'things(which: "{which}") {{ name color size ratio }}'
        query = f"{{ {things} maybeThings {{ size }} }}"
        one, two = fast.execute_sync(query), general.execute_sync(query)
        assert as_json(one) == as_json(two), which
        assert bool(one.errors) == (which not in ("ok", "int-ratio"))


def test_the_same_selection_in_lists_of_nullable_and_non_null_items_is_told_apart() -> None:
    # maybeThings ([Thing]) and things ([Thing!]!) select the same fields of
    # the same type: a plan made for one must not complete the other.
    fast = strawberry.Schema(query=Query, execution_context_class=FastListExecutor)
    general = strawberry.Schema(query=Query)
    query = '{ maybeThings { size } things(which: "null-item") { size } }'
    for _ in range(2):  # the second time from the cache
        one, two = fast.execute_sync(query), general.execute_sync(query)
        assert as_json(one) == as_json(two)
        assert one.errors


@pytest.fixture
def api_on_other_defaults(database_dsn: str) -> Iterator[Api]:
    """The app on a database whose TimeZone and float digits are not the defaults."""

    async def alter() -> None:
        conn = await asyncpg.connect(database_dsn)
        try:
            name = await conn.fetchval("SELECT current_database()")
            await conn.execute(f"ALTER DATABASE {name} SET timezone TO 'Asia/Kolkata'")
            await conn.execute(f"ALTER DATABASE {name} SET extra_float_digits TO -3")
        finally:
            await conn.close()

    asyncio.run(alter())
    with TestClient(create_app(app_settings(database_dsn))) as client:
        yield Api(client, QueryLog())


def test_rendered_pages_do_not_depend_on_the_servers_defaults(
    api_on_other_defaults: Api, rendered: list[bool]
) -> None:
    # db.create_pool sets TimeZone and extra_float_digits for its connections:
    # the page PostgreSQL renders prints times in UTC and doubles in full.
    api = api_on_other_defaults
    world = make_world(api)
    create_sessions(api, world, random.Random(5))
    fields = "id startTime endTime asOf avgAttendedDuration liveEngagement recordingEngagement"
    page = "query($e: ID!) { event(id: $e) { sessions(first: 20) { %s } } }"
    nodes = api.data(page % f"nodes {{ {fields} }}", {"e": world.event_id}, world.super_token)
    edges = api.data(page % f"edges {{ node {{ {fields} }} }}", {"e": world.event_id},
                     world.super_token)  # fmt: skip
    assert rendered == [True]  # the nodes; edges take the object path
    objects = [edge["node"] for edge in edges["event"]["sessions"]["edges"]]
    assert nodes["event"]["sessions"]["nodes"] == objects
    assert any("." in n["startTime"] for n in objects)  # fractions of a second too
    assert any(isinstance(n["avgAttendedDuration"], float) and
               not n["avgAttendedDuration"].is_integer() for n in objects)  # fmt: skip


def test_times_and_doubles_print_in_sql_as_the_object_path_prints_them(api: Api) -> None:
    # repo.sessions renders times and doubles in SQL; here the two pieces on
    # their own, over values a page rarely holds: before 2000 (date_bin's
    # origin) and 1970, a microsecond off a whole second, whole doubles up to
    # just below 1e15, tiny and huge ratios. (asyncpg sends datetime.min and max
    # as -infinity and infinity: a day inside them.)
    rng = random.Random(11)
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    times = [
        epoch,
        epoch - timedelta(microseconds=1),
        epoch + timedelta(microseconds=1),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        datetime(1, 1, 2, tzinfo=UTC),
        datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    times += [epoch + timedelta(seconds=rng.randint(-3 * 10**9, 3 * 10**9),
                                microseconds=rng.choice([0, rng.randint(0, 999999)]))
              for _ in range(300)]  # fmt: skip
    doubles = [0.0, 1.0, 0.5, 1e-05, 1 / 3, 2 / 3 * 10**14, 10.0**14, 999999999999999.0,
               999999999999999.9]  # fmt: skip
    doubles += [rng.randint(0, 10**15 - 1) / rng.choice([1, 2, 3, 7, 10**6]) for _ in range(300)]

    async def printed(pool: Pool) -> tuple[list[str], list[str]]:
        time_sql = sessions_repo._iso("t")
        double_sql = sessions_repo._float("d")
        got_times = await pool.fetch(
            f"SELECT {time_sql} FROM unnest($1::timestamptz[]) WITH ORDINALITY AS x(t, n)"
            " ORDER BY n", times,
        )  # fmt: skip
        got_doubles = await pool.fetch(
            f"SELECT {double_sql} FROM unnest($1::float8[]) WITH ORDINALITY AS x(d, n)"
            " ORDER BY n", doubles,
        )  # fmt: skip
        return [r[0] for r in got_times], [r[0] for r in got_doubles]

    got_times, got_doubles = api.run(printed)
    assert got_times == [orjson.dumps(serialize_datetime(t)).decode() for t in times]
    # The same doubles, read as floats (100.0, not 100); the digits may be
    # spelled otherwise (1e-05 for orjson's 0.00001).
    read = [orjson.loads(text) for text in got_doubles]
    assert read == doubles and all(type(value) is float for value in read)


# Operation plans (FastListExecutor.execute_operation): errors, nulls and the
# order of keys as graphql-core gives them, and no resolver run twice.
CALLS: list[str] = []


def _leaf(which: str) -> "Leaf | None":
    CALLS.append(f"leaf:{which}")
    if which == "raise":
        raise ValueError("the leaf broke")
    if which == "none":
        return None
    if which == "bad-int":  # a plain field that does not serialize
        return Leaf(name="big", size=2**40)
    if which == "null-name":  # null in a non-null plain field
        return Leaf(name=None, size=1)  # type: ignore[arg-type]
    return Leaf(name=which, size=len(which))


@strawberry.type
class Leaf:
    name: str
    size: int | None


@strawberry.type
class Branch:
    label: str

    @strawberry.field
    async def leaf(self, which: str = "ok") -> Leaf | None:
        return _leaf(which)

    @strawberry.field
    async def must_leaf(self, which: str = "ok") -> Leaf:
        return _leaf(which)  # type: ignore[return-value]

    @strawberry.field
    def sync_leaf(self, which: str = "ok") -> Leaf | None:
        return _leaf(which)

    @strawberry.field
    async def leaves(self, which: str = "ok") -> list[Leaf | None]:
        return [_leaf("a"), _leaf(which)]


def _branch(which: str) -> Branch | None:
    CALLS.append(f"branch:{which}")
    if which == "raise":
        raise ValueError("the branch broke")
    if which == "none":
        return None
    if which == "null-label":
        return Branch(label=None)  # type: ignore[arg-type]
    return Branch(label=which)


@strawberry.type
class PlanQuery:
    @strawberry.field
    async def branch(self, which: str = "ok") -> Branch | None:
        return _branch(which)

    @strawberry.field
    async def must_branch(self, which: str = "ok") -> Branch:
        return _branch(which)  # type: ignore[return-value]

    @strawberry.field
    def sync_branch(self, which: str = "ok") -> Branch | None:
        return _branch(which)

    @strawberry.field
    async def other(self) -> int:
        return 1


PLAN_CASES = ["ok", "raise", "none", "bad-int", "null-name", "null-label"]
PLAN_QUERIES = [
    "{ branch(which: $b) { label leaf(which: $l) { name size } } }",
    "{ branch(which: $b) { leaf(which: $l) { size name } label } }",  # resolved key first
    "{ b: branch(which: $b) { __typename x: label mustLeaf(which: $l) { name size } } }",
    "{ mustBranch(which: $b) { mustLeaf(which: $l) { name } label } }",
    "{ __typename branch(which: $b) { leaves(which: $l) { name } } }",
    "{ branch(which: $b) { label ...F } } fragment F on Branch { leaf(which: $l) { name } }",
    "{ branch(which: $b) { a: leaf { name } z: leaf(which: $l) { name } } }",  # two resolved
    "{ branch(which: $b) { label } other b2: branch(which: $l) { label } }",  # at the root
    "{ branch(which: $b) { leaf(which: $l) @include(if: $yes) { name } label } }",
]


def test_operation_plans_give_graphql_cores_answers_and_calls() -> None:
    fast = strawberry.Schema(query=PlanQuery, execution_context_class=FastListExecutor)
    general = strawberry.Schema(query=PlanQuery)

    async def both(query: str, values: dict[str, Any]) -> tuple[Any, ...]:
        CALLS.clear()
        one = await fast.execute(query, values)
        fast_calls = list(CALLS)
        CALLS.clear()
        two = await general.execute(query, values)
        return one, two, fast_calls, list(CALLS)

    for body in PLAN_QUERIES:
        declared = ["$b: String!", "$l: String!"] + ["$yes: Boolean!"] * ("$yes" in body)
        query = body.replace("{", f"query({', '.join(declared)}) {{", 1)
        for branch in PLAN_CASES:
            for leaf in PLAN_CASES:
                for yes in (True, False):
                    values = {"b": branch, "l": leaf, "yes": yes}
                    if "$yes" not in body:
                        del values["yes"]
                    one, two, fast_calls, general_calls = asyncio.run(both(query, values))
                    assert all(error.path for error in one.errors or []), one.errors  # executed
                    assert as_json(one) == as_json(two), (body, values)
                    # Keys in the selection's order (as_json sorts them).
                    assert orjson.dumps(one.data) == orjson.dumps(two.data), (body, values)
                    assert fast_calls == general_calls, (body, values)
    # Synchronous execution too (execute_sync: every resolver sync).
    for branch in PLAN_CASES:
        for leaf in PLAN_CASES:
            leaves = f'syncLeaf(which: "{leaf}") {{ name size }}'
            query = f'{{ syncBranch(which: "{branch}") {{ label {leaves} }} }}'
            CALLS.clear()
            one = fast.execute_sync(query)
            fast_calls = list(CALLS)
            CALLS.clear()
            two = general.execute_sync(query)
            assert as_json(one) == as_json(two), query
            assert orjson.dumps(one.data) == orjson.dumps(two.data), query
            assert fast_calls == CALLS, query


ARGUMENTS_SDL = """
type Query { f(a: Int, b: String, e: E, x: Float): Int  g(i: In): Int }
enum E { X Y }
input In { v: Int }
"""


def test_argument_values_are_cached_only_where_the_same_inputs_give_the_same() -> None:
    schema = build_schema(ARGUMENTS_SDL)
    document = parse(
        "query($a: Int, $b: String, $e: E, $x: Float, $v: Int, $l: [Int]) {"
        " f(a: $a, b: $b, e: $e, x: $x) g(i: {v: $v}) }"
    )
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    f_node, g_node = cast(list[FieldNode], operation.selection_set.selections)
    query_type = schema.query_type
    assert query_type is not None

    def values(field: str, node: FieldNode, **inputs: Any) -> dict[str, Any]:
        coerced = get_variable_values(schema, operation.variable_definitions or (), inputs)
        assert not isinstance(coerced, list), coerced
        executor = SimpleNamespace(variable_values=coerced, hide_suggestions=False, schema=schema)
        return argument_values(cast(Any, executor), query_type.fields[field], node)

    first = values("f", f_node, a=1, b="x", e="X", x=0.0)
    assert first == {"a": 1, "b": "x", "e": "X", "x": 0.0}
    assert values("f", f_node, a=1, b="x", e="X", x=0.0) is first  # cached
    assert values("f", f_node, a=2, b="x", e="X", x=0.0) == {**first, "a": 2}
    assert values("f", f_node, a=1, b="x", e="Y", x=0.0)["e"] == "Y"
    negative = values("f", f_node, a=1, b="x", e="X", x=-0.0)["x"]
    assert math.copysign(1, negative) == -1  # not 0.0's entry
    assert values("f", f_node, a=1, b="x", e="X", x=1.0)["x"] == 1.0
    # A list among the variables, or an input object argument: not cached.
    listed = values("f", f_node, a=1, b="x", e="X", x=0.0, l=[1])
    assert listed == first and listed is not first
    one = values("g", g_node, v=3)
    assert one == {"i": {"v": 3}} and values("g", g_node, v=3) is not one
    assert values("g", g_node, v=4) == {"i": {"v": 4}}


def test_queries_drawn_from_the_schema_give_identical_json_both_ways(api: Api) -> None:
    # Every field reachable from Query (six levels down), with arguments of
    # every kind (valid, refused, null): the fast schema answers as the general
    # one, data and errors alike. Drawn from the schema, so a new field is in
    # here the day it is added.
    world = make_world(api)
    rng = random.Random(2026)
    sessions = create_sessions(api, world, rng)
    schema = create_schema()
    ids = [world.event_id] * 4 + sessions[:4]
    drawer = SchemaQueries(schema._schema, Values(ids=ids), depth=6)
    reachable, seen = drawer.reachable(), set[str]()
    documents = []
    while seen != reachable:
        drawn = drawer.draw(rng)
        documents.append(drawn.document)
        seen |= drawn.fields
        assert len(documents) < 2000, f"never drawn: {sorted(reachable - seen)}"
    answers = Compare(api, world.super_token).run(documents, [{}])
    # Many got data, not all refused before execution (bad arguments, and the
    # cost: a timeline or a live concurrency may have 10,000 points, as far as
    # the estimate knows, so six levels of them are often over the budget).
    assert sum(answer["data"] is not None for answer in answers) > 0.4 * len(answers)


def test_a_field_that_nulls_the_answer_does_not_cancel_a_load_another_field_awaits(
    api: Api,
) -> None:
    # hostedEvents' timeline fails (a bad time zone, non-null up to the root), so
    # graphql-core cancels its siblings, one of which awaits the organizer's
    # DataLoader future that event.organizer awaits too: that field must not end
    # with CancelledError (no field error handler catches it; it left execute).
    world = make_world(api)
    document = """query($e: ID!) { hostedEvents { timeline(timeZone: "a") { bucket }
      organizer { name } } event(id: $e) { organizer { name } } }"""
    answers = Compare(api, world.super_token).run([document] * 5, [{"e": world.event_id}])
    assert all(answer["data"] is None for answer in answers)
    assert {e["extensions"]["code"] for a in answers for e in a["errors"]} == {400}
