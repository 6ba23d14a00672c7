"""The compiled variable coercion gives graphql-core's result, or lets graphql-core decide."""

import asyncio
from collections import Counter
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    is_input_type,
    parse,
    type_from_ast,
)
from graphql.execution import executor
from graphql.execution.values import VariableValues, get_variable_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.permission import BasePermission

from gql_server.engine.coercion import coerce_compiled, direct_resolvers, fast_get_variable_values
from gql_server.schema import create_schema
from gql_server.settings import Settings

SYNTHETIC = build_schema("""
enum Color { RED GREEN }
input Inner { n: Int!, s: String, id: ID, b: Boolean, f: Float, c: Color }
input Outer { inner: [Inner!]!, maybe: [Int], withDefault: Int = 5, color: Color! }
input Tree { value: Int, children: [Tree!] }
input Pick @oneOf { a: Int, b: String }
type Query { f(o: Outer, t: Tree, p: Pick, grid: [[Int]], cs: [Color!]): Int }
""")
SYNTHETIC_OPERATION = (
    "query($o: Outer, $grid: [[Int]], $cs: [Color!]!, $n: Int) { f(o: $o, grid: $grid, cs: $cs) }"
)
# Recursive and @oneOf input types are left to graphql-core entirely, and so
# is a variable's default (when the variable is left out).
UNCOMPILED_OPERATION = (
    "query($t: Tree, $p: Pick, $cs: [Color!] = [RED]) { f(t: $t, p: $p, cs: $cs) }"
)
OURS = create_schema()._schema
OUR_OPERATION = (
    "mutation($s: [WatchSegmentInput!]!, $c: CreateSessionInput!, $e: ID!, $id: ID)"
    " { recordWatch(segments: $s) { accepted } createSession(eventId: $e, input: $c) { id } }"
)

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**32), max_value=2**32),
    st.floats(allow_nan=False),
    st.sampled_from(["RED", "LIVE", "RECORDING", "1", "1.5", "", "2026-11-27T10:00:00Z"]),
    st.text(max_size=3),
)


def value_of(type_: GraphQLInputType, odd: bool, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of the type; with odd=True, sometimes off in the ways graphql-core cares about."""
    if isinstance(type_, GraphQLNonNull):
        inner = _present(type_.of_type, odd, depth)
        return st.one_of(inner, st.just(None)) if odd else inner
    return st.one_of(_present(type_, odd, depth), st.none())


def _present(type_: GraphQLInputType, odd: bool, depth: int) -> st.SearchStrategy[Any]:
    right: st.SearchStrategy[Any]
    if isinstance(type_, GraphQLList):
        item = value_of(type_.of_type, odd, depth + 1)
        items = st.lists(item, max_size=4)
        right = st.one_of(items, item) if odd else items  # a single value: a list of one
    elif isinstance(type_, GraphQLInputObjectType):
        right = _object_of(type_, odd, depth + 1) if depth < 4 else st.none()
    elif isinstance(type_, GraphQLEnumType):
        right = st.sampled_from([*type_.values, *(["NOPE"] if odd else [])])
    else:
        assert isinstance(type_, GraphQLScalarType)
        bound = 2**31 if odd else 2**31 - 1
        right = {
            "Int": st.integers(min_value=-bound, max_value=bound),
            "Float": st.one_of(st.floats(allow_nan=False, allow_infinity=odd), st.integers()),
            "String": st.text(max_size=5),
            "ID": st.one_of(st.text(max_size=5), st.integers()),
            "Boolean": st.booleans(),
            "DateTime": st.sampled_from(
                ["2026-11-27T10:00:00Z", "2026-11-27T10:00:00+01:00", *(["x"] if odd else [])]
            ),
        }[type_.name]
    return st.one_of(right, right, right, ODD) if odd else right


def _object_of(
    type_: GraphQLInputObjectType, odd: bool, depth: int
) -> st.SearchStrategy[dict[str, Any]]:
    fields = {name: value_of(field.type, odd, depth) for name, field in type_.fields.items()}
    required = {
        n: s for n, s in fields.items() if isinstance(type_.fields[n].type, GraphQLNonNull)
    }
    optional = {n: s for n, s in fields.items() if n not in required}
    shaped = st.fixed_dictionaries(required, optional=optional)
    if not odd:
        return shaped
    unknown = st.fixed_dictionaries(required, optional={**optional, "unknown": st.integers()})
    return st.one_of(shaped, shaped, shaped, unknown)


def variables_of(schema: GraphQLSchema, operation: str) -> tuple[Any, st.SearchStrategy[Any]]:
    definition = parse(operation).definitions[0]
    assert isinstance(definition, OperationDefinitionNode)
    nodes = definition.variable_definitions or ()
    types: dict[str, GraphQLInputType] = {}
    for node in nodes:
        type_ = type_from_ast(schema, node.type)
        assert is_input_type(type_)
        types[node.variable.name.value] = type_
    required = {
        n: value_of(t, odd=False) for n, t in types.items() if isinstance(t, GraphQLNonNull)
    }
    optional = {n: value_of(t, odd=False) for n, t in types.items() if n not in required}
    odd = {name: value_of(type_, odd=True) for name, type_ in types.items()}
    return nodes, st.one_of(
        st.fixed_dictionaries(required, optional=optional), st.fixed_dictionaries({}, optional=odd)
    )


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True in Python)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def described(sources: dict[str, Any]) -> dict[str, Any]:
    """Variable sources comparable across calls (type wrappers are made per call)."""
    return {
        name: (source.signature.name, str(source.signature.type), id(source.value))
        for name, source in sources.items()
    }


def check_against_graphql_core(
    schema: GraphQLSchema, operation: str, *, compiled: bool = True
) -> None:
    nodes, variables = variables_of(schema, operation)
    taken: Counter[str] = Counter()

    @given(variables)
    @settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
    def check(inputs: dict[str, Any]) -> None:
        reference = get_variable_values(schema, nodes, inputs, max_errors=50)
        compiled = coerce_compiled(schema, nodes, inputs)
        served = fast_get_variable_values(schema, nodes, inputs, max_errors=50)
        if compiled is None:
            taken["graphql-core decided"] += 1
        else:
            taken["compiled"] += 1
            assert isinstance(reference, VariableValues), reference
            assert same(compiled.coerced, reference.coerced)
            assert described(compiled.sources) == described(reference.sources)
        if isinstance(reference, VariableValues):
            assert isinstance(served, VariableValues)
            assert same(served.coerced, reference.coerced)
        else:
            assert isinstance(served, list)
            assert [e.message for e in served] == [e.message for e in reference]

    check()
    # Both ways were exercised, so the comparison above said something.
    assert taken["compiled"] >= (50 if compiled else 0), taken
    assert taken["graphql-core decided"] >= 50, taken
    if not compiled:
        assert taken["compiled"] == 0, taken


def test_synthetic_schema_coerces_as_graphql_core() -> None:
    check_against_graphql_core(SYNTHETIC, SYNTHETIC_OPERATION)


def test_recursive_and_one_of_inputs_are_left_to_graphql_core() -> None:
    check_against_graphql_core(SYNTHETIC, UNCOMPILED_OPERATION, compiled=False)


def test_our_schema_coerces_as_graphql_core() -> None:
    check_against_graphql_core(OURS, OUR_OPERATION)


def test_a_watch_batch_takes_the_compiled_path() -> None:
    definition = parse(OUR_OPERATION).definitions[0]
    assert isinstance(definition, OperationDefinitionNode)
    segment = {"sessionId": "7", "mode": "LIVE", "startSecond": 0, "endSecond": 15}
    compiled = coerce_compiled(
        OURS, definition.variable_definitions or (), {"s": [segment] * 3, "e": 1, "c": {}}
    )
    assert compiled is None  # $c lacks required fields: graphql-core explains
    only_watch = parse(
        "mutation($s: [WatchSegmentInput!]!) { recordWatch(segments: $s) { accepted } }"
    )
    watch_definition = only_watch.definitions[0]
    assert isinstance(watch_definition, OperationDefinitionNode)
    compiled = coerce_compiled(
        OURS, watch_definition.variable_definitions or (), {"s": [segment] * 3}
    )
    assert compiled is not None
    assert [s["mode"].name for s in compiled.coerced["s"]] == ["LIVE"] * 3
    assert compiled.coerced["s"][0]["startSecond"] == 0


def test_the_schema_installs_it_into_graphql_core() -> None:
    # graphql-core's Executor.build calls get_variable_values by this name; if
    # an upgrade renames it, this fails rather than silently losing the speed.
    assert executor.get_variable_values is fast_get_variable_values  # type: ignore[attr-defined]


@strawberry.enum
class Color(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.input
class Amount:
    value: int


class Never(BasePermission):
    message = "never"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


CALLS: list[tuple[str, Any]] = []


@strawberry.type
class Thing:
    n: int

    @strawberry.field
    def plain(
        self,
        info: strawberry.Info,
        k: int = 2,
        color: Color = Color.RED,
        label: str | None = None,
        max_count: int = 1,
    ) -> str:
        CALLS.append(("plain", (k, color, label, max_count)))
        return f"{self.n}:{k}:{color.value}:{label}:{max_count}:{info.field_name}:{info.path.key}"

    @strawberry.field
    async def later(self, times: int) -> int:
        return self.n * times

    @strawberry.field
    @staticmethod
    def parent(parent: strawberry.Parent["Thing"], when: datetime | None = None) -> str:
        return f"{parent.n}@{when.isoformat() if when else None}"

    @strawberry.field
    def counted(self, amount: Amount) -> int:
        return self.n + amount.value

    @strawberry.field(permission_classes=[Never])  # type: ignore[untyped-decorator]
    def guarded(self) -> int | None:
        return self.n

    @strawberry.field
    def fails(self, k: int) -> int | None:
        raise ValueError(f"no {k}")


@strawberry.type
class Things:
    @strawberry.field
    def thing(self, n: int) -> Thing:
        return Thing(n=n)

    @strawberry.field
    def things(self, ns: list[int]) -> list[Thing]:  # a list argument: Strawberry's
        return [Thing(n=n) for n in ns]


THINGS = """query($c: Color, $w: DateTime) {
  thing(n: 3) { plain a: plain(k: 5, color: $c, label: "x", maxCount: 7) later(times: 4)
    parent(when: $w) counted(amount: {value: 2}) guarded fails(k: 1) }
  things(ns: [1, 2]) { n plain(color: BLUE) } }"""


def test_direct_resolvers_answer_as_strawberrys_wrappers() -> None:
    direct = strawberry.Schema(query=Things, scalar_overrides={})
    general = strawberry.Schema(query=Things)
    changed = direct_resolvers(direct)
    assert sorted(changed) == [
        "Thing.fails", "Thing.later", "Thing.parent", "Thing.plain", "Things.thing",
    ]  # fmt: skip
    variables = {"c": "BLUE", "w": "2026-01-02T03:04:05+00:00"}
    answers = []
    for schema in (direct, general):
        CALLS.clear()
        result = asyncio.run(schema.execute(THINGS, variable_values=variables))
        errors = [(e.message, e.path) for e in result.errors or []]
        answers.append((result.data, errors, list(CALLS)))
    assert answers[0] == answers[1]
    data: Any
    data, errors, calls = answers[0]
    assert data["thing"]["plain"] == "3:2:red:None:1:plain:plain"
    assert data["thing"]["a"] == "3:5:blue:x:7:plain:a"
    assert data["thing"]["later"] == 12 and data["thing"]["counted"] == 5
    assert data["thing"]["parent"] == "3@2026-01-02T03:04:05+00:00"
    assert sorted(errors) == [("never", ["thing", "guarded"]), ("no 1", ["thing", "fails"])]
    assert calls[:2] == [("plain", (2, Color.RED, None, 1)), ("plain", (5, Color.BLUE, "x", 7))]


def test_our_schema_calls_the_hot_resolvers_directly() -> None:
    def resolver(schema: Any, type_name: str, field_name: str) -> Any:
        return schema._schema.type_map[type_name].fields[field_name].resolve

    fast = create_schema()
    for type_name, field_name in [("Query", "event"), ("Event", "sessions"),
                                  ("Session", "liveViews")]:  # fmt: skip
        resolve = resolver(fast, type_name, field_name)
        assert resolve.__qualname__ == "_direct.<locals>.resolve", (type_name, field_name)
    # Input objects are converted by Strawberry (Mutation fields are also under mutation_guard).
    create = resolver(fast, "Mutation", "createSession")
    assert create.__wrapped__.__qualname__ != "_direct.<locals>.resolve"
    plain = create_schema(Settings(fast_paths=False))
    assert resolver(plain, "Query", "event").__qualname__ != "_direct.<locals>.resolve"
