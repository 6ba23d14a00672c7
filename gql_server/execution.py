"""A faster way through lists of plain objects, with the same GraphQL semantics.

graphql-core completes every field of every list item through the same
general machinery (resolve info, middleware, awaitable checks, error
handling): ~15 µs a field, so a page of 100 sessions costs ~30 ms. Most of
those fields are plain attributes. For a list whose items are objects and
whose selected fields (after graphql-core's own collection: aliases,
fragments, @include/@skip) are all plain attributes of leaf type, or nested
objects made of such fields, this executor compiles one small function per
selection (source text cached, so once per distinct query) and completes the
items with it: attribute reads, serializers only where a value is not
already what the built-in scalar would return.

Anything else takes the general path: fields with resolvers or arguments
(except a field with optional arguments selected without any, whose value
is then an attribute the field's metadata names: STORED_ATTRIBUTE),
abstract or list-typed fields, types with is_type_of, middleware (schema
extensions that hook resolve), @stream. And when anything in the fast loop
is off (a null in a non-null field, a serializer that fails), the whole list
is completed again by the general path, which reports the error with its
path; the fast loop only reads attributes, so doing it twice is harmless.
tests/test_execution.py runs random queries both ways and compares the JSON.

One step further, for a list whose rows the database can render itself
(json_selection, JsonList): the resolver asks which fields the list selects,
has PostgreSQL build the JSON array, and this executor puts that text into
the response unchanged (orjson.Fragment): no Python object per item at all.
Only where the HTTP endpoint serializes the result with orjson
(Context.json_lists), and only for selections every field of which the
caller can render (json_selection says None otherwise, and the resolver
takes the object path).

And above the lists, for a query (operation plans, `_operation_plan`): the
operation's objects are walked by a plan made once per document (and
@include/@skip values) instead of graphql-core's per-field machinery. At
each level the plain fields are one compiled function, as for list items,
and the one field with a resolver (at most one per object, so nothing that
graphql-core would run concurrently is run in turn) is resolved and
completed with graphql-core's own pieces: resolve info, argument values,
handle_field_error (errors located, nulls propagated the same way), and
complete_list_value / complete_leaf_value / complete_value for whatever the
plan does not walk itself. An object whose plain fields do not complete (a
null in a non-null field, a value that does not serialize) is completed by
graphql-core's complete_object_value instead, so it reports the error; its
resolver field has not run yet, so nothing runs twice. Levels with two or
more resolver fields are completed by graphql-core as a whole.
"""

import collections
import contextlib
import functools
import keyword
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from types import CodeType
from typing import Any, Generic, TypeVar, cast

import orjson
from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
    OperationType,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FieldDetailsList,
    GroupedFieldSet,
    collect_fields,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined
from graphql.type.scalars import specified_scalar_types
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

Complete = Callable[[Any], Any]
T = TypeVar("T")
QUERY = OperationType.QUERY
# The built-in scalar types (a custom scalar could be named like one).
STANDARD = frozenset(specified_scalar_types.values())


class _Fallback(Exception):
    """Leave the fast loop: the general path will redo (and report) this list."""


_FALLBACK = _Fallback()


def _checked(serialize: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The serializer, leaving the fast loop where graphql-core would report an error."""

    def checked(value: Any) -> Any:
        serialized = serialize(value)
        if serialized is None or serialized is Undefined:
            raise _FALLBACK
        return serialized

    return checked


def _enum_serializer(serialize: Callable[[Any], Any]) -> Callable[[Any], Any]:
    names: dict[Any, Any] = {}  # an enum member always serializes to the same name

    def enum_name(value: Any) -> Any:
        name = names.get(value)
        if name is None:
            name = names[value] = serialize(value)
        return name

    return enum_name


# Values of exactly these Python types serialize to themselves in these scalars.
_IDENTITY: dict[str, type] = {
    "String": str,
    "ID": str,
    "Boolean": bool,
    "Int": int,  # within 32 bits (checked in the generated code)
    "Float": float,  # finite (checked in the generated code): NaN and infinities are errors
}


def _enum_names(enum_type: GraphQLEnumType) -> tuple[type, dict[Any, str]] | None:
    """The Python enum behind a Strawberry enum type and each value's GraphQL name.

    Looking a member up by its value (a str) skips Enum.__hash__, a Python
    function; whatever is not found goes through the type's serializer.
    """
    enum_class = getattr(enum_type, "wrapped_cls", None)
    if not (isinstance(enum_class, type) and issubclass(enum_class, Enum)):
        return None
    names: dict[Any, str] = {}
    for member in enum_class:
        with contextlib.suppress(Exception):
            name = enum_type.serialize(member)
            if isinstance(name, str):
                names[member._value_] = name
    return enum_class, names


@dataclass(frozen=True)
class _Field:
    """How to complete one response key of an object."""

    key: str
    attribute: str = ""  # read as source.<attribute> ...
    getter: Callable[[Any], Any] | None = None  # ... or with this (a custom default resolver)
    non_null: bool = False
    constant: str | None = None  # __typename
    identity: type | None = None  # values of this exact type need no serializer
    serialize: Callable[[Any], Any] | None = None  # leaf values otherwise
    nested: Complete | None = None  # object values
    members: dict[Any, str] | None = None  # enum values' names (identity: the enum class)


def _compile(fields: list[_Field]) -> Complete:
    """One function completing an object: no call per field for plain values.

    The generated text holds only numbered local names and attribute names
    that are Python identifiers; every value it uses comes from `namespace`.
    """
    namespace: dict[str, Any] = {"FALLBACK": _FALLBACK}
    lines = ["def complete(o):"]
    for i, f in enumerate(fields):
        namespace[f"K{i}"] = f.key
        if f.constant is not None:
            namespace[f"C{i}"] = f.constant
            lines.append(f"    r{i} = C{i}")
            continue
        if f.getter is None:
            lines.append(f"    v{i} = o.{f.attribute}")
        else:
            namespace[f"G{i}"] = f.getter
            lines.append(f"    v{i} = G{i}(o)")
        lines.append(f"    if v{i} is None:")
        lines.append("        raise FALLBACK" if f.non_null else f"        r{i} = None")
        lines.append("    else:")
        if f.nested is not None:
            namespace[f"N{i}"] = f.nested
            lines.append(f"        r{i} = N{i}(v{i})")
            continue
        namespace[f"S{i}"] = f.serialize
        if f.identity is int:
            lines.append(f"        r{i} = v{i} if type(v{i}) is int and"
                         f" -2147483648 <= v{i} <= 2147483647 else S{i}(v{i})")  # fmt: skip
        elif f.identity is float:  # finite: NaN and infinities fail v - v == 0
            lines.append(f"        r{i} = v{i} if type(v{i}) is float and"
                         f" v{i} - v{i} == 0.0 else S{i}(v{i})")  # fmt: skip
        elif f.members is not None:  # an enum: its name by the member's value
            namespace[f"T{i}"] = f.identity
            namespace[f"M{i}"] = f.members
            lines.append(f"        r{i} = M{i}.get(v{i}._value_) if type(v{i}) is T{i} else None")
            lines.append(f"        if r{i} is None:")
            lines.append(f"            r{i} = S{i}(v{i})")
        elif f.identity is not None:
            namespace[f"T{i}"] = f.identity
            lines.append(f"        r{i} = v{i} if type(v{i}) is T{i} else S{i}(v{i})")
        else:
            lines.append(f"        r{i} = S{i}(v{i})")
    lines.append("    return {" + ", ".join(f"K{i}: r{i}" for i in range(len(fields))) + "}")
    exec(_code("\n".join(lines)), namespace)  # noqa: S102
    # Out of its own globals: function -> globals -> function would be a
    # reference cycle per request, left for the garbage collector.
    complete: Complete = namespace.pop("complete")
    return complete


@functools.lru_cache(maxsize=512)
def _code(source: str) -> CodeType:
    """Compiling costs ~0.1 ms; the same selections come back request after request."""
    return compile(source, "<fast-list-plan>", "exec")


def _nested(plan: Complete, non_null: bool) -> Complete:
    def complete(item: Any) -> Any:
        if item is None:
            if non_null:
                raise _FALLBACK
            return None
        return plan(item)

    return complete


class FastListExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with the fast loop for lists of plain objects."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # graphql-core gives resolvers helpers made of this executor's bound
        # methods and keeps them on the executor: a reference cycle holding
        # the whole request (variables, context, results) until the garbage
        # collector's next full pass. The same helpers through a weak
        # reference free the request as soon as it is answered.
        this = weakref.ref(self)

        def gather(*a: Any, **k: Any) -> Any:
            return _alive(this).gather_async_work(*a, **k)

        def track(*a: Any, **k: Any) -> Any:
            return _alive(this).track_async_work(*a, **k)

        self.async_helpers = GraphQLResolveInfoHelpers(gather=gather, track=track)
        # How json_selection finds the executor (a weak reference: no cycle).
        if hasattr(self.context_value, "executor"):
            self.context_value.executor = this

    def execute_operation(self, serially: bool | None = None) -> Any:
        plan = self._operation_plan() if serially is None else None
        if plan is None:
            return super().execute_operation(serially)
        return self._run_plan(plan)

    def _run_plan(self, plan: "ObjectPlan") -> Any:
        # graphql-core's execute_operation, with the plan for the root fields.
        try:
            data = self._run_object(plan, self.root_value, None, None, None)
        except GraphQLError as error:  # a non-null root field's error
            self.collected_errors.add(error, None)
            return self.finish(self.build_response(None))
        if not self.is_awaitable(data):
            return self.finish(self.build_response(data))

        async def await_result() -> Any:
            try:
                awaited = await data
            except GraphQLError as error:
                self.collected_errors.add(error, None)
                return self.build_response(None)
            except Exception:
                self.run_async_work_finished_hook()
                raise
            return self.build_response(awaited)

        return await_result()

    def _operation_plan(self) -> "ObjectPlan | None":
        """The plan of this query's root fields, made once per document; None: a
        mutation or subscription, middleware, an abort signal, or root fields the
        plan cannot take (more than one with a resolver)."""
        operation = self.operation
        if (
            operation.operation is not QUERY
            or self.abort_signal is not None
            or (self.middleware_manager and self.middleware_manager.middlewares)
        ):
            return None
        key = (Same(self.schema), Same(operation), _boolean_variables(self))
        return _lru(_OPERATION_PLANS, key, self._make_operation_plan)

    def _make_operation_plan(self) -> "ObjectPlan | None":
        root_type = self.schema.get_root_type(self.operation.operation)
        if root_type is None:
            return None
        try:
            collected = collect_fields(
                self.schema, self.fragments, self.variable_values, root_type,
                self.operation, self.hide_suggestions,
            )  # fmt: skip
        except RecursionError:
            return None  # graphql-core reports it
        grouped_field_set, new_defer_usages, _ = collected
        plan = None if new_defer_usages else self._level_plan(root_type, grouped_field_set)
        # At the root, plain fields can only be __typename (Query's fields have
        # resolvers), which cannot fail: there is no object to hand back to.
        if plan is None or not all(f.constant is not None for f in plan.plain_fields):
            return None
        return plan

    def _level_plan(
        self, object_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> "ObjectPlan | None":
        """How to complete an object with this selection; None if graphql-core should."""
        if object_type.is_type_of is not None:
            return None
        plain: list[_Field] = []
        resolved: ResolvedField | None = None
        for key, details in grouped_field_set.items():
            if any(d.fragment_variable_values is not None for d in details):
                return None
            field = self._field_plan(object_type, key, details)
            if field is not None:
                plain.append(field)
                continue
            if resolved is not None:
                return None  # graphql-core runs these concurrently
            field_def = object_type.fields.get(details[0].node.name.value)
            if field_def is None:
                return None
            resolved = ResolvedField(
                key, field_def, details, [d.node for d in details],
                bool(field_def.args or details[0].node.arguments),
                is_non_null_type(field_def.type), self._child_plan(field_def.type, details),
            )  # fmt: skip
        keys = tuple(grouped_field_set)
        return ObjectPlan(
            object_type, keys, tuple(plain), _compile(plain) if plain else None, resolved,
            resolved is None or keys[-1] == resolved.key,
        )  # fmt: skip

    def _child_plan(
        self, return_type: GraphQLOutputType, details: FieldDetailsList
    ) -> "ObjectPlan | None":
        object_type = get_nullable_type(return_type)
        if not is_object_type(object_type):
            return None
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, details)
        if new_defer_usages:
            return None
        return self._level_plan(object_type, grouped_field_set)

    def _run_object(
        self,
        plan: "ObjectPlan",
        source: Any,
        path: Path | None,
        details: FieldDetailsList | None,
        info: GraphQLResolveInfo[Any] | None,
    ) -> Any:
        """The completed object (or an awaitable of it), as complete_object_value gives."""
        result: dict[str, Any] = {}
        if plan.plain is not None:
            try:
                result = plan.plain(source)
            except Exception:  # _Fallback, or a serializer's error: graphql-core reports it
                _FALLBACK.__traceback__ = _FALLBACK.__context__ = None
                assert details is not None and info is not None  # not at the root
                return self.complete_object_value(plan.type, details, info, cast(Path, path),
                                                  source, None)  # fmt: skip
        field = plan.resolved
        if field is None:
            return result
        value = self._run_field(field, plan.type, source, Path(path, field.key, plan.type.name))
        if self.is_awaitable(value):

            async def await_value() -> dict[str, Any]:
                return plan.merge(result, await value)

            return await_value()
        return plan.merge(result, value)

    def _run_field(
        self, field: "ResolvedField", parent: GraphQLObjectType, source: Any, path: Path
    ) -> Any:
        """execute_field for a field with a resolver."""
        field_def = field.field_def
        info = self.build_resolve_info(field_def, field.nodes, parent, path)
        try:
            arguments = (
                argument_values(self, field_def, field.nodes[0]) if field.has_arguments else {}
            )
            resolve = field_def.resolve or self.field_resolver
            value = resolve(source, info, **arguments)
            if self.is_awaitable(value):
                return self._await_field(field, info, path, value)
            completed = self._complete_field(field, info, path, value)
            if self.is_awaitable(completed):
                return self._await_completed(field, path, completed)
        except Exception as raw_error:
            self.handle_field_error(raw_error, field_def.type, field.details, path)
            return None
        return completed

    async def _await_field(
        self, field: "ResolvedField", info: GraphQLResolveInfo[Any], path: Path, value: Any
    ) -> Any:
        try:
            completed = self._complete_field(field, info, path, await value)
            if self.is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, field.field_def.type, field.details, path)
            return None
        return completed

    async def _await_completed(self, field: "ResolvedField", path: Path, completed: Any) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, field.field_def.type, field.details, path)
            return None

    def _complete_field(
        self, field: "ResolvedField", info: GraphQLResolveInfo[Any], path: Path, value: Any
    ) -> Any:
        """complete_value, walking the object with the field's plan if it has one."""
        if value is None or value is Undefined:
            if field.non_null:
                where = f"{info.parent_type}.{info.field_name}"
                raise TypeError(f"Cannot return null for non-nullable field {where}.")
            return None
        if field.plan is not None:
            return self._run_object(field.plan, value, path, field.details, info)
        return_type = cast(GraphQLOutputType, get_nullable_type(field.field_def.type))
        return self.complete_value(return_type, field.details, info, path, value, None)

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> Any:
        if type(items) is JsonList:  # rendered by the database (json_selection)
            return items.fragment
        plan = None
        hooked = self.middleware_manager and self.middleware_manager.middlewares
        if not hooked and self.get_stream_usage(field_details_list, path) is None:
            plan = self._item_plan(item_type, field_details_list)
        if plan is not None:
            items = items if isinstance(items, list | tuple) else list(items)
            try:
                return [plan(item) for item in items]
            except Exception:  # _Fallback, or a serializer's error: the general path
                # The shared instance would keep this request's frames (and items).
                _FALLBACK.__traceback__ = _FALLBACK.__context__ = None
        return super().complete_iterable_value(
            item_type, field_details_list, info, path, items, position_context
        )

    def _item_plan(
        self, item_type: GraphQLOutputType, field_details_list: FieldDetailsList
    ) -> Complete | None:
        non_null = is_non_null_type(item_type)
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not is_object_type(object_type):
            return None
        # The same selection (after @include/@skip, all the way down) gets the
        # same plan: made once, not per request (~0.7 ms a page of 100).
        selection = self._selection_key(object_type, field_details_list)
        if selection is None:
            return None
        key = (non_null, selection)  # the same selection in [T] and [T!] differs

        def make() -> Complete | None:
            made = self._object_plan(object_type, field_details_list)
            return None if made is None else _nested(made, non_null)

        return _lru(_PLANS, key, make)

    def _selection_key(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> tuple[Any, ...] | None:
        """What a plan depends on, at every level below: each response key, its field's
        name and whether it has arguments (object type included); None: @defer."""
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(
            object_type, field_details_list
        )
        if new_defer_usages:
            return None
        parts = []
        for response_key, details in grouped_field_set.items():
            # Fields under one response key share name and arguments (validation).
            node = details[0].node
            field_def = object_type.fields.get(node.name.value)
            nested = None
            if field_def is not None:
                field_type = get_nullable_type(field_def.type)
                if is_object_type(field_type):
                    nested = self._selection_key(field_type, details)
            parts.append((response_key, node.name.value, bool(node.arguments), nested))
        return (object_type, *parts)

    def _object_plan(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Complete | None:
        """How to complete one object of this type for this selection; None if not plain."""
        if object_type.is_type_of is not None:
            return None
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(
            object_type, field_details_list
        )
        if new_defer_usages:
            return None
        fields: list[_Field] = []
        for response_key, details in grouped_field_set.items():
            field = self._field_plan(object_type, response_key, details)
            if field is None:
                return None
            fields.append(field)
        return _compile(fields)

    def _field_plan(
        self, object_type: GraphQLObjectType, key: str, details: FieldDetailsList
    ) -> _Field | None:
        name = details[0].node.name.value
        if name == "__typename":
            return _Field(key, constant=object_type.name)
        field_def = object_type.fields.get(name)
        if field_def is None or details[0].node.arguments:
            return None
        attribute = _plain_attribute(field_def)
        if attribute is None:
            return None
        definition = field_def.extensions["strawberry-definition"]
        stored = (definition.metadata or {}).get(STORED_ATTRIBUTE)
        getter = None
        if stored is None and (
            definition.default_resolver is not getattr or not _plain_name(attribute)
        ):
            resolver = definition.default_resolver

            def getter(source: Any) -> Any:
                return resolver(source, attribute)

        non_null = is_non_null_type(field_def.type)
        field_type = field_def.type.of_type if non_null else field_def.type
        base = _Field(key, attribute=attribute, getter=getter, non_null=non_null)
        if is_leaf_type(field_type):
            serialize: Callable[[Any], Any] = field_type.serialize
            if isinstance(field_type, GraphQLEnumType):
                members = _enum_names(field_type)
                serialize = _checked(_enum_serializer(serialize))
                if members is None:
                    return replace(base, serialize=serialize)
                enum_class, names = members
                return replace(base, identity=enum_class, members=names, serialize=serialize)
            standard = field_type in STANDARD  # the built-in scalars, not a custom "Int"
            identity = _IDENTITY.get(field_type.name) if standard else None
            return replace(base, identity=identity, serialize=_checked(serialize))
        if is_object_type(field_type):
            nested = self._object_plan(field_type, details)
            return None if nested is None else replace(base, nested=nested)
        return None

    def json_object(
        self,
        object_type: GraphQLObjectType,
        details: FieldDetailsList,
        renderable: Mapping[str, frozenset[str]],
    ) -> "JsonSelection | None":
        """What objects of this type select, as attributes the caller can render in
        SQL (`renderable`: type name -> attribute names); None if any field is not."""
        attributes = renderable.get(object_type.name)
        if attributes is None or object_type.is_type_of is not None:
            return None
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, details)
        if new_defer_usages:
            return None
        fields = []
        for key, field_details in grouped_field_set.items():
            node = field_details[0].node
            if len(key) > MAX_JSON_KEY:
                return None
            if node.name.value == "__typename":
                fields.append(JsonField(key, typename=object_type.name))
                continue
            field_def = object_type.fields.get(node.name.value)
            if field_def is None or node.arguments:
                return None
            attribute = _plain_attribute(field_def)
            if attribute is None or attribute not in attributes:
                return None
            field_type = get_nullable_type(field_def.type)
            nested = None
            if is_object_type(field_type):
                nested = self.json_object(field_type, field_details, renderable)
                if nested is None:
                    return None
            elif not is_leaf_type(field_type):
                return None
            fields.append(JsonField(key, attribute=attribute, nested=nested))
        return tuple(fields)


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
           _boolean_variables(executor))  # fmt: skip
    nodes = _lru(_CHILDREN, key, lambda: _child_nodes(executor, parent, info.field_nodes, name))
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
    (Event.sessions' six took ~20 us, twice a page: once to read the page ahead,
    once to resolve it)."""
    variables = executor.variable_values
    if not _leaf_arguments(field_def):
        return get_argument_values(field_def, node, variables, None, executor.hide_suggestions)
    values = tuple(
        (name, type(value), repr(value) if type(value) is float else value)  # -0.0, nan
        for name, value in variables.coerced.items()
    )
    if not all(kind in _SCALAR_VALUES or issubclass(kind, Enum) for _, kind, _ in values):
        return get_argument_values(field_def, node, variables, None, executor.hide_suggestions)
    return _lru(
        _ARGUMENTS, (Same(field_def), Same(node), values, executor.hide_suggestions),
        lambda: get_argument_values(field_def, node, variables, None, executor.hide_suggestions),
    )  # fmt: skip


_SCALAR_VALUES = frozenset([str, int, float, bool, type(None)])


def _leaf_arguments(field_def: GraphQLField) -> bool:
    return _lru(
        _LEAF_ARGUMENTS, Same(field_def),
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
    if executor is None or not _may_render(executor):
        return None
    return executor


def _may_render(executor: "FastListExecutor") -> bool:
    """No middleware sees the fields (a rendered list has no fields to see)."""
    return not (executor.middleware_manager and executor.middleware_manager.middlewares)


def _boolean_variables(executor: "FastListExecutor") -> tuple[tuple[str, Any], ...]:
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
           Same(renderable), _boolean_variables(executor))  # fmt: skip

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

    return _lru(_SELECTIONS, key, make)


def _plain_attribute(field_def: GraphQLField) -> str | None:
    """The attribute whose value a field selected without arguments is; None if it
    has a resolver of its own. A field with optional arguments whose value
    without them is an attribute (liveViews(minSeconds)) names it: STORED_ATTRIBUTE."""
    definition = (field_def.extensions or {}).get("strawberry-definition")
    if definition is None or definition.extensions:
        return None  # field extensions (permission classes are ones) run in its resolver
    stored: str | None = (definition.metadata or {}).get(STORED_ATTRIBUTE)
    if stored is not None:
        return stored
    if (
        field_def.args
        or not definition.is_basic_field
        or not getattr(field_def.resolve, "_is_default", False)
    ):
        return None
    name: str = definition.python_name
    return name


# Field metadata naming the attribute that holds a resolver field's value when
# it is selected without arguments (its resolver must return exactly that).
STORED_ATTRIBUTE = "gql_server.stored_attribute"

# Plans by what a list selects (see _selection_key): the same for every
# request and document that selects the same, so cached across them; the
# 1,024 used last are kept, whatever documents clients send.
_PLANS: collections.OrderedDict[tuple[Any, ...], Complete | None] = collections.OrderedDict()
MAX_CACHED_PLANS = 1024
V = TypeVar("V")


def _lru(cache: "collections.OrderedDict[Any, V]", key: Any, make: Callable[[], V]) -> V:
    """cache[key], made by `make` if missing; the MAX_CACHED_PLANS used last are kept."""
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = cache[key] = make()
    if len(cache) > MAX_CACHED_PLANS:
        cache.popitem(last=False)
    return value


# json_selection's and field_ahead's answers, the 1,024 used last of each.
_SELECTIONS: collections.OrderedDict[tuple[Any, ...], JsonSelection | None] = (
    collections.OrderedDict()
)
_CHILDREN: collections.OrderedDict[tuple[Any, ...], tuple[FieldNode, ...] | None] = (
    collections.OrderedDict()
)
# argument_values' answers, and whether a field's arguments are all leaves.
_ARGUMENTS: collections.OrderedDict[tuple[Any, ...], dict[str, Any]] = collections.OrderedDict()
_LEAF_ARGUMENTS: collections.OrderedDict[Any, bool] = collections.OrderedDict()


@dataclass(frozen=True)
class ResolvedField:
    """The field of an object's plan that has a resolver (or is a list, or an object
    that is not plain): resolved and completed by itself."""

    key: str
    field_def: GraphQLField
    details: FieldDetailsList
    nodes: list[FieldNode]
    has_arguments: bool
    non_null: bool
    plan: "ObjectPlan | None"  # for an object value; None: complete_value


@dataclass(frozen=True)
class ObjectPlan:
    """An object's selection: its plain fields compiled, and at most one resolved."""

    type: GraphQLObjectType
    keys: tuple[str, ...]  # the response keys, in order
    plain_fields: tuple[_Field, ...]
    plain: Complete | None
    resolved: ResolvedField | None
    resolved_last: bool

    def merge(self, plain: dict[str, Any], value: Any) -> dict[str, Any]:
        """The plain fields' values and the resolved one's, in the selection's order."""
        assert self.resolved is not None
        key = self.resolved.key
        if self.resolved_last:
            plain[key] = value
            return plain
        return {k: value if k == key else plain[k] for k in self.keys}


# Operation plans by (schema, operation, @include/@skip values), the 1,024 used last.
_OPERATION_PLANS: collections.OrderedDict[tuple[Any, ...], ObjectPlan | None] = (
    collections.OrderedDict()
)


class Same(Generic[T]):
    """A cache key that is its value's identity (AST nodes hash by value, walking
    their whole subtree); the key holds the value, so its id is not reused while
    the entry lives."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.value is self.value


def _alive(executor: "weakref.ref[FastListExecutor]") -> "FastListExecutor":
    alive = executor()
    if alive is None:
        raise RuntimeError("the operation this resolver belonged to has finished")
    return alive


def _plain_name(attribute: str) -> bool:
    return attribute.isidentifier() and not keyword.iskeyword(attribute)
