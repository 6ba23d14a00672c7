"""GraphQL subscriptions over WebSocket (graphql-transport-ws only), authorized at connection_init.

Strawberry's ASGI view speaks the protocol; this subclass builds our Context
and checks the bearer token sent in the connection_init payload, as
`{"Authorization": "Bearer <token>"}` (or `{"token": "<token>"}`). A missing
or bad token closes the socket with 4403 before any operation runs. The
legacy graphql-ws protocol is not offered.
"""

import asyncio
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from gql_server.auth import MalformedAuthorization, bearer_token
from gql_server.context import Context, Loaders, socket_open
from gql_server.db import UNAVAILABLE_ERRORS
from gql_server.errors import DATABASE_UNAVAILABLE
from gql_server.schema import Schema
from gql_server.services.accounts import actor_for_token
from gql_server.types.root import TOKEN_ENDED


def _token(params: Any) -> str | None:
    if not isinstance(params, dict):
        return None
    token = params.get("token")
    if isinstance(token, str) and token:
        return token
    header = params.get("Authorization", params.get("authorization"))
    if not isinstance(header, str):
        return None
    try:
        return bearer_token(header)
    except MalformedAuthorization:
        return None


class SubscriptionEndpoint(GraphQL[Context, None]):
    def __init__(self, schema: Schema) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=20,
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.app.state
        context = Context(
            pool=state.pool,
            settings=state.settings,
            passwords=state.passwords,
            actor=None,
            loaders=Loaders(state.pool),
            metrics=state.metrics,
        )
        if isinstance(response, WebSocket):
            context.websocket = response
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType:
        token = _token(context.connection_params)
        if token is None:
            raise ConnectionRejectionError({"message": "Send a bearer token in connection_init"})
        try:
            actor = await actor_for_token(context.pool, token)
        except UNAVAILABLE_ERRORS:
            raise ConnectionRejectionError({"message": DATABASE_UNAVAILABLE}) from None
        if actor is None:
            raise ConnectionRejectionError({"message": "The token is unknown or expired"})
        context.actor = actor
        if actor.token_expires_at is not None:
            _close_at_expiry(context, actor.token_expires_at)
        unset: UnsetType = UNSET  # a connection_ack without a payload
        return unset


# Expiry timers of open sockets (a task is kept only while referenced).
_expiry_tasks: set[asyncio.Task[None]] = set()


EXPIRY_POLL_SECONDS = 30.0


def _close_at_expiry(context: Context, expires_at: datetime) -> None:
    """Close the socket when its token expires (a timer that ends with the socket)."""
    socket = context.websocket
    assert socket is not None

    async def wait_then_close() -> None:
        while (left := (expires_at - datetime.now(UTC)).total_seconds()) > 0:
            await asyncio.sleep(min(left, EXPIRY_POLL_SECONDS))
            if not socket_open(socket):
                return  # closed already: nothing to wait for
        await context.end_connection(TOKEN_ENDED, "The token has expired")

    task = asyncio.create_task(wait_then_close())
    _expiry_tasks.add(task)
    task.add_done_callback(_expiry_tasks.discard)
