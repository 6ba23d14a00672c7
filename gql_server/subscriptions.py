"""GraphQL subscriptions over WebSocket (graphql-transport-ws only), authorized at connection_init.

Strawberry's ASGI view speaks the protocol; this subclass builds our Context
and checks the bearer token sent in the connection_init payload, as
`{"Authorization": "Bearer <token>"}` (or `{"token": "<token>"}`). A missing
or bad token closes the socket with 4403 before any operation runs. The
legacy graphql-ws protocol is not offered.
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from gql_server.auth import MalformedAuthorization, bearer_token
from gql_server.context import Context, Loaders
from gql_server.db import UNAVAILABLE_ERRORS
from gql_server.schema import Schema
from gql_server.services.accounts import viewer_for_token


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
        return Context(
            pool=state.pool,
            settings=state.settings,
            passwords=state.passwords,
            viewer=None,
            loaders=Loaders(state.pool),
        )

    async def on_ws_connect(self, context: Context) -> UnsetType:
        token = _token(context.connection_params)
        if token is None:
            raise ConnectionRejectionError({"message": "Send a bearer token in connection_init"})
        try:
            viewer = await viewer_for_token(context.pool, token)
        except UNAVAILABLE_ERRORS:
            raise ConnectionRejectionError({"message": "The database is unavailable"}) from None
        if viewer is None:
            raise ConnectionRejectionError({"message": "The token is unknown or expired"})
        context.viewer = viewer
        unset: UnsetType = UNSET  # a connection_ack without a payload
        return unset
