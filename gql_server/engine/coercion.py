"""Variable coercion compiled per variable type: graphql-core's result, faster.

graphql-core coerces a variable's value by walking it against its type:
for every value a dispatch on the type's kind, and first a separate walk to
check the nesting depth. For a recordWatch batch (100 input objects of 4
fields) that was about a quarter of the server's CPU. Here each variable
definition's type is compiled once into nested closures (input objects,
lists, enums, scalars), cached with the operation's variable definitions,
and a value of the usual shape takes the closures: input objects as dicts,
lists as lists, enum names, scalars their coercers accept, optional fields
left out (their defaults from graphql-core's own memoized coercion) and
nullable variables without a default left out.

Anything else goes to graphql-core's own `get_variable_values`, which then
coerces it or reports the errors exactly as before: a variable left out that
has a default or is required, a null for a non-null type, a single value for
a list, a required or unknown input field, an enum name that does not exist,
a scalar its coercer refuses, @oneOf and recursive input types (never
compiled). The closures only read the input, so starting over is harmless.
tests/test_coercion.py compares both ways on random values.

graphql-core's Executor.build calls `get_variable_values` by its module-level
name; `install()` points that name here (once, at schema creation).
"""

import weakref
from collections.abc import Callable, Collection, Mapping
from typing import Any

import graphql.execution.executor
import strawberry.schema.schema_converter
from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    VariableDefinitionNode,
    is_required_input_field,
)
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_variable_values,
)
from graphql.pyutils import Undefined
from graphql.utilities.coerce_input_value import coerce_default_value
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.config import StrawberryConfig
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.arguments import convert_arguments as strawberry_convert_arguments
from strawberry.types.base import StrawberryList, StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.lazy_type import LazyType

from gql_server.engine.cache import Same, cache_of

Coerce = Callable[[Any], Any]
MIN_INT = -(2**31)
MAX_INT = 2**31 - 1


class _Unsure(Exception):
    """Not a value the closures take as is: let graphql-core coerce it (or explain)."""


_UNSURE = _Unsure()


def compile_input(type_: GraphQLInputType) -> Coerce | None:
    """A function coercing any value of this type as graphql-core would.

    It raises _Unsure where graphql-core would do something else than
    accept the value as the function does. None for types not compiled.
    """
    return _value(type_, frozenset())


def _value(type_: GraphQLInputType, inside: frozenset[str]) -> Coerce | None:
    if isinstance(type_, GraphQLNonNull):
        inner = _present(type_.of_type, inside)
        if inner is None:
            return None

        def non_null(value: Any) -> Any:
            if value is None or value is Undefined:
                raise _UNSURE
            return inner(value)

        return non_null
    present = _present(type_, inside)
    if present is None:
        return None

    def nullable(value: Any) -> Any:
        if value is None:
            return None
        if value is Undefined:
            raise _UNSURE
        return present(value)

    return nullable


def _present(type_: GraphQLInputType, inside: frozenset[str]) -> Coerce | None:
    """The coercion of a value that is not null."""
    if isinstance(type_, GraphQLList):
        return _list(type_, inside)
    if isinstance(type_, GraphQLInputObjectType):
        return _input_object(type_, inside)
    if isinstance(type_, GraphQLEnumType):
        return _enum(type_)
    if isinstance(type_, GraphQLScalarType):
        return _scalar(type_)
    return None


def _list(type_: GraphQLList[Any], inside: frozenset[str]) -> Coerce | None:
    item = _value(type_.of_type, inside)
    if item is None:
        return None

    def coerce_list(value: Any) -> Any:
        if type(value) is not list:
            raise _UNSURE  # a single value becomes a list of one: graphql-core's way
        return [item(v) for v in value]

    return coerce_list


def _input_object(type_: GraphQLInputObjectType, inside: frozenset[str]) -> Coerce | None:
    if type_.is_one_of or type_.name in inside:
        return None  # recursive types could nest deeper than graphql-core allows
    inside = inside | {type_.name}
    fields = []
    for name, field in type_.fields.items():
        coerce = _value(field.type, inside)
        if coerce is None:
            return None
        fields.append((name, field.out_name or name, coerce, field))
    names = frozenset(type_.fields)
    out_type = type_.out_type

    def coerce_object(value: Any) -> Any:
        if type(value) is not dict or not names.issuperset(value):
            raise _UNSURE
        coerced = {}
        for name, out_name, coerce, field in fields:
            field_value = value.get(name, Undefined)
            if field_value is not Undefined:
                coerced[out_name] = coerce(field_value)
            elif is_required_input_field(field):
                raise _UNSURE  # graphql-core reports it
            else:
                coerced_default = _default(field)  # memoized by graphql-core
                if coerced_default is not Undefined:
                    coerced[out_name] = coerced_default
        return out_type(coerced)

    return coerce_object


def _default(field: GraphQLInputField) -> Any:
    try:
        return coerce_default_value(field)
    except Exception:  # an invalid default: graphql-core reports it
        raise _UNSURE from None


def _enum(type_: GraphQLEnumType) -> Coerce:
    # What the type's own coercion returns for each name (Strawberry's enum
    # types return the Python enum member), worked out once.
    members = {name: type_.coerce_input_value(name) for name in type_.values}

    def coerce_enum(value: Any) -> Any:
        if type(value) is not str:
            raise _UNSURE
        member = members.get(value, Undefined)
        if member is Undefined:
            raise _UNSURE
        return member

    return coerce_enum


def _scalar(type_: GraphQLScalarType) -> Coerce:
    coerce_input_value = type_.coerce_input_value

    def coerce_scalar(value: Any) -> Any:
        try:
            coerced = coerce_input_value(value)
        except Exception:  # graphql-core reports it: refused by the scalar
            raise _UNSURE from None
        if coerced is Undefined:
            raise _UNSURE
        return coerced

    # The built-in scalars return these values unchanged: skip the call.
    if type_ is GraphQLInt:

        def coerce_int(value: Any) -> Any:
            if type(value) is int and MIN_INT <= value <= MAX_INT:
                return value
            return coerce_scalar(value)

        return coerce_int
    if type_ is GraphQLString or type_ is GraphQLID:

        def coerce_text(value: Any) -> Any:
            return value if type(value) is str else coerce_scalar(value)

        return coerce_text
    if type_ is GraphQLBoolean:

        def coerce_boolean(value: Any) -> Any:
            return value if type(value) is bool else coerce_scalar(value)

        return coerce_boolean
    return coerce_scalar


# name, signature, coercion, and whether leaving the variable out is simply
# leaving it out (nullable, no default) rather than graphql-core's to decide.
Plan = tuple[tuple[str, GraphQLVariableSignature, Coerce, bool], ...]


def _plan(schema: GraphQLSchema, definitions: tuple[VariableDefinitionNode, ...]) -> Plan | None:
    """Each variable's name, signature and coercion; None if one is not compiled.

    Kept in the schema's cache by the operation (the parse cache gives the same
    one for the same text), so it is made once per document.
    """
    plan = []
    for definition in definitions:
        signature = get_variable_signature(schema, definition)
        if isinstance(signature, GraphQLError):
            return None
        coerce = compile_input(signature.type)
        if coerce is None:
            return None
        may_omit = definition.default_value is None and not isinstance(
            signature.type, GraphQLNonNull
        )
        plan.append((signature.name, signature, coerce, may_omit))
    return tuple(plan)


def coerce_compiled(
    schema: GraphQLSchema,
    var_def_nodes: Collection[VariableDefinitionNode],
    inputs: dict[str, Any],
) -> VariableValues | None:
    """The variables as graphql-core would coerce them; None where it must decide."""
    plan = None
    if var_def_nodes:
        # The operation's own tuple of definitions (the same object for the same
        # document): by identity, not by its structure (hashing walks every node).
        definitions = tuple(var_def_nodes)
        key = ("variables", Same(var_def_nodes) if type(var_def_nodes) is tuple else definitions)
        owner = var_def_nodes if type(var_def_nodes) is tuple else None
        plan = cache_of(schema).get(key, lambda: _plan(schema, definitions), owner=owner)
    if plan is None:
        return None
    sources = {}
    coerced = {}
    try:
        for name, signature, coerce, may_omit in plan:
            value = inputs.get(name, Undefined)
            if value is Undefined:
                if not may_omit:
                    return None  # defaults and errors: graphql-core's
                sources[name] = VariableValueSource(signature)
                continue
            sources[name] = VariableValueSource(signature, value)
            coerced[name] = coerce(value)
    except _Unsure:
        # The shared instance would keep this request's frames (and values).
        _UNSURE.__traceback__ = _UNSURE.__context__ = None
        return None
    return VariableValues(sources, coerced)


def fast_get_variable_values(
    schema: GraphQLSchema,
    var_def_nodes: Collection[VariableDefinitionNode],
    inputs: dict[str, Any],
    max_errors: int | None = None,
    hide_suggestions: bool = False,
) -> VariableValues | list[GraphQLError]:
    """graphql-core's get_variable_values, through the compiled plan when it applies."""
    if schema not in PLAIN_SCHEMAS:
        compiled = coerce_compiled(schema, var_def_nodes, inputs)
        if compiled is not None:
            return compiled
    return get_variable_values(schema, var_def_nodes, inputs, max_errors, hide_suggestions)


# Schemas made with fast_paths off: graphql-core coerces their variables itself.
PLAIN_SCHEMAS: "weakref.WeakSet[GraphQLSchema]" = weakref.WeakSet()


def convert_arguments(
    value: dict[str, Any],
    arguments: list[StrawberryArgument],
    scalar_registry: Mapping[object, Any],
    config: StrawberryConfig,
    info: Any = None,
) -> dict[str, Any]:
    """Strawberry's convert_arguments: a renaming when every argument is a scalar or
    an enum, optional or not (graphql-core has coerced those to what Strawberry's
    conversion gives back unchanged); Strawberry's own conversion otherwise, and
    for schemas made with fast_paths off. tests/test_execution.py compares both
    ways."""
    raw_info = getattr(info, "_raw_info", None)
    if raw_info is not None and raw_info.schema in PLAIN_SCHEMAS:
        return strawberry_convert_arguments(value, arguments, scalar_registry, config, info)
    key = (id(arguments), id(scalar_registry), id(config))
    found = _RENAMINGS.get(key)
    if found is None or found[0] is not arguments:
        if len(_RENAMINGS) >= MAX_RENAMINGS:
            _RENAMINGS.clear()
        # The entry holds the objects its key names, so their ids stay theirs.
        found = _RENAMINGS[key] = (arguments, scalar_registry, config,
                                   _renaming(arguments, scalar_registry, config))  # fmt: skip
    renaming = found[3]
    if renaming is None:
        return strawberry_convert_arguments(value, arguments, scalar_registry, config, info)
    return {python: value[name] for name, python in renaming if name in value}


_RENAMINGS: dict[tuple[int, int, int], tuple[Any, Any, Any, tuple[tuple[str, str], ...] | None]]
_RENAMINGS = {}
MAX_RENAMINGS = 4096


def _renaming(
    arguments: list[StrawberryArgument], scalar_registry: Mapping[object, Any],
    config: StrawberryConfig,
) -> tuple[tuple[str, str], ...] | None:  # fmt: skip
    """(GraphQL name, Python name) of each argument, if Strawberry's conversion
    returns every value of theirs as it is (see strawberry.types.arguments)."""
    renaming = []
    for argument in arguments:
        type_ = argument.type
        if isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe):
            type_ = type_.of_type
        if isinstance(type_, StrawberryMaybe | StrawberryOptional | StrawberryList | LazyType):
            return None
        if type_ is GlobalID or not (
            is_scalar(type_, scalar_registry)
            or isinstance(type_, StrawberryEnumDefinition)
            or has_enum_definition(type_)
        ):
            return None
        assert argument.python_name
        renaming.append((config.name_converter.from_argument(argument), argument.python_name))
    return tuple(renaming)


def direct_resolvers(schema: Any) -> list[str]:
    """Point each field resolver that Strawberry would only call, with renamed
    arguments, straight at the function (strawberry.Schema `schema`); returns the
    fields changed ("Type.field").

    Strawberry wraps every resolver in an Info, a conversion of the arguments,
    a chain of field extensions and an await, for every field. A field whose
    arguments all have a renaming (scalars and enums, see _renaming), without
    field extensions (permissions are ones) or exception handlers, gets the
    same call without them: its own function, the source as self (or as its
    parent/root parameter), the Info, the renamed arguments.
    Fields of the Subscription type keep Strawberry's (their resolve is a stream's).
    """
    converter = schema.schema_converter
    subscription = schema._schema.subscription_type
    changed = []
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type is subscription:
            continue
        for name, graphql_field in graphql_type.fields.items():
            field = (graphql_field.extensions or {}).get("strawberry-definition")
            if field is None or field.base_resolver is None or field.extensions:
                continue
            if converter._get_field_exception_handlers(field):
                continue
            renaming = _renaming(field.arguments, converter.scalar_registry, converter.config)
            if renaming is None or not callable(field.base_resolver.wrapped_func):
                continue
            graphql_field.resolve = _direct(field, renaming, schema.config.info_class)
            changed.append(f"{graphql_type.name}.{name}")
    return changed


def _direct(
    field: Any, renaming: tuple[tuple[str, str], ...], info_class: Callable[..., Any]
) -> Callable[..., Any]:
    resolver = field.base_resolver
    function = resolver.wrapped_func
    takes_self = resolver.self_parameter is not None
    source_names = [p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None

    def resolve(source: Any, info: Any, **values: Any) -> Any:
        arguments = {python: values[name] for name, python in renaming if name in values}
        for source_name in source_names:
            arguments[source_name] = source
        if info_name is not None:
            arguments[info_name] = info_class(_raw_info=info, _field=field)
        return function(source, **arguments) if takes_self else function(**arguments)

    resolve.__wrapped__ = function  # type: ignore[attr-defined]
    return resolve


def install() -> None:
    """Make graphql-core's executor coerce variables through the compiled plans, and
    Strawberry's resolvers convert plain arguments by renaming them."""
    graphql.execution.executor.get_variable_values = fast_get_variable_values  # type: ignore[attr-defined]
    strawberry.schema.schema_converter.convert_arguments = convert_arguments  # type: ignore[attr-defined]
