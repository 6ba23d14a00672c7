"""Lists the database renders, and fields read ahead by the resolver above them.

For a list whose rows the database can render itself (json_selection,
JsonList): the resolver asks which fields the list selects, has PostgreSQL
build the JSON array, and the executor puts that text into the response
unchanged (orjson.Fragment): no Python object per item at all. Only where the
HTTP endpoint serializes the result with orjson (Context.json_lists), only
while no middleware sees the fields (may_render), and only for selections
every field of which the caller can render (json_selection says None
otherwise, and the resolver takes the object path).

field_ahead gives a resolver the field selected below it, with its arguments,
so it can run its child's statement along with its own (Query.event reads the
sessions page; Event.sessions uses it only if its own page is the same).
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    get_nullable_type,
    is_leaf_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetails
from graphql.execution.values import get_argument_values

from gql_server.engine.cache import EngineCache, Same, cache_of

if TYPE_CHECKING:
    from gql_server.engine.execution.executor import FastListExecutor


@dataclass(frozen=True)
class JsonField:
    """One response key of an object the database renders: an attribute's value
    (an object's, with `nested` its selection), or the type's name."""

    key: str
    attribute: str = ""
    nested: "JsonSelection | None" = None
    typename: str | None = None


JsonSelection = tuple[JsonField, ...]
# Response keys become literals of the SQL text (repo.sessions checks them
# again, up to this length); longer ones take the object path.
MAX_JSON_KEY = 63


class JsonList:
    """A list field's items as one JSON array the database rendered.

    FastListExecutor puts the text into the response as it is. Anything
    else that tried to complete it would fail loudly, not answer [].
    """

    __slots__ = ("fragment",)

    def __init__(self, text: str) -> None:
        self.fragment = orjson.Fragment(text)

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("a JsonList is completed by FastListExecutor only")


def json_selection(
    info: GraphQLResolveInfo[Any],
    list_field: str,
    *,
    excluded: frozenset[str],
    renderable: Mapping[str, frozenset[str]],
) -> JsonSelection | None:
    """What the items of `list_field` select, below the field being resolved, if the
    database can render them (see JsonList); else None.

    None too when the response is not serialized by orjson, the fast paths are
    off, the list is selected under several keys or with @stream, a field in
    `excluded` (another view of the same items, e.g. edges) is selected too,
    or anything below defers.
    """
    executor = _rendering_executor(info)
    if executor is None:
        return None
    return _selection_below(
        executor, tuple(info.field_nodes), info.return_type, list_field, excluded, renderable
    )


@dataclass(frozen=True)
class FieldAhead:
    """A field selected below the one being resolved, for a resolver that runs its
    child's statement along with its own (see field_ahead)."""

    field: GraphQLField
    field_nodes: tuple[FieldNode, ...]
    arguments: dict[str, Any]  # graphql-core's coerced values, by GraphQL name

    def json_selection(
        self,
        info: GraphQLResolveInfo[Any],
        list_field: str,
        *,
        excluded: frozenset[str],
        renderable: Mapping[str, frozenset[str]],
    ) -> JsonSelection | None:
        """json_selection as this field's own resolver will see it."""
        executor = _rendering_executor(info)
        if executor is None:
            return None
        return _selection_below(
            executor, self.field_nodes, self.field.type, list_field, excluded, renderable
        )


def field_ahead(info: GraphQLResolveInfo[Any], name: str) -> FieldAhead | None:
    """The field `name` below the one being resolved, if it is selected under one
    key only (after fragments and @include/@skip), with its arguments; None when
    the fast paths are off or it is not selected so, or its arguments do not coerce."""
    executor = _rendering_executor(info)
    if executor is None:
        return None
    parent = get_nullable_type(info.return_type)
    if not is_object_type(parent) or name not in parent.fields:
        return None
    key = (tuple(Same(node) for node in info.field_nodes), Same(parent), name,
           boolean_variables(executor))  # fmt: skip
    nodes = cache_of(executor.schema).get(
        ("children", *key),
        lambda: _child_nodes(executor, parent, info.field_nodes, name),
        owner=executor.operation,
    )
    if nodes is None:
        return None
    field_def = parent.fields[name]
    try:
        arguments = argument_values(executor, field_def, nodes[0])
    except GraphQLError:
        return None  # the field's own resolution reports it
    return FieldAhead(field_def, nodes, arguments)


def argument_values(
    executor: "FastListExecutor", field_def: GraphQLField, node: FieldNode
) -> dict[str, Any]:
    """graphql-core's get_argument_values, cached while the field's arguments are all
    scalars or enums and the request's variables are too: the same node with the
    same variables gives the same values, which their readers copy, never change
    (Event.sessions' are read twice a page: once to read the page ahead, once to
    resolve it)."""
    variables = executor.variable_values
    cache = cache_of(executor.schema)
    if not _leaf_arguments(cache, field_def):
        return get_argument_values(field_def, node, variables, None, executor.hide_suggestions)
    values = tuple(
        (name, type(value), repr(value) if type(value) is float else value)  # -0.0, nan
        for name, value in variables.coerced.items()
    )
    if not all(kind in _SCALAR_VALUES or issubclass(kind, Enum) for _, kind, _ in values):
        return get_argument_values(field_def, node, variables, None, executor.hide_suggestions)
    return cache.get(
        ("arguments", Same(field_def), Same(node), values, executor.hide_suggestions),
        lambda: get_argument_values(field_def, node, variables, None, executor.hide_suggestions),
        owner=getattr(executor, "operation", None),
    )  # fmt: skip


_SCALAR_VALUES = frozenset([str, int, float, bool, type(None)])


def _leaf_arguments(cache: EngineCache, field_def: GraphQLField) -> bool:
    return cache.get(
        ("leaf arguments", Same(field_def)),
        lambda: all(is_leaf_type(get_nullable_type(a.type)) for a in field_def.args.values()),
    )  # fmt: skip


def _child_nodes(
    executor: "FastListExecutor",
    parent: GraphQLObjectType,
    field_nodes: Iterable[FieldNode],
    name: str,
) -> tuple[FieldNode, ...] | None:
    own = [FieldDetails(node, None) for node in field_nodes]
    grouped_field_set, new_defer_usages, _ = executor.collect_subfields(parent, own)
    if new_defer_usages:
        return None
    found = [d for d in grouped_field_set.values() if d[0].node.name.value == name]
    if len(found) != 1:
        return None
    return tuple(d.node for d in found[0])


def _rendering_executor(info: GraphQLResolveInfo[Any]) -> "FastListExecutor | None":
    """The executor, if lists may be rendered by the database in this request."""
    context = info.context
    executor_ref = getattr(context, "executor", None)
    if not getattr(context, "json_lists", False) or executor_ref is None:
        return None
    executor: FastListExecutor | None = executor_ref()
    if executor is None or not may_render(executor):
        return None
    return executor


def may_render(executor: "FastListExecutor") -> bool:
    """No middleware sees the fields (a rendered list has no fields to see)."""
    return not (executor.middleware_manager and executor.middleware_manager.middlewares)


def boolean_variables(executor: "FastListExecutor") -> tuple[tuple[str, Any], ...]:
    """The variables @include/@skip may read: the same nodes with these select the same."""
    return tuple(
        (name, value)
        for name, value in executor.variable_values.coerced.items()
        if value is None or type(value) is bool
    )


def _selection_below(
    executor: "FastListExecutor",
    field_nodes: tuple[FieldNode, ...],
    return_type: GraphQLOutputType,
    list_field: str,
    excluded: frozenset[str],
    renderable: Mapping[str, frozenset[str]],
) -> JsonSelection | None:
    """json_selection for these field nodes, cached (the key holds the nodes, so
    their ids stay theirs)."""
    key = (tuple(Same(node) for node in field_nodes), Same(return_type), list_field, excluded,
           Same(renderable), boolean_variables(executor))  # fmt: skip

    def make() -> JsonSelection | None:
        parent = get_nullable_type(return_type)
        if not is_object_type(parent):
            return None
        own = [FieldDetails(node, None) for node in field_nodes]
        grouped_field_set, new_defer_usages, _ = executor.collect_subfields(parent, own)
        if new_defer_usages:
            return None
        names = [details[0].node.name.value for details in grouped_field_set.values()]
        if names.count(list_field) != 1 or not excluded.isdisjoint(names):
            return None
        details = next(d for d in grouped_field_set.values() if d[0].node.name.value == list_field)
        if any(d.name.value == "stream" for fd in details for d in fd.node.directives or ()):
            return None
        list_type = get_nullable_type(parent.fields[list_field].type)
        if not isinstance(list_type, GraphQLList):
            return None
        item_type = get_nullable_type(list_type.of_type)
        if not is_object_type(item_type):
            return None
        return executor.json_object(item_type, details, renderable)

    return cache_of(executor.schema).get(("selection", *key), make, owner=executor.operation)
