"""Live updates over graphql-transport-ws: authorized at connection_init, throttled."""

import json
import time
from typing import Any

import pytest
from conftest import Api, QueryLog, app_settings, served
from helpers import World, create_session, login, make_world, record
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from gql_server.app import create_app

PROTOCOL = ["graphql-transport-ws"]
UPDATES = """
subscription($s: ID!) { sessionUpdates(sessionId: $s) {
  title liveViews watchTime { live } asOf viewers(first: 5) { totalCount } } }
"""


def client_of(api: Api) -> TestClient:
    client = api.client
    assert isinstance(client, TestClient)
    return client


def connect(ws: Any, payload: dict[str, Any]) -> None:
    ws.send_json({"type": "connection_init", "payload": payload})
    assert ws.receive_json() == {"type": "connection_ack"}


def subscribe(ws: Any, session_id: str, op: str = "1") -> None:
    ws.send_json({"id": op, "type": "subscribe",
                  "payload": {"query": UPDATES, "variables": {"s": session_id}}})  # fmt: skip


def test_a_host_gets_the_session_then_its_changes(api: Api) -> None:
    world: World = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id, title="Live")
    with client_of(api).websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        connect(ws, {"Authorization": f"Bearer {world.event_admin_token}"})
        subscribe(ws, session)
        first = ws.receive_json()
        assert first["type"] == "next" and first["id"] == "1"
        now = first["payload"]["data"]["sessionUpdates"]
        assert now["title"] == "Live" and now["liveViews"] == 0
        assert now["viewers"]["totalCount"] == 0

        for start in range(0, 50, 10):  # five writes in quick succession
            record(api, world.attendee_token, session, "LIVE", (start, start + 10))
        update = ws.receive_json()["payload"]["data"]["sessionUpdates"]
        if update["watchTime"]["live"] != 50:  # the poll fell between the writes
            update = ws.receive_json()["payload"]["data"]["sessionUpdates"]
        assert update["liveViews"] == 1 and update["watchTime"]["live"] == 50
        assert update["viewers"]["totalCount"] == 1  # loaders are fresh for each update
        assert update["asOf"] > now["asOf"]
        ws.send_json({"id": "1", "type": "complete"})


@pytest.mark.parametrize(
    "payload",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}, {"token": ""}],
)
def test_a_connection_without_a_valid_token_is_closed_4403(api: Api, payload: Any) -> None:
    with client_of(api).websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": payload})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403


def test_only_hosts_may_subscribe(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    with client_of(api).websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        connect(ws, {"token": world.attendee_token})
        subscribe(ws, session)
        refused = ws.receive_json()  # an execution result with the error, then complete
        assert refused["type"] == "next" and refused["payload"]["data"] is None
        assert refused["payload"]["errors"][0]["extensions"] == {"code": 4030201, "status": 403}
        assert ws.receive_json() == {"id": "1", "type": "complete"}
        subscribe(ws, "999999", op="2")
        refused = ws.receive_json()
        assert refused["payload"]["errors"][0]["extensions"] == {"code": 404800, "status": 404}


def test_subscriptions_are_not_served_over_http(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    response = api.post(UPDATES, {"s": session}, world.event_admin_token)
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == 405
    assert "WebSocket" in response.json()["errors"][0]["message"]


def test_the_real_server_speaks_websocket(database_dsn: str) -> None:
    """uvicorn serves WebSockets only with a WebSocket library installed (websockets)."""
    with served(database_dsn) as url:
        endpoint = url.replace("http://", "ws://") + "/graphql"
        with ws_connect(endpoint, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": {"token": "unknown"}}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def until_closed(ws: Any) -> tuple[list[str], int]:
    """The types of the messages received until the server closed the socket, and its code."""
    types = []
    try:
        while True:
            types.append(ws.receive_json()["type"])
    except WebSocketDisconnect as closed:
        return types, closed.code


def second_token(api: Api, token: str) -> str:
    """Another sign-in of the same user (so logging it out leaves the first alone)."""
    email: str = api.data("{ me { email } }", token=token)["me"]["email"]
    return login(api, email)


def test_logout_ends_an_open_subscription_and_refuses_new_ones(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id, title="Live")
    host = second_token(api, world.event_admin_token)  # logged out below
    with client_of(api).websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        connect(ws, {"Authorization": f"Bearer {host}"})
        subscribe(ws, session)
        assert ws.receive_json()["type"] == "next"
        api.data("mutation { logout }", token=host)
        # The next change would carry viewer data: it is not sent, the socket closes.
        record(api, world.attendee_token, session, "LIVE", (0, 40))
        sent, code = until_closed(ws)
        assert "next" not in sent, "an update went out after logout"
        assert code == 4403
    # A new socket with the revoked token is refused at connection_init.
    with client_of(api).websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"token": host}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403


def test_a_subscription_started_after_logout_on_an_open_socket_is_refused(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    host = second_token(api, world.event_admin_token)
    with client_of(api).websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        connect(ws, {"token": host})
        api.data("mutation { logout }", token=host)
        subscribe(ws, session)
        sent, code = until_closed(ws)
        assert "next" not in sent, "a session went out after logout"
        assert code == 4403


def test_the_socket_closes_when_its_token_expires(database_dsn: str) -> None:
    app = create_app(app_settings(database_dsn, token_ttl=2))
    with TestClient(app) as client:
        api = Api(client, QueryLog())
        world = make_world(api)
        session = create_session(api, world.event_admin_token, world.event_id)
        host = second_token(api, world.event_admin_token)
        with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
            connect(ws, {"token": host})
            subscribe(ws, session)
            assert ws.receive_json()["type"] == "next"
            began = time.monotonic()
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()  # nothing changes: only the expiry ends it
            assert closed.value.code == 4403
            assert time.monotonic() - began < 10
