"""The compiled variable coercion gives graphql-core's result, or lets graphql-core decide."""

from collections import Counter
from typing import Any

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

from gql_server.coercion import coerce_compiled, fast_get_variable_values
from gql_server.schema import create_schema

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
