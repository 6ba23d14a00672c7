"""GraphQL over HTTP, as the spec says for both media types.

Strawberry's own view answers every request as application/json and reports
HTTP-level problems as plain text, so this endpoint does the HTTP part and
hands the operation to the Strawberry schema.

- application/graphql-response+json: a document that does not parse or
  validate, or variables that do not coerce, get HTTP 400.
- application/json (or no Accept): the same errors come with HTTP 200.
- A body that is not JSON, or parameters of the wrong type: HTTP 400 under both.
- A token that is present but malformed, unknown, expired or revoked: HTTP 401.
Every error carries extensions.code and extensions.status.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, cast

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from gql_server.auth import Actor, MalformedAuthorization, bearer_token, hash_token
from gql_server.context import Context, Loaders
from gql_server.db import UNAVAILABLE_ERRORS, Pool, RequestDatabase
from gql_server.errors import (
    BAD_REQUEST,
    DATABASE_UNAVAILABLE,
    METHOD_NOT_ALLOWED,
    PAYLOAD_TOO_LARGE,
    TOO_MANY_REQUESTS,
    UNAUTHENTICATED,
    UNAVAILABLE,
    UNSUPPORTED_MEDIA_TYPE,
    ApiError,
)
from gql_server.schema import Schema, error_kind, format_error, operation_problem
from gql_server.services.accounts import TokenLookup
from gql_server.telemetry.current import not_graphql, note_graphql, note_operation
from gql_server.web.headers import STATIC, graphiql_policy, local_assets

log = logging.getLogger(__name__)

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def response_media_type(accept: str | None) -> str:
    """graphql-response+json when the client prefers it; else application/json."""
    if not accept:
        return JSON
    best_gql = best_json = 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media == GRAPHQL_RESPONSE:
            best_gql = max(best_gql, quality)
        elif media in (JSON, "application/*", "*/*"):
            best_json = max(best_json, quality)
    return GRAPHQL_RESPONSE if best_gql > 0 and best_gql >= best_json else JSON


def _json_response(payload: dict[str, Any], status: int, media: str, **headers: str) -> Response:
    body = orjson.dumps(payload)
    return Response(body, status, headers=headers, media_type=f"{media}; charset=utf-8")


def error_response(error: ApiError, media: str) -> Response:
    kind = error.kind
    payload = {
        "errors": [
            {"message": error.message, "extensions": {"code": kind.code, "status": kind.status}}
        ]
    }
    return _json_response(payload, kind.status, media, **error.headers)


def graphql_error_response(error: ApiError, media: str) -> Response:
    """error_response for a GraphQL request, noted for its metrics."""
    note_graphql(errors=[(error.kind.code, error.kind.status)])
    return error_response(error, media)


@dataclass(frozen=True)
class GraphQLParams:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


def _parse_json(text: str | bytes, what: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ApiError(BAD_REQUEST, f"{what} is not valid JSON") from None


def parse_params(data: Any) -> GraphQLParams:
    """The request's parameters; 400 naming the first one of the wrong type."""
    if not isinstance(data, dict):
        raise ApiError(BAD_REQUEST, "The request body must be a JSON object")
    query = data.get("query")
    if not isinstance(query, str):
        raise ApiError(BAD_REQUEST, "query must be a string holding a GraphQL document")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise ApiError(BAD_REQUEST, "variables must be an object or null")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise ApiError(BAD_REQUEST, "operationName must be a string or null")
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise ApiError(BAD_REQUEST, "extensions must be an object or null")
    return GraphQLParams(query=query, variables=variables, operation_name=operation_name)


def _query_string_params(request: Request) -> Any:
    params: dict[str, Any] = dict(request.query_params)
    for name in ("variables", "extensions"):
        if isinstance(params.get(name), str):
            params[name] = _parse_json(params[name], name)
    return params


# Refusing a large body and closing at once resets the connection while the
# client is still sending, and clients that do not wait for 100-continue
# (urllib, requests, curl by default) then see the reset, not the 413. So the
# rest is read and dropped first, within these bounds; then the 413 is sent
# with Connection: close.
DISCARD_LIMIT_FACTOR = 16
DISCARD_SECONDS = 5.0


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = declared is not None and declared.isdigit() and int(declared) > limit
    body = bytearray()
    if not too_large:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                too_large = True
                break
    if not too_large:
        return bytes(body)
    await _discard_rest(request, budget=DISCARD_LIMIT_FACTOR * limit - len(body))
    raise ApiError(
        PAYLOAD_TOO_LARGE, f"The request body exceeds {limit} bytes", Connection="close"
    )


async def _discard_rest(request: Request, *, budget: int) -> None:
    """Read and drop the rest of the body: up to `budget` bytes or DISCARD_SECONDS."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DISCARD_SECONDS):
            while budget > 0:
                message = await request.receive()
                if message["type"] != "http.request":
                    return
                budget -= len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


def _check_content_type(header: str | None) -> None:
    media, *params = (p.strip().lower() for p in (header or "").split(";"))
    if media != JSON:
        raise ApiError(UNSUPPORTED_MEDIA_TYPE, "Send the request as application/json")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise ApiError(UNSUPPORTED_MEDIA_TYPE, "Only utf-8 request bodies are accepted")


class GraphQLEndpoint:
    """The ASGI app behind /graphql."""

    def __init__(
        self, schema: Schema, *, graphiql: bool = True, max_response_bytes: int = 16 << 20
    ) -> None:
        self.schema = schema
        self.max_response_bytes = max_response_bytes
        self.graphiql_html = (
            local_assets(get_graphql_ide_html("graphiql"), STATIC) if graphiql else None
        )
        self.graphiql_policy = graphiql_policy(self.graphiql_html or "")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        # One connection for the request's statements (db.RequestDatabase),
        # given back once the response is out: asyncpg's release (a task of
        # its own) need not keep the client waiting.
        database = RequestDatabase(request.app.state.pool)
        try:
            response = await self.handle(request, database)
            await response(scope, receive, send)
        finally:
            await database.close()

    async def handle(self, request: Request, database: RequestDatabase) -> Response:
        media = response_media_type(request.headers.get("accept"))
        note_graphql()
        try:
            # A backstop: statements time out on their own (command_timeout),
            # but nothing else may keep a client waiting longer than this.
            async with asyncio.timeout(request.app.state.settings.request_timeout):
                return await self._handle(request, media, database)
        except ApiError as error:
            return graphql_error_response(error, media)
        except TimeoutError:
            log.warning("%s %s: no answer within the request timeout", request.method,
                        request.url.path)  # fmt: skip
            return graphql_error_response(
                ApiError(UNAVAILABLE, "The request took too long"), media
            )
        except UNAVAILABLE_ERRORS as error:
            log.warning("the database is unavailable: %s", type(error).__name__)
            return graphql_error_response(ApiError(UNAVAILABLE, DATABASE_UNAVAILABLE), media)

    async def _handle(self, request: Request, media: str, database: RequestDatabase) -> Response:
        state = request.app.state
        if request.method == "GET":
            if self._wants_graphiql(request):
                assert self.graphiql_html is not None
                not_graphql()
                return HTMLResponse(
                    self.graphiql_html,
                    headers={"Content-Security-Policy": self.graphiql_policy},
                )
            params = parse_params(_query_string_params(request))
            allowed = {OperationType.QUERY}
        elif request.method == "POST":
            content_type = request.headers.get("content-type")
            _check_content_type(content_type)
            body = await _read_body(request, state.settings.max_body_bytes)
            if not body:
                raise ApiError(BAD_REQUEST, "The request body is empty")
            params = parse_params(_parse_json(body, "The request body"))
            allowed = {OperationType.QUERY, OperationType.MUTATION}
        else:
            raise ApiError(METHOD_NOT_ALLOWED, Allow="GET, POST")
        # The request's connection has the Pool methods the code calls, hence the cast.
        pool = cast(Pool, database)
        # Looked up by the first statement that needs it, or after (TokenLookup).
        lookup = bearer_token_lookup(request.headers.get("authorization"))
        context = Context(
            pool=pool,
            settings=state.settings,
            passwords=state.passwords,
            actor=None,
            loaders=Loaders(pool),
            json_lists=True,  # _json_response: orjson
            token_lookup=lookup,
            client=request.client.host if request.client else None,
            throttle=state.throttle,
            mail=state.mail,
            metrics=state.metrics,
        )
        # A token that is not live makes the answer 401, whatever the
        # operation asked and whether or not it was refused. (A timeout or
        # a failure of the database is answered as such.)
        try:
            response = await self._execute(params, context, allowed, media)
        except ApiError:
            await _refuse_dead_token(lookup, pool)
            raise
        await _refuse_dead_token(lookup, pool)
        return response

    def _wants_graphiql(self, request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return (
            self.graphiql_html is not None
            and "query" not in request.query_params
            and "text/html" in accept
        )

    async def _execute(
        self,
        params: GraphQLParams,
        context: Context,
        allowed: set[OperationType],
        media: str,
    ) -> Response:
        note_operation(params.operation_name, params.query)
        try:
            result = await self.schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.SUBSCRIPTION:
                raise ApiError(
                    METHOD_NOT_ALLOWED,
                    "Subscriptions are served over WebSocket (graphql-transport-ws) on /graphql",
                    Allow="GET, POST",
                ) from None
            raise ApiError(
                METHOD_NOT_ALLOWED, "Mutations must be sent with POST", Allow="POST"
            ) from None
        except MissingQueryError:
            raise ApiError(BAD_REQUEST, "query must not be empty") from None
        except CannotGetOperationTypeError:
            raise ApiError(BAD_REQUEST, operation_problem(params.operation_name)) from None
        payload: dict[str, Any] = {}
        errors = result.errors or []
        if any(error_kind(e) is UNAVAILABLE for e in errors):
            # One answer for an outage, whichever statement met it (schema.process_errors
            # logged one warning line for it).
            raise ApiError(UNAVAILABLE, DATABASE_UNAVAILABLE)
        throttled = [e.original_error for e in errors if error_kind(e) is TOO_MANY_REQUESTS]
        if throttled:
            # A throttled client is told so by HTTP too: 429 with Retry-After.
            raise cast(ApiError, throttled[0])
        request_error = result.data is None and errors and all(not e.path for e in errors)
        if not request_error:
            payload["data"] = result.data
        if errors:
            payload["errors"] = [format_error(e) for e in errors]
            codes = [e["extensions"] for e in payload["errors"]]
            note_graphql(errors=[(c["code"], c["status"]) for c in codes])
        if result.extensions:
            payload["extensions"] = result.extensions
            note_graphql(cost=result.extensions.get("cost", {}).get("requested"))
        status = 400 if request_error and media == GRAPHQL_RESPONSE else 200
        body = orjson.dumps(payload)
        if len(body) > self.max_response_bytes:
            # What the cost estimate let through (long strings, many errors) stops here.
            raise ApiError(
                BAD_REQUEST,
                f"The answer would be {len(body)} bytes, over the limit of"
                f" {self.max_response_bytes}: ask for fewer items or fields",
            )
        return Response(body, status, media_type=f"{media}; charset=utf-8")


def bearer_token_lookup(header: str | None) -> TokenLookup | None:
    """The request's token, not looked up yet; None without a header; HTTP 401 for a
    header that is not `Bearer <token>`."""
    try:
        token = bearer_token(header)
    except MalformedAuthorization:
        raise ApiError(
            UNAUTHENTICATED, "The Authorization header must be 'Bearer <token>'"
        ) from None
    return None if token is None else TokenLookup(hash_token(token))


NOT_SIGNED_IN = "The token is invalid, expired or revoked"


async def _refuse_dead_token(lookup: TokenLookup | None, pool: Pool) -> None:
    if lookup is not None and not await lookup.live(pool):
        raise ApiError(UNAUTHENTICATED, NOT_SIGNED_IN)


async def authenticate(header: str | None, pool: Pool) -> Actor | None:
    """The signed-in actor, looked up now; None without a header; HTTP 401 for a bad token."""
    lookup = bearer_token_lookup(header)
    if lookup is None:
        return None
    actor = await lookup.actor(pool)
    if actor is None:
        raise ApiError(UNAUTHENTICATED, NOT_SIGNED_IN)
    return actor
