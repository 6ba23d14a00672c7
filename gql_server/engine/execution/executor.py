"""FastListExecutor: graphql-core's executor (through Strawberry's), with the plans
of plans.py for lists of plain objects and for a query's objects, and the
database's rendered lists (rendered.py) put into the response as they are.
"""

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, cast

from graphql import (
    GraphQLEnumType,
    GraphQLError,
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
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet, collect_fields
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gql_server.engine.cache import Same, cache_of
from gql_server.engine.execution.plans import (
    FALLBACK,
    IDENTITY,
    STANDARD,
    STORED_ATTRIBUTE,
    Complete,
    FieldPlan,
    ObjectPlan,
    ResolvedField,
    checked,
    compile_plan,
    enum_names,
    enum_serializer,
    nested_plan,
    plain_attribute,
    plain_name,
)
from gql_server.engine.execution.rendered import (
    MAX_JSON_KEY,
    JsonField,
    JsonList,
    JsonSelection,
    argument_values,
    boolean_variables,
)

QUERY = OperationType.QUERY


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
        key = ("operation plan", Same(operation), boolean_variables(self))
        return cache_of(self.schema).get(key, self._make_operation_plan, owner=operation)

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
        plain: list[FieldPlan] = []
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
        compiled = compile_plan(plain, cache_of(self.schema)) if plain else None
        return ObjectPlan(
            object_type, keys, tuple(plain), compiled, resolved,
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
            except Exception:  # Fallback, or a serializer's error: graphql-core reports it
                FALLBACK.__traceback__ = FALLBACK.__context__ = None
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
            except Exception:  # Fallback, or a serializer's error: the general path
                # The shared instance would keep this request's frames (and items).
                FALLBACK.__traceback__ = FALLBACK.__context__ = None
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
        # same plan: made once, not per request.
        selection = self._selection_key(object_type, field_details_list)
        if selection is None:
            return None
        key = (non_null, selection)  # the same selection in [T] and [T!] differs

        def make() -> Complete | None:
            made = self._object_plan(object_type, field_details_list)
            return None if made is None else nested_plan(made, non_null)

        return cache_of(self.schema).get(("list plan", *key), make)

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
        fields: list[FieldPlan] = []
        for response_key, details in grouped_field_set.items():
            field = self._field_plan(object_type, response_key, details)
            if field is None:
                return None
            fields.append(field)
        return compile_plan(fields, cache_of(self.schema))

    def _field_plan(
        self, object_type: GraphQLObjectType, key: str, details: FieldDetailsList
    ) -> FieldPlan | None:
        name = details[0].node.name.value
        if name == "__typename":
            return FieldPlan(key, constant=object_type.name)
        field_def = object_type.fields.get(name)
        if field_def is None or details[0].node.arguments:
            return None
        attribute = plain_attribute(field_def)
        if attribute is None:
            return None
        definition = field_def.extensions["strawberry-definition"]
        stored = (definition.metadata or {}).get(STORED_ATTRIBUTE)
        getter = None
        if stored is None and (
            definition.default_resolver is not getattr or not plain_name(attribute)
        ):
            resolver = definition.default_resolver

            def getter(source: Any) -> Any:
                return resolver(source, attribute)

        non_null = is_non_null_type(field_def.type)
        field_type = field_def.type.of_type if non_null else field_def.type
        base = FieldPlan(key, attribute=attribute, getter=getter, non_null=non_null)
        if is_leaf_type(field_type):
            serialize: Callable[[Any], Any] = field_type.serialize
            if isinstance(field_type, GraphQLEnumType):
                members = enum_names(field_type)
                serialize = checked(enum_serializer(serialize))
                if members is None:
                    return replace(base, serialize=serialize)
                enum_class, names = members
                return replace(base, identity=enum_class, members=names, serialize=serialize)
            standard = field_type in STANDARD  # the built-in scalars, not a custom "Int"
            identity = IDENTITY.get(field_type.name) if standard else None
            return replace(base, identity=identity, serialize=checked(serialize))
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
            attribute = plain_attribute(field_def)
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


def _alive(executor: "weakref.ref[FastListExecutor]") -> "FastListExecutor":
    alive = executor()
    if alive is None:
        raise RuntimeError("the operation this resolver belonged to has finished")
    return alive
