"""schema.graphql is what the code exports, and it keeps the API contract
(contract/api.graphql, committed here: the tests never read outside the repository)."""

from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLObjectType,
    build_schema,
)

from gql_server.schema import export_sdl

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contract" / "api.graphql"


def test_schema_graphql_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == export_sdl(), "run: gql-server export-schema > schema.graphql"


def contract_problems(contract_sdl: str, project_sdl: str) -> list[str]:
    """What of the contract the project's SDL lacks: every type, field, argument,
    input field and enum value, with the same type (nullability included)."""
    contract, project = build_schema(contract_sdl), build_schema(project_sdl)
    problems = []
    for name, wanted in contract.type_map.items():
        if name.startswith("__"):
            continue
        found = project.type_map.get(name)
        if found is None or type(found) is not type(wanted):
            problems.append(f"type {name} missing or of another kind")
            continue
        problems += _member_problems(name, wanted, found)
    return problems


def _member_problems(name: str, wanted: GraphQLNamedType, found: GraphQLNamedType) -> list[str]:
    problems = []
    if isinstance(wanted, GraphQLObjectType | GraphQLInputObjectType):
        assert isinstance(found, GraphQLObjectType | GraphQLInputObjectType)
        for field_name, field in wanted.fields.items():
            mine = found.fields.get(field_name)
            if mine is None or str(mine.type) != str(field.type):
                kind = mine.type if mine else "missing"
                problems.append(f"{name}.{field_name}: {kind} != {field.type}")
                continue
            if isinstance(wanted, GraphQLInputObjectType):
                continue
            for arg_name, arg in field.args.items():
                own = mine.args.get(arg_name)
                if own is None or str(own.type) != str(arg.type):
                    kind = own.type if own else "missing"
                    problems.append(f"{name}.{field_name}({arg_name}): {kind} != {arg.type}")
    elif isinstance(wanted, GraphQLEnumType):
        assert isinstance(found, GraphQLEnumType)
        problems += [f"enum {name} lacks {v}" for v in wanted.values if v not in found.values]
    return problems


def test_schema_keeps_the_api_contract() -> None:
    problems = contract_problems(CONTRACT.read_text(), (ROOT / "schema.graphql").read_text())
    assert problems == []


def test_the_contract_check_sees_a_change() -> None:
    """The check above can fail: a field made nullable, an argument and a value dropped."""
    contract = """
        type Query { a(x: Int!): String! b: Int }
        enum E { ONE TWO }
    """
    project = """
        type Query { a: String b: Int c: Int }
        enum E { ONE }
    """
    assert contract_problems(contract, project) == [
        "Query.a: String != String!",
        "enum E lacks TWO",
    ]
    changed = "type Query { a(x: Int): String! b: Int }\nenum E { ONE TWO }"
    assert contract_problems(contract, changed) == ["Query.a(x): Int != Int!"]
