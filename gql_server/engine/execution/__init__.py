"""The executor: graphql-core's (through Strawberry's), with faster ways through
lists of plain objects, a query's objects and pages the database renders, and
the same GraphQL semantics. Read in this order:

- plans.py: the types (FieldPlan, ObjectPlan, ResolvedField), then how an
  object's plain fields become one compiled function, and which fields are
  plain (attributes of leaf type, or nested objects of such; never a field
  with a resolver, arguments, field extensions or an abstract type).
- rendered.py: lists PostgreSQL renders as JSON text (JsonList,
  json_selection) and fields read ahead by the resolver above (field_ahead).
- executor.py: FastListExecutor, which uses both: list items through their
  compiled plan; a query's objects through an operation plan (at each level
  the plain fields compiled, the one field with a resolver resolved and
  completed with graphql-core's own pieces); rendered lists put into the
  response as they are.

Each of them hands the work back to graphql-core whenever it is unsure:
middleware (a schema extension's resolve hook), @defer/@stream, abstract or
list-typed fields, types with is_type_of, two resolver fields at one level, a
value that does not complete exactly (a null in a non-null field, a value that
does not serialize: graphql-core does it again and reports it). Everything
they remember is a pure function of the document, kept in the schema's cache
(engine/cache.py). tests/test_execution.py compares them with graphql-core on
documents drawn from the schema; docs/performance.md has what each saves.
"""

from gql_server.engine.execution.executor import FastListExecutor
from gql_server.engine.execution.plans import STORED_ATTRIBUTE, ObjectPlan, ResolvedField
from gql_server.engine.execution.rendered import (
    FieldAhead,
    JsonList,
    JsonSelection,
    argument_values,
    field_ahead,
    json_selection,
)

__all__ = [
    "STORED_ATTRIBUTE",
    "FastListExecutor",
    "FieldAhead",
    "JsonList",
    "JsonSelection",
    "ObjectPlan",
    "ResolvedField",
    "argument_values",
    "field_ahead",
    "json_selection",
]
