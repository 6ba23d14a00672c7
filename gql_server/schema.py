"""The Strawberry schema, and how its errors reach clients."""

import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

import asyncpg
import strawberry
from graphql import ASTValidationRule, GraphQLError, GraphQLSchema, OperationDefinitionNode
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.language import DocumentNode
from graphql.language.parser import parse
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from gql_server import coercion
from gql_server.db import UNAVAILABLE_ERRORS
from gql_server.errors import (
    BAD_REQUEST,
    INTERNAL,
    UNAUTHENTICATED,
    UNAVAILABLE,
    ApiError,
    ErrorKind,
    bad_input,
)
from gql_server.execution import FastListExecutor, Same
from gql_server.limits import Limits, check_shape, estimate_cost
from gql_server.settings import Settings
from gql_server.types.root import Mutation, Query, Subscription, resolve_record_watch_fast
from gql_server.types.scalars import DATETIME

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
    return None


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
    if error.locations:
        payload["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path:
        payload["path"] = list(error.path)
    payload["extensions"] = {"code": kind.code, "status": kind.status}
    return payload


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Expected errors are answers, not incidents: log only the unexpected.
        for error in errors:
            if error_kind(error) in (None, UNAVAILABLE):
                log.error(
                    "unexpected error at %s",
                    error.path,
                    exc_info=error.original_error or error,
                )


Validate = Callable[
    [GraphQLSchema, DocumentNode, tuple[type[ASTValidationRule], ...]], list[GraphQLError]
]


def cached_validation(limits: Limits, maxsize: int = 512) -> Validate:
    """graphql-core's validation after our limits, cached per document (parsed once, too).

    Dashboards send the same few documents over and over: validation alone
    was ~10 ms per sessions query. The limits come first because one of the
    standard rules (overlapping fields) is quadratic in a selection set's
    fields: limits.check_shape bounds that, in linear time.
    """

    @functools.lru_cache(maxsize=maxsize)
    def cached(
        schema: GraphQLSchema,
        document: Same[DocumentNode],  # the parser cache gives the same one for the same text
        rules: tuple[type[ASTValidationRule], ...],
    ) -> list[GraphQLError]:
        return check_shape(document.value, limits) or validate_document(
            schema, document.value, rules
        )

    def validate(
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
    ) -> list[GraphQLError]:
        return cached(schema, Same(document), rules)

    return validate


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation to run: the named one, or the only one (the spec's GetOperation)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


@functools.lru_cache(maxsize=512)
def cached_parse(query: str, max_tokens: int) -> DocumentNode:
    """graphql-core's parse, refusing documents of over max_tokens tokens; the same
    text gives the same document (the validation and plan caches key on it)."""
    return parse(query, max_tokens=max_tokens)


class DocumentLimits(SchemaExtension):
    """Parses (cached, at most max_tokens tokens), refuses before execution what asks
    for too much, and reports the cost in `extensions`.

    One extension for what Strawberry's ParserCache and MaxTokensLimiter did
    too: Strawberry prepares every hook of every extension per request."""

    def __init__(self, *, validate: Validate, max_cost: int, max_tokens: int) -> None:
        self.validate = validate
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.cost: int | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            context.graphql_document = cached_parse(context.query, self.max_tokens)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        errors = self.validate(
            context.schema._schema, context.graphql_document, tuple(context.validation_rules)
        )
        name = requested_operation(context)
        if not errors and operation_of(context.graphql_document, name) is None:
            errors = [GraphQLError(operation_problem(name))]
        context.pre_execution_errors = errors
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        operation = operation_of(context.graphql_document, requested_operation(context))
        assert operation is not None, "checked at validation"
        self.cost = _cost(
            context.schema._schema, context.graphql_document, operation, context.variables or {}
        )
        if self.cost > self.max_cost:
            message = (
                f"The query's estimated cost is {self.cost}, over the limit of"
                f" {self.max_cost}: ask for fewer items (first) or fewer fields"
            )
            context.result = GraphQLExecutionResult(
                data=None, errors=[GraphQLError(message, original_error=bad_input(message))]
            )
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "limit": self.max_cost}}


SCALARS = (str, int, float, bool, type(None))


def _cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
) -> int:
    """limits.estimate_cost, cached while the variables are scalars (a page's are)."""
    values = tuple(variables.items())
    if not all(type(value) in SCALARS for _, value in values):
        return estimate_cost(schema, document, operation, variables)
    return _cached_cost(schema, Same(document), Same(operation), values)


@functools.lru_cache(maxsize=512)
def _cached_cost(
    schema: GraphQLSchema,
    document: Same[DocumentNode],
    operation: Same[OperationDefinitionNode],
    variables: tuple[tuple[str, Any], ...],
) -> int:
    return estimate_cost(schema, document.value, operation.value, dict(variables))


def requested_operation(context: ExecutionContext) -> str | None:
    """The operationName the client sent (ExecutionContext.operation_name falls
    back to the first operation's name, which would run the first of several)."""
    name: str | None = context._provided_operation_name
    return name


def operation_problem(name: str | None) -> str:
    if name is None:
        return "The document has several operations: say which to run with operationName"
    return f"The document has no operation named {name!r}"


def create_schema(settings: Settings | None = None) -> Schema:
    """The schema. With settings.fast_paths off, graphql-core's and Strawberry's general
    paths run instead of the three fast ones (lists, variables, recordWatch's input):
    the tests and bench/ compare the two."""
    settings = settings or Settings()
    limits = Limits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_fields=settings.max_fields,
        max_selections=settings.max_selections,
    )
    # One validation function (and its cache) per schema, made here: the
    # extensions themselves are made per request.
    validate = cached_validation(limits)
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(
            DocumentLimits,
            validate=validate,
            max_cost=settings.max_query_cost,
            max_tokens=settings.max_tokens,
        ),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map={datetime: DATETIME}),
        execution_context_class=FastListExecutor if settings.fast_paths else None,
    )
    coercion.install()
    mutation_type = schema._schema.mutation_type
    assert mutation_type is not None
    if settings.fast_paths:
        # Mutation.record_watch converts each input object field by field in
        # Strawberry; this resolver takes graphql-core's coerced values.
        mutation_type.fields["recordWatch"].resolve = resolve_record_watch_fast
    else:
        coercion.PLAIN_SCHEMAS.add(schema._schema)
    for field in mutation_type.fields.values():
        assert field.resolve is not None
        field.resolve = token_first(field.resolve)
    return schema


def token_first(resolve: Callable[..., Any]) -> Callable[..., Any]:
    """A Mutation field's resolver, run only once the request's token is known to be live.

    The HTTP endpoint looks a token up lazily (accounts.TokenLookup) and answers 401
    afterwards if it was not live; a mutation must not write anything first
    (signUp, login and recordWatch do not otherwise read the actor).
    """

    @functools.wraps(resolve)
    async def resolver(root: Any, info: Any, **arguments: Any) -> Any:
        context = info.context
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
