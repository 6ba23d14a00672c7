"""Sign-ins, sign-ups and password checks are throttled per client address."""

import httpx2
import pytest
from conftest import served
from helpers import PASSWORD

from gql_server.errors import ApiError
from gql_server.services.throttle import Throttle

SIGN_UP = """mutation($e: String!) { signUp(email: $e, password: "password-123", name: "N") {
  id } }"""
LOGIN = """mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"""


def test_a_client_spraying_passwords_or_making_accounts_gets_429(database_dsn: str) -> None:
    # Six clients made 900 accounts in 20 s, and password spraying over many
    # addresses met no limit (the lockout counts per address). Over a real
    # server, with the limits at 3 sign-ups and 5 sign-ins a minute.
    with (
        served(database_dsn, sign_ups_per_minute=3, sign_ins_per_minute=5) as url,
        httpx2.Client(base_url=url, timeout=30) as http,
    ):

        def post(query: str, **variables: str) -> httpx2.Response:
            return http.post("/graphql", json={"query": query, "variables": variables})

        made = [post(SIGN_UP, e=f"spray{n}@example.com") for n in range(3)]
        assert [r.status_code for r in made] == [200] * 3
        refused = post(SIGN_UP, e="spray3@example.com")
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 20
        [error] = refused.json()["errors"]
        assert error["extensions"] == {"code": 429, "status": 429}
        assert error["message"].startswith("Too many sign-up attempts from this address")
        guesses = [post(LOGIN, e=f"spray{n}@example.com", p=PASSWORD) for n in range(5)]
        assert {r.status_code for r in guesses} == {200}  # wrong passwords: 401 in the body
        assert post(LOGIN, e="spray0@example.com", p="password-123").status_code == 429
        # The server still answers everything else.
        assert post("{ __typename }").json() == {
            "data": {"__typename": "Query"},
            "extensions": {"cost": {"requested": 0, "limit": 50000}},
        }


def test_the_bucket_refills_with_time() -> None:
    throttle = Throttle({"sign-in": 60})  # one a second
    for _ in range(60):
        throttle.take("sign-in", "10.0.0.1")
    bucket = throttle.buckets[("sign-in", "10.0.0.1")]
    assert bucket.tokens < 1
    bucket.at -= 2.5  # as if 2.5 s had passed: two more
    throttle.take("sign-in", "10.0.0.1")
    throttle.take("sign-in", "10.0.0.1")
    throttle.take("sign-in", "10.0.0.2")  # another client has its own
    with pytest.raises(ApiError, match="try again in 1 s"):
        throttle.take("sign-in", "10.0.0.1")
