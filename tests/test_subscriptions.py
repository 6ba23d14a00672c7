"""Live updates over graphql-transport-ws: authorized at connection_init, throttled."""

import json
from typing import Any

import pytest
from conftest import Api, served
from helpers import World, create_session, make_world, record
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

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


def test_the_real_server_speaks_websocket(database_dsn: str) -> None:
    """uvicorn serves WebSockets only with a WebSocket library installed (websockets)."""
    with served(database_dsn) as url:
        endpoint = url.replace("http://", "ws://") + "/graphql"
        with ws_connect(endpoint, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": {"token": "unknown"}}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
