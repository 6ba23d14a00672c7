"""The Strawberry schema, and how its errors reach clients."""

import contextlib
import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import asyncpg
import strawberry
from graphql import (
    ASTValidationRule,
    GraphQLError,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    execute,
    specified_rules,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.language import DocumentNode
from graphql.language.parser import parse
from graphql.pyutils import Undefined
from strawberry.exceptions import MissingQueryError
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES, validate_document
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_first_operation, get_operation_type

from gql_server.db import UNAVAILABLE_ERRORS, RequestDatabase
from gql_server.engine import coercion
from gql_server.engine.cache import (
    ENTRY_BYTES,
    PARSED_BYTES_PER_CHAR,
    EngineCache,
    Same,
    attach_cache,
)
from gql_server.engine.execution import FastListExecutor
from gql_server.engine.limits import (
    Limits,
    check_cost_weights,
    check_shape,
    cost_variables,
    estimate_cost,
)
from gql_server.errors import (
    BAD_REQUEST,
    DATABASE_UNAVAILABLE,
    INTERNAL,
    NUMBER_OVER_INT,
    UNAUTHENTICATED,
    UNAVAILABLE,
    ApiError,
    ErrorKind,
    bad_input,
)
from gql_server.settings import Settings
from gql_server.telemetry.current import note_operation_type
from gql_server.types.root import Mutation, Query, Subscription, resolve_record_watch_fast
from gql_server.types.scalars import DATETIME, LONG, Long

log = logging.getLogger(__name__)


def error_kind(error: GraphQLError) -> ErrorKind | None:
    """The documented kind of an error; None for an unexpected one (a bug: code 500).

    Errors without a path come before execution (parsing, validation, variable
    coercion): the request is at fault. Errors with a path come from resolvers.
    """
    original = error.original_error
    if isinstance(original, ApiError):
        return original.kind
    if isinstance(original, asyncpg.CharacterNotInRepertoireError):
        return BAD_REQUEST  # text PostgreSQL cannot store: U+0000
    if isinstance(original, UNAVAILABLE_ERRORS):
        return UNAVAILABLE
    if not error.path:
        return BAD_REQUEST
    if error.message.startswith(INT_OVERFLOW):
        return NUMBER_OVER_INT  # a sum past 2^31 - 1 (WatchTime's have Long twins)
    return None


# graphql-core's words when a value does not fit GraphQL's Int.
INT_OVERFLOW = "Int cannot represent non 32-bit signed integer value"


SUGGESTION = re.compile(r" Did you mean .*\?$")


def format_error(error: GraphQLError) -> dict[str, Any]:
    kind = error_kind(error)
    if kind is None:
        payload: dict[str, Any] = {"message": INTERNAL.message}
        kind = INTERNAL
    else:
        # "Did you mean ...?" would spell out the schema to anyone probing it.
        payload = {"message": SUGGESTION.sub("", error.message)}
        if isinstance(error.original_error, asyncpg.CharacterNotInRepertoireError):
            payload["message"] = "Text must not contain the NUL character (U+0000)"
        elif kind is UNAVAILABLE and not isinstance(error.original_error, ApiError):
            payload["message"] = DATABASE_UNAVAILABLE  # not the driver's text ("None")
    if error.locations:
        payload["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path:
        payload["path"] = list(error.path)
    payload["extensions"] = {"code": kind.code, "status": kind.status}
    return payload


class Schema(strawberry.Schema):
    # Set by create_schema with settings.fast_paths: execute() then runs our own
    # pipeline instead of Strawberry's (see execute).
    document_rules: "DocumentRules | None" = None
    validation_rules: tuple[type[ASTValidationRule], ...] = tuple(specified_rules)

    async def execute(  # Strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Strawberry's execute, in the steps it takes with our only extension
        (DocumentRules) applied directly: its extension runner prepared four
        context managers of hooks per request (docs/performance.md). Without
        document_rules (fast paths off) or with operation extensions,
        Strawberry's own; tests/test_fast_paths.py compares the two."""
        rules = self.document_rules  # None unless runs_every_extension() (create_schema)
        if rules is None or operation_extensions is not None:
            return await super().execute(
                query, variable_values, context_value, root_value, operation_name,
                allowed_operation_types, operation_extensions,
            )  # fmt: skip
        if not query:
            raise MissingQueryError
        try:
            document = rules.parse(query)
        except Exception as error:  # Strawberry's: the error is the answer
            return self._refused([_as_graphql_error(error)], None)
        # Strawberry's check of the operation type, on the operation it picks
        # (the named one, else the first), before validation.
        try:
            operation_type = get_operation_type(
                document, operation_name if operation_name is not None else _first_name(document)
            )
        except RuntimeError as error:
            raise CannotGetOperationTypeError(operation_name) from error
        note_operation_type(operation_type.value)
        allowed = allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES
        if operation_type not in allowed:
            raise InvalidOperationTypeError(operation_type)
        cost = None
        try:  # as Strawberry's: what fails from here on is an error, not a 500
            errors = rules.problems(self._schema, document, operation_name, self.validation_rules)
            if errors:
                return self._refused(errors, None)
            cost, refusal = rules.cost(self._schema, document, operation_name, variable_values)
            if refusal is not None:
                return self._refused([refusal], rules.report(cost))
            result = execute(
                self._schema,
                document,
                root_value=root_value,
                context_value=context_value,
                variable_values=variable_values,
                operation_name=operation_name,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                executor_class=self.execution_context_class,
            )
            if inspect.isawaitable(result):
                result = await result
        except Exception as error:
            return self._refused([_as_graphql_error(error)], rules.report(cost))
        assert isinstance(result, GraphQLExecutionResult)
        if result.errors:
            self._process_errors(result.errors, None)
        return ExecutionResult(
            data=result.data, errors=result.errors, extensions=rules.report(cost)
        )

    def runs_every_extension(self) -> bool:
        """Whether execute's own pipeline does what every extension of the schema
        would: DocumentLimits' rules are its steps, DisableIntrospection's rule is in
        validation_rules. With any other extension execute stays Strawberry's, which
        runs them all, their resolve hooks as graphql-core middleware (and the
        executor's faster ways then step aside: _may_render)."""
        return all(
            getattr(extension, "func", extension) is DocumentLimits
            or (
                extension is DisableIntrospection
                and NoSchemaIntrospectionCustomRule in self.validation_rules
            )
            for extension in self.extensions
        )

    def _refused(
        self, errors: list[GraphQLError], extensions: dict[str, Any] | None
    ) -> ExecutionResult:
        self._process_errors(errors, None)
        return ExecutionResult(data=None, errors=errors, extensions=extensions or {})

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors are answers, not incidents: log only the unexpected, with
        # its traceback, and an outage as one warning line (however many fields met it).
        outage = None
        for error in errors:
            kind = error_kind(error)
            if kind is None:
                log.error(
                    "unexpected error at %s",
                    error.path,
                    exc_info=error.original_error or error,
                )
            elif kind is UNAVAILABLE:
                outage = error
        if outage is not None:
            cause = type(outage.original_error or outage).__name__
            log.warning("the database is unavailable (%s at %s)", cause, outage.path)


def _as_graphql_error(error: Exception) -> GraphQLError:
    if isinstance(error, GraphQLError):
        return error
    return GraphQLError(str(error), original_error=error)


def _first_name(document: DocumentNode) -> str | None:
    """The first operation's name (Strawberry's ExecutionContext.operation_name)."""
    operation = get_first_operation(document)
    return operation.name.value if operation is not None and operation.name else None


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation to run: the named one, or the only one (the spec's GetOperation)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


@dataclass(frozen=True)
class DocumentRules:
    """What a document must pass before it runs: parsed (at most max_bytes, comments
    included, and max_tokens tokens), within the shape limits and valid, one
    operation to run, its cost at most max_cost; the cost is reported in
    `extensions`. Applied by DocumentLimits inside Strawberry's execution and by
    Schema.execute's own pipeline.

    Each step is a pure function of the document (and the schema, and the cost of
    scalar variables), kept in the schema's cache: dashboards send the same few
    documents over and over, and validation is the dearest step.
    The same text gives the same document, so the later steps key on its identity."""

    limits: Limits
    max_cost: int
    max_tokens: int
    cache: EngineCache
    max_bytes: int = 102_400

    def parse(self, query: str) -> DocumentNode:
        # Comments count: they are no tokens, but a parsed document keeps its text.
        if len(query) * 4 > self.max_bytes:  # else it cannot be over (UTF-8: <= 4 a char)
            size = len(query.encode())
            if size > self.max_bytes:
                raise GraphQLError(
                    f"The document is {size} bytes, over the limit of {self.max_bytes}"
                )
        made: list[DocumentNode] = []

        def make() -> DocumentNode:
            made.append(parse(query, max_tokens=self.max_tokens))
            return made[0]

        key = ("parse", query)
        document = self.cache.get(
            key, make, weight=ENTRY_BYTES + PARSED_BYTES_PER_CHAR * len(query)
        )
        if made:
            # What the later steps key on: entries of theirs go with this one.
            operations = [
                d for d in document.definitions if isinstance(d, OperationDefinitionNode)
            ]
            variables = [o.variable_definitions for o in operations if o.variable_definitions]
            self.cache.adopt(key, [document, *operations, *variables])
        return document

    def validate(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
    ) -> list[GraphQLError]:
        """The shape limits, then graphql-core's rules. The limits come first because
        one of the standard rules (overlapping fields) is quadratic in a selection
        set's fields: limits.check_shape bounds that, in linear time."""
        return self.cache.get(
            ("validate", Same(document), rules),
            lambda: (
                check_shape(document, self.limits) or validate_document(schema, document, rules)
            ),
            owner=document,
        )

    def problems(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        name: str | None,
        rules: tuple[type[ASTValidationRule], ...],
    ) -> list[GraphQLError]:
        errors = self.validate(schema, document, rules)
        if not errors and operation_of(document, name) is None:
            errors = [GraphQLError(operation_problem(name))]
        return errors

    def cost(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        name: str | None,
        variables: dict[str, Any] | None,
    ) -> tuple[int, GraphQLError | None]:
        """The operation's estimated cost, and the error refusing it if over max_cost."""
        operation = operation_of(document, name)
        assert operation is not None, "checked by problems()"
        cost = self._cost(schema, document, operation, variables or {})
        if cost <= self.max_cost:
            return cost, None
        message = (
            f"The query's estimated cost is {cost}, over the limit of"
            f" {self.max_cost}: ask for fewer items (first) or fewer fields"
        )
        return cost, GraphQLError(message, original_error=bad_input(message))

    def _cost(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
    ) -> int:
        """limits.estimate_cost, cached by the values of the variables it reads (a page's
        cursor is not one of them) while they are scalars."""
        names = self.cache.get(
            ("cost variables", Same(operation)),
            lambda: cost_variables(operation, document),
            owner=operation,
        )
        values = tuple((name, variables.get(name, Undefined)) for name in names)
        if not all(type(value) in SCALARS or value is Undefined for _, value in values):
            return estimate_cost(schema, document, operation, variables)
        return self.cache.get(
            ("cost", Same(operation), values),
            lambda: estimate_cost(schema, document, operation, variables),
            owner=operation,
        )

    def report(self, cost: int | None) -> dict[str, Any]:
        if cost is None:
            return {}
        return {"cost": {"requested": cost, "limit": self.max_cost}}


class DocumentLimits(SchemaExtension):
    """DocumentRules as a Strawberry extension (one: Strawberry prepares every hook
    of every extension per request), for Strawberry's execution and subscriptions."""

    def __init__(self, *, rules: DocumentRules) -> None:
        self.rules = rules
        self.cost: int | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            context.graphql_document = self.rules.parse(context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        with contextlib.suppress(RuntimeError):  # no such operation: validation says so
            note_operation_type(context.operation_type.value)
        context.pre_execution_errors = self.rules.problems(
            context.schema._schema,
            context.graphql_document,
            requested_operation(context),
            tuple(context.validation_rules),
        )
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        self.cost, error = self.rules.cost(
            context.schema._schema,
            context.graphql_document,
            requested_operation(context),
            context.variables,
        )
        if error is not None:
            context.result = GraphQLExecutionResult(data=None, errors=[error])
        yield

    def get_results(self) -> dict[str, Any]:
        return self.rules.report(self.cost)


SCALARS = (str, int, float, bool, type(None))


def requested_operation(context: ExecutionContext) -> str | None:
    """The operationName the client sent (ExecutionContext.operation_name falls
    back to the first operation's name, which would run the first of several)."""
    name: str | None = context._provided_operation_name
    return name


def operation_problem(name: str | None) -> str:
    if name is None:
        return "The document has several operations: say which to run with operationName"
    return f"The document has no operation named {name!r}"


def create_schema(
    settings: Settings | None = None,
    *,
    query: type = Query,
    extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
) -> Schema:
    """The schema. With settings.fast_paths off, graphql-core's and Strawberry's general
    paths run instead of the fast ones (Schema.execute's pipeline, lists and operation
    plans, variables, recordWatch's input): the tests and bench/ compare the two.

    `query` and `extensions` (added to ours) are for a schema built on this one
    (tests/test_fail_closed.py): what they add is honoured with the fast paths on."""
    settings = settings or Settings()
    limits = Limits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_fields=settings.max_fields,
        max_selections=settings.max_selections,
    )
    # The schema's one cache (engine.cache), made here for the document rules.
    cache = EngineCache(settings.cache_bytes)
    rules = DocumentRules(
        limits=limits,
        max_cost=settings.max_query_cost,
        max_tokens=settings.max_tokens,
        cache=cache,
        max_bytes=settings.max_document_bytes,
    )
    # The extensions themselves are made per request.
    ours: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        partial(DocumentLimits, rules=rules)
    ]
    if not settings.introspection:
        ours.append(DisableIntrospection)
    schema = Schema(
        query=query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*ours, *extensions],
        config=StrawberryConfig(scalar_map={datetime: DATETIME, Long: LONG}),
        execution_context_class=FastListExecutor if settings.fast_paths else None,
    )
    if settings.fast_paths:
        if not settings.introspection:  # what DisableIntrospection adds
            schema.validation_rules = (*specified_rules, NoSchemaIntrospectionCustomRule)
        # Decided once: an extension the pipeline does not do leaves it Strawberry's.
        if schema.runs_every_extension():
            schema.document_rules = rules
    attach_cache(schema._schema, cache)
    check_cost_weights(schema._schema)
    coercion.install()
    mutation_type = schema._schema.mutation_type
    assert mutation_type is not None
    if settings.fast_paths:
        coercion.direct_resolvers(schema)
        # Mutation.record_watch converts each input object field by field in
        # Strawberry; this resolver takes graphql-core's coerced values (only while
        # nothing is wrapped around the field's own: permissions, extensions).
        record_watch = mutation_type.fields["recordWatch"]
        if not record_watch.extensions["strawberry-definition"].extensions:
            record_watch.resolve = resolve_record_watch_fast
    else:
        coercion.PLAIN_SCHEMAS.add(schema._schema)
    for field in mutation_type.fields.values():
        assert field.resolve is not None
        field.resolve = mutation_guard(field.resolve)
    return schema


def mutation_guard(resolve: Callable[..., Any]) -> Callable[..., Any]:
    """A Mutation field's resolver, run once the request no longer holds its connection
    and its token is known to be live, whichever executor calls it.

    A mutation may wait on other things than the database (password hashing, a
    webhook target's DNS): its statements take a pooled connection each
    (db.RequestDatabase.stop_holding). The HTTP endpoint looks a token up lazily
    (accounts.TokenLookup) and answers 401 afterwards if it was not live; a
    mutation must not write anything first (signUp, login and recordWatch do not
    otherwise read the actor).
    """

    @functools.wraps(resolve)
    async def resolver(root: Any, info: Any, **arguments: Any) -> Any:
        context = info.context
        database = getattr(context, "pool", None)
        if isinstance(database, RequestDatabase):
            database.stop_holding()
        if (
            getattr(context, "token_lookup", None) is not None
            and await context.signed_in() is None
        ):
            raise ApiError(UNAUTHENTICATED)
        result = resolve(root, info, **arguments)
        return await result if inspect.isawaitable(result) else result

    return resolver


def export_sdl() -> str:
    return create_schema().as_str() + "\n"
