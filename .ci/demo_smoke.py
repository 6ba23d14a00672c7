"""CI: use the server that the README's first line started, as a newcomer would.

    python .ci/demo_smoke.py BASE_URL OUTPUT_FILE

Waits for /readyz, reads the host login and event id that `serve --demo`
printed (OUTPUT_FILE holds its output), signs in, reads one page of sessions,
checks that what is live moves by itself (the simulated audience) and loads
the dashboard page. Exits non-zero saying what failed. Standard
library only: it must not depend on what the test extra installs.
"""

import json
import re
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def fail(message: str) -> None:
    print(f"demo smoke: {message}", file=sys.stderr)
    sys.exit(1)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def graphql(base: str, query: str, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 (loopback, http)
        f"{base}/graphql", data=json.dumps({"query": query}).encode(), headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        body = json.load(response)
    if "errors" in body:
        fail(f"{query[:40]}... answered {body['errors']}")
    return body["data"]


def wait_healthy(base: str, output: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if get(f"{base}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    with open(output) as printed:
        fail(f"/readyz did not answer 200 in {seconds:.0f} s; output:\n{printed.read()}")


def main() -> None:
    base, output = sys.argv[1], sys.argv[2]
    wait_healthy(base, output, seconds=300)
    with open(output) as file:
        printed = file.read()
    host = re.search(r"event admin\s+(\S+@\S+)\s+password: (\S+)", printed)
    event = re.search(r"event id: (\d+)", printed)
    if not host or not event:
        fail(f"serve --demo did not print the host login and event id:\n{printed}")
    assert host and event
    login = graphql(
        base,
        f'mutation {{ login(email: "{host[1]}", password: "{host[2]}") {{ token }} }}',
    )
    token = login["login"]["token"]
    page = graphql(
        base,
        f'{{ event(id: "{event[1]}") {{ name sessions(first: 20) {{ totalCount '
        "nodes { id title liveViews recordingViews watchTime { total } } } } }",
        token,
    )
    sessions = page["event"]["sessions"]
    if sessions["totalCount"] < 20 or len(sessions["nodes"]) != 20:
        fail(f"the demo event has too few sessions: {sessions}")
    if not any(node["liveViews"] for node in sessions["nodes"]):
        fail("no session of the demo's first page has a live view")
    # The demo lives: its live sessions' watch time grows with nobody watching.
    live = f'{{ event(id: "{event[1]}") {{ analytics {{ watchTime {{ live }} }} }} }}'
    before = graphql(base, live, token)["event"]["analytics"]["watchTime"]["live"]
    deadline = time.monotonic() + 60
    while graphql(base, live, token)["event"]["analytics"]["watchTime"]["live"] <= before:
        if time.monotonic() > deadline:
            fail("nothing moved in 60 s: the demo's simulated audience does not watch")
        time.sleep(2)
    status, html = get(f"{base}/")
    if status != 200 or "<script" not in html:
        fail(f"the dashboard page answered {status}")
    print(
        f"demo smoke: signed in as {host[1]}, read {len(sessions['nodes'])} of "
        f"{sessions['totalCount']} sessions of {page['event']['name']!r}, live watching"
        " moved by itself, dashboard loaded"
    )


if __name__ == "__main__":
    main()
