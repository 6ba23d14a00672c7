"""The database goes away and comes back: quick 503s, then recovery without a restart."""

import shutil
import tempfile
import time
from pathlib import Path

from conftest import Api, QueryLog, app_settings
from helpers import login, sign_up
from starlette.testclient import TestClient

from gql_server.app import create_app
from gql_server.db import EmbeddedPostgres


def test_requests_get_503_quickly_while_the_database_is_down_then_recover() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="gql-outage-", dir="/tmp"))
    database = EmbeddedPostgres(data_dir)
    try:
        dsn = database.start()
        with TestClient(create_app(app_settings(dsn))) as client:
            api = Api(client, QueryLog())
            _, token = sign_up(api)
            assert api.data("{ me { name } }", token=token) == {"me": {"name": "Ann"}}

            database.stop()
            began = time.monotonic()
            down = api.post("{ me { name } }", token=token)
            assert down.status_code == 503
            assert down.json()["errors"][0]["extensions"] == {"code": 503, "status": 503}
            anonymous = api.gql("{ __typename me { id } }")  # no token: no query needed
            assert anonymous["data"] == {"__typename": "Query", "me": None}
            public = api.gql(
                'mutation { login(email: "a@b.co", password: "password-1") { token } }'
            )
            assert public["errors"][0]["extensions"] == {"code": 503, "status": 503}
            assert client.get("/healthz").status_code == 503
            assert time.monotonic() - began < 10, "the outage made requests hang"

            database.start()
            assert client.get("/healthz").status_code == 200
            assert api.data("{ me { name } }", token=token) == {"me": {"name": "Ann"}}
            assert login(api, api.data("{ me { email } }", token=token)["me"]["email"])
    finally:
        database.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
