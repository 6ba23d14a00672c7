"""Ordinary dashboard traffic from several clients at once, over real sockets."""

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
from conftest import Api, served
from helpers import create_session, make_world, record

PAGE = """query Page($e: ID!, $first: Int!, $after: String, $order: SessionOrder) {
  event(id: $e) { name sessions(first: $first, after: $after, orderBy: $order) {
    pageInfo { hasNextPage endCursor } nodes { %s } } } }"""
FIELDS = ("id title liveViews", "id startTime attendeeCount watchTime { live total }")
ORDERS = ("START_TIME_ASC", "TITLE_ASC", "LIVE_VIEWS_DESC")


def test_hundreds_of_distinct_page_requests_from_eight_clients_are_all_answered(
    api: Api, database_dsn: str
) -> None:
    # A host's dashboards walking every page by its cursor, in page sizes,
    # orders and selections of their own: ~400 distinct bodies, each sent
    # three times in a random order by eight clients at once. Every answer is
    # the one the same body got alone (nothing answered from another request's
    # leftovers, no 500 when a cache entry goes while a request waits).
    world = make_world(api)
    titles = [f"Talk {n:02d}" for n in random.Random(3).sample(range(60), 60)]
    sessions = []
    for n, title in enumerate(titles):
        start = f"2026-12-01T{9 + n // 6:02d}:{n % 6 * 10:02d}:00+00:00"
        sessions.append(create_session(api, world.event_admin_token, world.event_id,
                                       title=title, startTime=start,
                                       endTime="2026-12-02T00:00:00+00:00"))  # fmt: skip
    for n, session in enumerate(sessions[:20]):
        record(api, world.attendee_token, session, "LIVE", (0, 31 + n))
    bodies: list[dict[str, Any]] = []  # {"query": str, "variables": {...}}
    for fields in FIELDS:
        for order in ORDERS:
            for first in (3, 4, 5, 6, 7):
                after = None
                while True:
                    variables = {"e": world.event_id, "first": first, "after": after,
                                 "order": order}  # fmt: skip
                    body: dict[str, Any] = {"query": PAGE % fields, "variables": variables}
                    page = api.data(PAGE % fields, variables, world.event_admin_token)
                    bodies.append(body)
                    info = page["event"]["sessions"]["pageInfo"]
                    if not info["hasNextPage"]:
                        break
                    after = info["endCursor"]
    assert len(bodies) > 300
    headers = {"Authorization": f"Bearer {world.event_admin_token}"}
    with served(database_dsn) as url:
        with httpx2.Client(base_url=url, headers=headers, timeout=60) as alone:
            expected = [alone.post("/graphql", json=body).content for body in bodies]
        sends = [i for i in range(len(bodies)) for _ in range(3)]
        random.Random(8).shuffle(sends)

        def client(share: list[int]) -> list[tuple[int, int, bytes]]:
            with httpx2.Client(base_url=url, headers=headers, timeout=60) as http:
                return [(i, *_answer(http, bodies[i])) for i in share]

        with ThreadPoolExecutor(8) as pool:
            answers = [a for got in pool.map(client, [sends[k::8] for k in range(8)])
                       for a in got]  # fmt: skip
    assert len(answers) == len(sends)
    wrong = [(i, status, body[:200]) for i, status, body in answers
             if status != 200 or body != expected[i]]  # fmt: skip
    assert wrong == []
    # And the pages are right: each walk lists every session once, in its order.
    by_walk: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for body, answer in zip(bodies, expected, strict=True):
        v = body["variables"]
        nodes = httpx2.Response(200, content=answer).json()["data"]["event"]["sessions"]["nodes"]
        by_walk.setdefault((body["query"], v["order"], v["first"]), []).extend(nodes)
    for (_, order, _), nodes in by_walk.items():
        assert sorted(n["id"] for n in nodes) == sorted(sessions)
        if order == "START_TIME_ASC":
            assert [n["id"] for n in nodes] == sessions
        if order == "TITLE_ASC" and "title" in nodes[0]:
            assert [n["title"] for n in nodes] == sorted(titles)


def _answer(http: httpx2.Client, body: dict[str, Any]) -> tuple[int, bytes]:
    response = http.post("/graphql", json=body)
    return response.status_code, response.content
