"""The Strawberry schema, and how its errors reach clients."""

import logging
import re
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import asyncpg
import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gql_server import coercion
from gql_server.db import UNAVAILABLE_ERRORS
from gql_server.errors import BAD_REQUEST, INTERNAL, UNAVAILABLE, ApiError, ErrorKind
from gql_server.execution import FastListExecutor
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


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The depth and alias limits as validation rules, made once per schema."""
    depth = QueryDepthLimiter(max_depth=settings.max_query_depth)
    aliases = MaxAliasesLimiter(max_alias_count=settings.max_aliases)
    return [*depth.validation_rules, *aliases.validation_rules]


def create_schema(settings: Settings | None = None, *, fast_lists: bool = True) -> Schema:
    """The schema; fast_lists=False runs graphql-core's general path only (tests compare)."""
    coercion.install()
    settings = settings or Settings()
    extensions: list[Callable[[], SchemaExtension]] = [
        # Dashboards send the same few documents over and over: parse and
        # validate each once (validation alone was ~10 ms per sessions query).
        partial(ParserCache, maxsize=512),
        partial(ValidationCache, maxsize=512),
        # Too much asked for is a validation error (code 400) before execution.
        # The limiters build a new rule class per instance, and the rule
        # classes are part of ValidationCache's key: made per request, they
        # made every request miss the cache (a page of 100 sessions went from
        # 10 to 18 ms). So the rules are made once, here, and reused.
        partial(AddValidationRules, limit_rules(settings)),
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map={datetime: DATETIME}),
        execution_context_class=FastListExecutor if fast_lists else None,
    )
    mutation_type = schema._schema.mutation_type
    assert mutation_type is not None
    mutation_type.fields["recordWatch"].resolve = resolve_record_watch_fast
    return schema


def export_sdl() -> str:
    return create_schema().as_str() + "\n"
