"""Security headers on every response; no redirect to a foreign host."""

import base64
import hashlib
import re
from pathlib import Path

import pytest
from conftest import Api

from gql_server.web import headers


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
    # Its assets come from the server itself, byte for byte what the page's integrity
    # hashes name (a missing or different file would be a blank page offline).
    assert "unpkg.com" not in page.text and "unpkg" not in policy
    assets = re.findall(r'(?:src|href)="(/static/vendor/unpkg/[^"]+)"\s+integrity="([^"]+)"',
                        page.text)  # fmt: skip
    assert len(assets) == 7
    for path, integrity in assets:
        served = api.client.get(path)
        assert served.status_code == 200, path
        digest = base64.b64encode(hashlib.sha384(served.content).digest()).decode()
        assert integrity == f"sha384-{digest}", path


def test_a_graphiql_asset_missing_from_the_package_stops_the_start(tmp_path: Path) -> None:
    html = '<script src="https://unpkg.com/graphiql@9.9.9/graphiql.min.js"></script>'
    with pytest.raises(RuntimeError, match=re.escape("graphiql@9.9.9/graphiql.min.js")):
        headers.local_assets(html, tmp_path)


def test_a_trailing_slash_does_not_redirect_to_the_host_header(api: Api) -> None:
    response = api.client.get(
        "/graphql/", headers={"Host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_the_tracker_is_cacheable_by_version_and_loadable_from_any_origin(api: Api) -> None:
    versioned = api.client.get("/tracker.js?v=2")
    assert versioned.status_code == 200
    assert versioned.headers["content-type"].startswith("text/javascript")
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert versioned.headers["access-control-allow-origin"] == "*"
    assert 'export const VERSION = "2"' in versioned.text
    assert api.client.get("/tracker.js").headers["cache-control"] == "public, max-age=300"


def test_the_watch_page_and_its_clip(api: Api) -> None:
    page = api.client.get("/watch/1")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == headers.WATCH
    assert "media-src 'self'" in headers.WATCH
    clip = api.client.get("/media/clip-3.wav")
    assert clip.status_code == 200 and clip.headers["content-type"] == "audio/wav"
    assert clip.content[:4] == b"RIFF" and len(clip.content) == 44 + 3 * 8000
    # Media elements seek with Range requests.
    part = api.client.get("/media/clip-3.wav", headers={"Range": "bytes=44-1043"})
    assert part.status_code == 206 and len(part.content) == 1000
    assert api.client.get("/media/clip-601.wav").status_code == 400
