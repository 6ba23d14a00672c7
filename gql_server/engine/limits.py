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
from datetime import datetime
from typing import Any

from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    Visitor,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    visit,
)
from graphql.language import DocumentNode
from graphql.utilities import value_from_ast_untyped

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
# analytics that read many rollup rows for each session they are asked of, and
# large strings (a webhook message's payload: up to the whole event's report).
FIELD_WEIGHTS: Mapping[tuple[str, str], int] = {
    ("Session", "viewers"): 10,
    ("Session", "retention"): 25,
    ("Session", "concurrency"): 25,
    ("Event", "analytics"): 10,
    ("Session", "timeline"): 25,
    ("Event", "timeline"): 50,
    ("Session", "plays"): 5,
    ("Session", "noShowCount"): 5,
    ("WebhookDelivery", "payload"): 100,
}
# Lists whose length no argument states: the most items they can hold (the
# services' own bounds; tests/test_limits.py keeps them equal).
MAX_POINTS = 10_000  # a timeline's or a live concurrency's
ASSUMED_LIST_SIZES: Mapping[tuple[str, str], int] = {
    ("LiveConcurrency", "points"): MAX_POINTS,
    ("Timeline", "points"): MAX_POINTS,  # fewer when from and to say so
    ("Event", "webhookEndpoints"): 20,
    ("WebhookDelivery", "attempts"): 20,  # the retry schedule's, and resends
}
# Arguments that set how many items a field returns (for a connection: how
# many its nodes and edges hold).
SIZE_ARGUMENTS = ("first", "buckets")
# The fields whose timeline `from`, `to` and `bucket` bound their points.
TIMELINES = frozenset({("Session", "timeline"), ("Event", "timeline")})
# A session's live concurrency has one point per bucketSeconds from its start to
# its scheduled end (or its last live second): counted over a session of
# ASSUMED_SESSION_SECONDS at most (a longer one may give more, up to MAX_POINTS;
# the answer's size limit bounds those).
CONCURRENCY = ("Session", "concurrency")
ASSUMED_SESSION_SECONDS = 36 * 3600
# The shortest bucket of each TimelineBucket (a DAY lasts 23 hours at a DST change).
BUCKET_SECONDS = {"HOUR": 3600, "DAY": 23 * 3600}
MAX_COST_FIGURE = 2**53 - 1
# Every argument the estimate reads: requests differing only in other
# variables (a cursor, a search) share one cached estimate.
COST_ARGUMENTS = frozenset({*SIZE_ARGUMENTS, "from", "to", "bucket", "bucketSeconds"})
# The lists whose length the field above them bounds (self.points in the walk).
POINTS = frozenset({("Timeline", "points"), ("LiveConcurrency", "points")})


def check_cost_weights(schema: GraphQLSchema) -> None:
    """Refuse a schema that FIELD_WEIGHTS or ASSUMED_LIST_SIZES name a field of that it
    does not have (a renamed field would silently cost nothing)."""
    missing = []
    for type_name, field_name in [*FIELD_WEIGHTS, *ASSUMED_LIST_SIZES, *TIMELINES, CONCURRENCY]:
        object_type = schema.get_type(type_name)
        if not isinstance(object_type, GraphQLObjectType) or field_name not in object_type.fields:
            missing.append(f"{type_name}.{field_name}")
    if missing:
        raise ValueError(f"cost weights name fields the schema does not have: {missing}")


def cost_variables(operation: OperationDefinitionNode, document: DocumentNode) -> tuple[str, ...]:
    """The variables the estimate may read (those given to COST_ARGUMENTS anywhere)."""
    found = _CostVariables()
    visit(operation, found)
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            visit(definition, found)
    return tuple(sorted(found.names))


class _CostVariables(Visitor):
    """Collects the variables used, at any depth, in arguments named in COST_ARGUMENTS."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.depth = 0  # > 0 inside such an argument's value

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        if node.name.value in COST_ARGUMENTS:
            self.depth += 1

    def leave_argument(self, node: ArgumentNode, *_: Any) -> None:
        if node.name.value in COST_ARGUMENTS:
            self.depth -= 1

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        if self.depth:
            self.names.add(node.name.value)


def variable_values(
    operation: OperationDefinitionNode, provided: Mapping[str, Any]
) -> dict[str, Any]:
    """The variables as the operation will run with them: those given, else their
    defaults (a document refused with first: 1000 must not pass by moving 1000 into
    the variable's default)."""
    values = dict(provided)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


def _argument(node: FieldNode, name: str, variables: Mapping[str, Any]) -> Any:
    for argument in node.arguments or ():
        if argument.name.value == name:
            value = argument.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value)
            return value_from_ast_untyped(value)
    return None


def _count(value: Any) -> int | None:
    """An item count from an argument's value; None if it is not one."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # graphql-core coerces 1000.0 to the Int 1000
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def timeline_points(node: FieldNode, variables: Mapping[str, Any], default_bucket: str) -> int:
    """The most points a timeline with these arguments can have (MAX_POINTS unless
    `from` and `to` are both given and valid)."""
    bucket = _argument(node, "bucket", variables) or default_bucket
    start, end = _argument(node, "from", variables), _argument(node, "to", variables)
    if not (isinstance(start, str) and isinstance(end, str)) or bucket not in BUCKET_SECONDS:
        return MAX_POINTS
    try:
        span = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (ValueError, TypeError):  # refused by the field itself anyway
        return MAX_POINTS
    return max(1, min(MAX_POINTS, int(span // BUCKET_SECONDS[bucket]) + 2))


class _CostWalk:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[tuple[str, int], int] = {}
        self.active: set[str] = set()
        self.points = MAX_POINTS  # Timeline.points below the timeline being walked

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
        outer_points = self.points
        if key in TIMELINES:
            bucket = definition.args["bucket"].default_value
            self.points = timeline_points(node, self.variables, getattr(bucket, "value", bucket))
        elif key == CONCURRENCY:
            step = _count(_argument(node, "bucketSeconds", self.variables))
            if step is None:
                step = _count(definition.args["bucketSeconds"].default_value)
            step = max(1, step or 1)
            self.points = min(MAX_POINTS, -(-ASSUMED_SESSION_SECONDS // step))
        try:
            below = self.selection_set(node.selection_set, named) if node.selection_set else 0
        finally:
            self.points = outer_points
        field_type = definition.type
        if is_non_null_type(field_type):
            field_type = field_type.of_type
        for argument in SIZE_ARGUMENTS:
            if argument in definition.args:
                # It returns that many items: a list of them, or a connection whose
                # nodes and edges hold them.
                size = _count(_argument(node, argument, self.variables))
                if size is None:
                    size = _count(definition.args[argument].default_value)
                size = max(1, size or 1)
                return size * (own + below) if is_list_type(field_type) else own + size * below
        if is_list_type(field_type):
            # A list whose length no argument states (a connection's nodes
            # and edges: its `first` counted them already).
            size = self.points if key in POINTS else None
            return (size or ASSUMED_LIST_SIZES.get(key, 1)) * (own + below)
        return own + below

    def fragment(self, name: str) -> int:
        memo_key = (name, self.points)
        if memo_key in self.memo:
            return self.memo[memo_key]
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return 0
        self.active.add(name)
        try:
            parent = self.schema.get_type(definition.type_condition.name.value)
            cost = self.selection_set(definition.selection_set, parent)
        finally:
            self.active.discard(name)
        self.memo[memo_key] = cost
        return cost


def estimate_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
) -> int:
    """The operation's cost: each object field 1 (plus its weight), times the list sizes
    above it, with the variables it will run with (defaults included).

    Scalar and enum fields are free unless weighted (large strings); a field with
    `first` (or `buckets`) multiplies what is selected below it by that number (its
    default when not given); a list no argument sizes counts as the most items it
    can hold (a timeline's points: fewer when `from` and `to` bound them);
    introspection is free (its size is the schema's).
    """
    root: Callable[[], GraphQLObjectType | None] = {
        "query": lambda: schema.query_type,
        "mutation": lambda: schema.mutation_type,
        "subscription": lambda: schema.subscription_type,
    }[operation.operation.value]
    walk = _CostWalk(schema, document, variable_values(operation, variables))
    # Sizes a client names may be huge (first: 1e30): the figure is reported in
    # every answer, as a JSON number that any client can read exactly.
    return min(walk.selection_set(operation.selection_set, root()), MAX_COST_FIGURE)
