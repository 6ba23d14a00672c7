"""Random query documents drawn from the schema itself: every field reachable from
Query, with arguments, so a field is covered by the differential tests the day it
is added (docs/architecture.md, "one way through")."""

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
)
from graphql.pyutils import Undefined


@dataclass
class Values:
    """What to put in arguments, by GraphQL type (ids: rows that exist, and some not);
    now and then (`wrong`) a value that is refused, so both ways report it."""

    ids: Sequence[str]
    strings: Sequence[str] = ("a", "Talk", "UTC", "Europe/Berlin", "America/New_York")
    ints: Sequence[int] = (1, 2, 3, 5, 10)
    times: Sequence[str] = ("2026-11-30T00:00:00Z", "2026-12-02T12:00:00+01:00")
    floats: Sequence[float] = (0.5, 1.0, 30.0)
    wrong: dict[str, Sequence[str]] = field(
        default_factory=lambda: {
            "String": ['""', '"nowhere/zone"'],
            "Int": ["0", "-1", "100000"],
            "DateTime": ['"yesterday"'],
            "ID": ['"0"', '"x"'],
        }
    )
    wrong_rate: float = 0.03


@dataclass
class Drawn:
    """A document, and the fields ("Type.field") it selects."""

    document: str
    fields: set[str] = field(default_factory=set)


class SchemaQueries:
    """Queries over `schema`'s Query type, at most `depth` object levels deep."""

    def __init__(self, schema: GraphQLSchema, values: Values, *, depth: int = 5) -> None:
        self.schema, self.values, self.depth = schema, values, depth

    def reachable(self) -> set[str]:
        """Every "Type.field" a query can reach within the depth."""
        found: set[str] = set()
        query_type = self.schema.query_type
        assert query_type is not None
        level: set[GraphQLObjectType] = {query_type}
        for depth in range(self.depth, 0, -1):
            below: set[GraphQLObjectType] = set()
            for object_type in level:
                for name, child in object_type.fields.items():
                    named = get_named_type(child.type)
                    if depth > 1 or is_leaf_type(named):
                        found.add(f"{object_type.name}.{name}")
                    if isinstance(named, GraphQLObjectType):
                        below.add(named)
            level = below
        return found

    def draw(self, rng: random.Random) -> Drawn:
        drawn = Drawn("")
        query_type = self.schema.query_type
        assert query_type is not None
        selection = self._selection(rng, query_type, self.depth, drawn)
        drawn.document = "query Drawn {" + selection + "}"
        return drawn

    def _selection(
        self, rng: random.Random, object_type: GraphQLObjectType, depth: int, drawn: Drawn
    ) -> str:
        names = list(object_type.fields)
        if depth <= 1:  # leaves only at the bottom
            names = [n for n in names if is_leaf_type(get_named_type(object_type.fields[n].type))]
            if not names:
                return " __typename"
        parts = []
        for index, name in enumerate(rng.sample(names, k=min(len(names), rng.randint(1, 5)))):
            definition = object_type.fields[name]
            drawn.fields.add(f"{object_type.name}.{name}")
            arguments = self._arguments(rng, definition.args)
            alias = f"a{index}: " if rng.random() < 0.2 else ""
            named: GraphQLNamedType = get_named_type(definition.type)
            below = ""
            if isinstance(named, GraphQLObjectType):
                below = " {" + self._selection(rng, named, depth - 1, drawn) + "}"
            elif not is_leaf_type(named):
                below = " { __typename }"  # interfaces and unions
            parts.append(f" {alias}{name}{arguments}{below}")
        if rng.random() < 0.2:
            parts.append(" __typename")
        return "".join(parts)

    def _arguments(self, rng: random.Random, args: dict[str, GraphQLArgument]) -> str:
        given = []
        for name, argument in args.items():
            required = (
                isinstance(argument.type, GraphQLNonNull) and argument.default_value is Undefined
            )
            if required or rng.random() < 0.5:
                given.append(f"{name}: {self._value(rng, argument.type)}")
        return f"({', '.join(given)})" if given else ""

    def _value(self, rng: random.Random, of: GraphQLInputType) -> str:
        if isinstance(of, GraphQLNonNull):
            return self._value(rng, of.of_type)
        if rng.random() < 0.05:
            return "null"
        if isinstance(of, GraphQLList):
            return "[" + ", ".join(self._value(rng, of.of_type) for _ in range(2)) + "]"
        if isinstance(of, GraphQLEnumType):
            return str(rng.choice(list(of.values)))
        name = getattr(of, "name", "")
        v = self.values
        choices: dict[str, Sequence[object]] = {
            "ID": [f'"{i}"' for i in v.ids],
            "String": [f'"{s}"' for s in v.strings],
            "Int": [str(i) for i in v.ints],
            "Float": [str(f) for f in v.floats],
            "Boolean": ["true", "false"],
            "DateTime": [f'"{t}"' for t in v.times],
        }
        if name not in choices:
            raise AssertionError(f"no values for arguments of type {name}: add some in Values")
        if name in v.wrong and rng.random() < v.wrong_rate:
            return str(rng.choice(v.wrong[name]))
        return str(rng.choice(choices[name]))
