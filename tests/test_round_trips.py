"""One page of sessions costs a constant number of SQL statements, whatever its size."""

from conftest import Api
from helpers import SESSION_FIELDS, create_session, make_world, record

QUERY = f"""
query($e: ID!, $first: Int) {{
  event(id: $e) {{ name organizer {{ name }}
    sessions(first: $first) {{ totalCount nodes {{ {SESSION_FIELDS} }} }} }}
}}
"""
TITLES_ONLY = "query($e: ID!) { event(id: $e) { sessions { nodes { title duration } } } }"


def statements_for(api: Api, token: str, query: str, event_id: str, first: int) -> list[str]:
    api.queries.statements.clear()
    nodes = api.data(query, {"e": event_id, "first": first}, token)["event"]["sessions"]["nodes"]
    assert len(nodes) == first
    return list(api.queries.statements)


def test_round_trips_do_not_grow_with_the_page(api: Api) -> None:
    world = make_world(api)
    for i in range(40):
        session = create_session(api, world.event_admin_token, world.event_id, title=f"S{i}")
        record(api, world.attendee_token, session, "LIVE", (0, 40))
    token = world.event_admin_token
    small = statements_for(api, token, QUERY, world.event_id, 2)
    large = statements_for(api, token, QUERY, world.event_id, 40)
    assert len(small) == len(large)
    # token with event + roles and the page with its counters, organizer, totalCount
    assert len(large) == 3
    assert [s for s in large if "auth_tokens" in s] == large[:1]
    assert "session_stats st" in large[0]
    assert not any("session_stats st JOIN unnest" in s for s in large)
    assert sum("st.live_views," in s for s in large) == 1


def test_analytics_are_not_loaded_unless_selected(api: Api) -> None:
    world = make_world(api)
    for i in range(5):
        create_session(api, world.event_admin_token, world.event_id, title=f"S{i}")
    statements = statements_for(api, world.event_admin_token, TITLES_ONLY, world.event_id, 5)
    assert not any("session_stats st JOIN unnest" in s for s in statements)
    assert not any("st.live_views," in s for s in statements)
    # One statement: the token, the event and the roles, and the page rendered.
    assert len(statements) == 1
    assert all(part in statements[0] for part in ("auth_tokens", "organizer_admins", "string_agg"))


def test_every_kind_of_host_gets_the_page_with_the_event_and_others_get_nothing(
    api: Api,
) -> None:
    # The page is read in the event's statement only for a host (the guard in
    # SQL); whoever else asks is refused by the same check as always.
    world = make_world(api)
    create_session(api, world.event_admin_token, world.event_id, title="Keynote")
    for token in (world.super_token, world.organizer_admin_token, world.event_admin_token):
        assert len(statements_for(api, token, TITLES_ONLY, world.event_id, 1)) == 1
    api.queries.statements.clear()
    body = api.gql(TITLES_ONLY, {"e": world.event_id}, world.attendee_token)
    assert body["data"] == {"event": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == [4030201]
    assert "Keynote" not in str(body)
    assert len(api.queries.statements) == 1


def test_analytics_selected_through_fragments_and_mutations_are_loaded(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id)
    record(api, world.attendee_token, session, "LIVE", (0, 45))
    query = """
    query($e: ID!) { event(id: $e) { sessions { edges { node { ...Numbers } } } } }
    fragment Numbers on Session { ... on Session { liveViews watchTime { live } } }
    """
    node = api.data(query, {"e": world.event_id}, world.super_token)["event"]["sessions"]
    assert node["edges"][0]["node"] == {"liveViews": 1, "watchTime": {"live": 45}}
    update = """
    mutation($s: ID!) { updateSession(sessionId: $s, input: {videoDuration: 40}) {
      liveViews registeredUserCount watchTime { live } } }
    """
    updated = api.data(update, {"s": session}, world.super_token)["updateSession"]
    assert updated == {"liveViews": 1, "registeredUserCount": 0, "watchTime": {"live": 40}}
    created = api.data(
        'mutation($e: ID!) { createSession(eventId: $e, input: {title: "N",'
        ' startTime: "2026-12-01T09:00:00Z", endTime: "2026-12-01T10:00:00Z",'
        " format: EXPO, streamProvider: ZOOM}) { attendeeCount liveViews } }",
        {"e": world.event_id},
        world.super_token,
    )["createSession"]
    assert created == {"attendeeCount": 0, "liveViews": None}


DEEP = """
query($e: ID!, $first: Int) { event(id: $e) { sessions(first: $first) { nodes {
  liveEngagement asOf
  viewers(first: 3) { totalCount nodes { user { name } liveWatchedSeconds } }
  retention(mode: LIVE, buckets: 10) { points { viewers } }
  concurrency(bucketSeconds: 600) { peakConcurrentViewers points { viewers } } } } } }
"""


def test_the_deeper_analytics_are_batched_per_page(api: Api) -> None:
    world = make_world(api)
    for i in range(12):
        session = create_session(api, world.event_admin_token, world.event_id, title=f"S{i}")
        record(api, world.attendee_token, session, "LIVE", (0, 40 + i))
    token = world.event_admin_token
    small = statements_for(api, token, DEEP, world.event_id, 2)
    large = statements_for(api, token, DEEP, world.event_id, 12)
    # token with event + roles, page with counters, viewers, viewer counts, retention,
    # concurrency
    assert len(small) == len(large) == 6
    assert not any("watch_segments" in s for s in large)  # reads never scan raw segments
