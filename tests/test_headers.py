"""Security headers on every response; no redirect to a foreign host."""

from conftest import Api

from gql_server import headers


def test_every_response_has_the_security_headers(api: Api) -> None:
    for path in ("/", "/graphql?query={__typename}", "/static/dashboard.js", "/healthz", "/nope"):
        response = api.client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
    assert api.client.get("/").headers["content-security-policy"] == headers.DASHBOARD
    api_answer = api.client.post("/graphql", json={"query": "{ __typename }"})
    assert api_answer.headers["content-security-policy"] == headers.NOTHING
    # No inline script or style in the dashboard: its policy allows none.
    page = api.client.get("/dashboard").text
    assert "<style" not in page and "style=" not in page
    assert all("src=" in tag for tag in page.split("<script")[1:])


def test_graphiql_is_allowed_its_own_inline_script_only(api: Api) -> None:
    page = api.client.get("/graphql", headers={"Accept": "text/html"})
    policy = page.headers["content-security-policy"]
    assert policy == headers.graphiql_policy(page.text)
    assert policy.count("'sha256-") == 1 and "'unsafe-eval'" not in policy


def test_a_trailing_slash_does_not_redirect_to_the_host_header(api: Api) -> None:
    response = api.client.get(
        "/graphql/", headers={"Host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 404
    assert "location" not in response.headers
