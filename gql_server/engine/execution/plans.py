"""Plans: how to complete an object or a list item without graphql-core's
per-field machinery, compiled once per selection.

An object's plain fields (attributes of leaf type, or nested objects made of
such fields) are one generated function (`compile_plan`): attribute reads, and
serializers only where a value is not already what the built-in scalar would
return. A field with a resolver, arguments, field extensions (permission
classes are ones) or an abstract or list type is not plain (`plain_attribute`
says None), except a field with optional arguments selected without any whose
value is then an attribute its metadata names (STORED_ATTRIBUTE). Whatever a
plan cannot complete exactly raises FALLBACK, and graphql-core does it again.
"""

import contextlib
import keyword
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from graphql import FieldNode, GraphQLEnumType, GraphQLField, GraphQLObjectType
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Undefined
from graphql.type.scalars import specified_scalar_types

from gql_server.engine.cache import EngineCache

Complete = Callable[[Any], Any]


@dataclass(frozen=True)
class FieldPlan:
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
    plain_fields: tuple[FieldPlan, ...]
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


# Field metadata naming the attribute that holds a resolver field's value when
# it is selected without arguments (its resolver must return exactly that).
STORED_ATTRIBUTE = "gql_server.stored_attribute"
# The built-in scalar types (a custom scalar could be named like one).
STANDARD = frozenset(specified_scalar_types.values())


class Fallback(Exception):
    """Leave the fast loop: the general path will redo (and report) this list."""


FALLBACK = Fallback()


def checked(serialize: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The serializer, leaving the fast loop where graphql-core would report an error."""

    def checked(value: Any) -> Any:
        serialized = serialize(value)
        if serialized is None or serialized is Undefined:
            raise FALLBACK
        return serialized

    return checked


def enum_serializer(serialize: Callable[[Any], Any]) -> Callable[[Any], Any]:
    names: dict[Any, Any] = {}  # an enum member always serializes to the same name

    def enum_name(value: Any) -> Any:
        name = names.get(value)
        if name is None:
            name = names[value] = serialize(value)
        return name

    return enum_name


# Values of exactly these Python types serialize to themselves in these scalars.
IDENTITY: dict[str, type] = {
    "String": str,
    "ID": str,
    "Boolean": bool,
    "Int": int,  # within 32 bits (checked in the generated code)
    "Float": float,  # finite (checked in the generated code): NaN and infinities are errors
}


def enum_names(enum_type: GraphQLEnumType) -> tuple[type, dict[Any, str]] | None:
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


def compile_plan(fields: list[FieldPlan], cache: EngineCache) -> Complete:
    """One function completing an object: no call per field for plain values.

    The generated text holds only numbered local names and attribute names
    that are Python identifiers; every value it uses comes from `namespace`.
    """
    namespace: dict[str, Any] = {"FALLBACK": FALLBACK}
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
    source = "\n".join(lines)
    # Different documents often select the same: compiled once.
    code = cache.get(("code", source), lambda: compile(source, "<fast-list-plan>", "exec"))
    exec(code, namespace)  # noqa: S102
    # Out of its own globals: function -> globals -> function would be a
    # reference cycle per request, left for the garbage collector.
    complete: Complete = namespace.pop("complete")
    return complete


def nested_plan(plan: Complete, non_null: bool) -> Complete:
    def complete(item: Any) -> Any:
        if item is None:
            if non_null:
                raise FALLBACK
            return None
        return plan(item)

    return complete


def plain_attribute(field_def: GraphQLField) -> str | None:
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


def plain_name(attribute: str) -> bool:
    return attribute.isidentifier() and not keyword.iskeyword(attribute)
