"""How much a document may ask for, checked before any of it runs (docs/security.md).

Two steps, both linear in the document's size, because every fragment is
measured once and its figures reused wherever it is spread (a fragment that
spreads another twice, twenty levels deep, would otherwise be walked 2^20
times):

- `check_shape`, before graphql-core's validation (whose overlapping-fields
  rule is quadratic in the fields one selection set collects): depth,
  aliases and fields counted with fragments expanded, and the fields one
  selection set collects.
- `estimate_cost`, once the variables are known: per-field weights times the
  list sizes the query asks for (`first`, `buckets`), as GitHub's and
  Shopify's APIs do. Over the budget, the request is refused before
  execution; the figure is reported in `extensions.cost` either way.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)
from graphql.language import DocumentNode

# A fragment spreading a fragment spreading ... deeper than this is refused
# (it also bounds this module's recursion).
MAX_FRAGMENT_NESTING = 50


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_fields: int  # counted with every fragment expanded
    max_selections: int  # fields one selection set collects, fragments included


@dataclass(frozen=True)
class Shape:
    depth: int  # 0 for a leaf field
    aliases: int
    fields: int
    collected: int  # fields of this selection set itself (fragments merged in)


NOTHING = Shape(depth=-1, aliases=0, fields=0, collected=0)


class TooLarge(Exception):
    pass


class _ShapeWalk:
    def __init__(self, document: DocumentNode, limits: Limits) -> None:
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[str, Shape] = {}
        self.active: list[str] = []

    def selection_set(self, node: SelectionSetNode, introspection: bool = False) -> Shape:
        depth, aliases, fields, collected = -1, 0, 0, 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                child = self.field(selection, introspection)
                collected += 1
            elif isinstance(selection, InlineFragmentNode):
                child = self.selection_set(selection.selection_set, introspection)
                collected += child.collected
            elif isinstance(selection, FragmentSpreadNode):
                child = self.fragment(selection.name.value)
                collected += child.collected
            else:  # pragma: no cover (graphql-core has no other selection)
                continue
            depth = max(depth, child.depth)
            aliases += child.aliases
            fields += child.fields
        if collected > self.limits.max_selections:
            raise TooLarge(
                f"A selection set asks for {collected} fields (with its fragments);"
                f" at most {self.limits.max_selections} are allowed"
            )
        self.check(fields, aliases)
        return Shape(depth, aliases, fields, collected)

    def field(self, node: FieldNode, introspection: bool) -> Shape:
        aliases = 1 if node.alias is not None else 0
        if node.selection_set is None:
            return Shape(depth=0, aliases=aliases, fields=1, collected=1)
        # Introspection (GraphiQL's query is 12 levels deep) counts as fields
        # and aliases, not as depth.
        introspection = introspection or node.name.value.startswith("__")
        below = self.selection_set(node.selection_set, introspection)
        if introspection:
            return Shape(0, below.aliases + aliases, below.fields + 1, collected=1)
        depth = below.depth + 1
        if depth > self.limits.max_depth:
            raise TooLarge(f"The query is deeper than {self.limits.max_depth} levels")
        return Shape(depth, below.aliases + aliases, below.fields + 1, collected=1)

    def fragment(self, name: str) -> Shape:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return NOTHING  # unknown or cyclic: graphql-core's validation says so
        if len(self.active) >= MAX_FRAGMENT_NESTING:
            raise TooLarge(f"Fragments are nested more than {MAX_FRAGMENT_NESTING} deep")
        self.active.append(name)
        try:
            on = definition.type_condition.name.value
            shape = self.selection_set(definition.selection_set, on.startswith("__"))
        finally:
            self.active.pop()
        self.memo[name] = shape
        return shape

    def check(self, fields: int, aliases: int) -> None:
        if fields > self.limits.max_fields:
            raise TooLarge(
                f"The query asks for more than {self.limits.max_fields} fields"
                " (counting every fragment where it is spread)"
            )
        if aliases > self.limits.max_aliases:
            raise TooLarge(f"The query uses more than {self.limits.max_aliases} aliases")


def check_shape(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """The error refusing a document that asks for too much; [] when it is within limits."""
    walk = _ShapeWalk(document, limits)
    try:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                walk.selection_set(definition.selection_set)
            elif isinstance(definition, FragmentDefinitionNode):
                walk.fragment(definition.name.value)
    except TooLarge as error:
        return [GraphQLError(str(error))]
    return []


# What a field costs once, beyond the one every object field costs: the
# analytics that read many rollup rows for each session they are asked of.
FIELD_WEIGHTS: Mapping[tuple[str, str], int] = {
    ("Session", "viewers"): 10,
    ("Session", "retention"): 25,
    ("Session", "concurrency"): 25,
    ("Event", "analytics"): 10,
    ("Session", "timeline"): 25,
    ("Event", "timeline"): 50,
    ("Session", "plays"): 5,
    ("Session", "noShowCount"): 5,
}
# Lists whose length no argument states: the number of points assumed.
ASSUMED_LIST_SIZES: Mapping[tuple[str, str], int] = {
    ("LiveConcurrency", "points"): 100,
    ("Timeline", "points"): 100,
}
# Arguments that set how many items a field returns (for a connection: how
# many its nodes and edges hold).
SIZE_ARGUMENTS = ("first", "buckets")


def check_cost_weights(schema: GraphQLSchema) -> None:
    """Refuse a schema that FIELD_WEIGHTS or ASSUMED_LIST_SIZES name a field of that it
    does not have (a renamed field would silently cost nothing)."""
    missing = []
    for type_name, field_name in [*FIELD_WEIGHTS, *ASSUMED_LIST_SIZES]:
        object_type = schema.get_type(type_name)
        if not isinstance(object_type, GraphQLObjectType) or field_name not in object_type.fields:
            missing.append(f"{type_name}.{field_name}")
    if missing:
        raise ValueError(f"cost weights name fields the schema does not have: {missing}")


def _argument(node: FieldNode, name: str, variables: Mapping[str, Any]) -> Any:
    for argument in node.arguments or ():
        if argument.name.value == name:
            value = argument.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value)
            if isinstance(value, IntValueNode):
                return int(value.value)
            return None
    return None


class _CostWalk:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[str, int] = {}
        self.active: set[str] = set()

    def selection_set(self, node: SelectionSetNode, parent: GraphQLNamedType | None) -> int:
        total = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType | None):
            return 0
        definition = parent.fields.get(name) if parent is not None else None
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        key = (parent.name, name) if parent is not None else ("", name)
        if is_leaf_type(named):
            return FIELD_WEIGHTS.get(key, 0)
        own = 1 + FIELD_WEIGHTS.get(key, 0)
        below = self.selection_set(node.selection_set, named) if node.selection_set else 0
        for argument in SIZE_ARGUMENTS:
            if argument in definition.args:
                # It returns that many items (a connection: its nodes and edges hold them).
                value = _argument(node, argument, self.variables)
                if value is None:
                    value = definition.args[argument].default_value
                if isinstance(value, float) and value.is_integer():
                    value = int(value)  # graphql-core coerces 1000.0 to the Int 1000
                size = value if isinstance(value, int) and value > 0 else 1
                return own + size * below
        field_type = definition.type
        if is_non_null_type(field_type):
            field_type = field_type.of_type
        if is_list_type(field_type):
            # A list whose length no argument states (a connection's nodes
            # and edges: its `first` counted them already).
            return ASSUMED_LIST_SIZES.get(key, 1) * (own + below)
        return own + below

    def fragment(self, name: str) -> int:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return 0
        self.active.add(name)
        try:
            parent = self.schema.get_type(definition.type_condition.name.value)
            cost = self.selection_set(definition.selection_set, parent)
        finally:
            self.active.discard(name)
        self.memo[name] = cost
        return cost


def estimate_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
) -> int:
    """The operation's cost: each object field 1 (plus its weight), times the list sizes above it.

    Scalar and enum fields are free; a field with `first` (or `buckets`)
    multiplies what is selected below it by that number (its default when
    not given); introspection is free (its size is the schema's).
    """
    root: Callable[[], GraphQLObjectType | None] = {
        "query": lambda: schema.query_type,
        "mutation": lambda: schema.mutation_type,
        "subscription": lambda: schema.subscription_type,
    }[operation.operation.value]
    walk = _CostWalk(schema, document, variables)
    return walk.selection_set(operation.selection_set, root())
