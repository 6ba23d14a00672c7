"""Erasure: every number as if the person had never existed; nothing of them left to see."""

from typing import Any

from conftest import Api
from helpers import (
    PASSWORD,
    create_session,
    expected_metrics,
    make_world,
    record,
    sessions_by_id,
    sign_up,
)

from gql_server.db import Pool
from gql_server.repo.verify import find_rollup_mismatches

ERASE = "mutation($u: ID!) { eraseUser(userId: $u) }"
DELETE_ME = "mutation($p: String!) { deleteMyAccount(password: $p) }"
VIEWERS = """query($e: ID!) { event(id: $e) { sessions { nodes { id asOf
  viewers { totalCount nodes { user { id name email } } } } } } }"""


def rows_of(api: Api, user_id: str) -> dict[str, int]:
    async def count(pool: Pool) -> dict[str, int]:
        found = {}
        for table in ("watch_segments", "viewer_watch", "session_registrations",
                      "session_joins", "auth_tokens", "users"):  # fmt: skip
            column = "id" if table == "users" else "user_id"
            found[table] = await pool.fetchval(
                f"SELECT count(*) FROM {table} WHERE {column} = $1",
                int(user_id),
            )
        return found

    return api.run(count)


def test_an_erased_viewer_leaves_the_numbers_of_an_event_without_them(api: Api) -> None:
    world = make_world(api)
    host = world.event_admin_token
    s60 = create_session(api, host, world.event_id, videoDuration=60, title="Sixty")
    s20 = create_session(api, host, world.event_id, videoDuration=20, title="Twenty")
    untouched = create_session(api, host, world.event_id, title="Untouched")
    people = {name: sign_up(api, name) for name in ("Ann", "Bob", "Cid")}
    spans = {
        ("Ann", s60, "LIVE"): [(0, 40)], ("Ann", s20, "RECORDING"): [(0, 20)],
        ("Bob", s60, "LIVE"): [(10, 50), (45, 70)], ("Bob", s60, "RECORDING"): [(0, 30)],
        ("Bob", s20, "LIVE"): [(0, 20)], ("Cid", s20, "LIVE"): [(5, 15)],
    }  # fmt: skip
    for (name, session, mode), parts in spans.items():
        record(api, people[name][1], session, mode, *parts)
    for name in ("Ann", "Bob"):
        api.data("mutation($s: ID!) { registerForSession(sessionId: $s) }", {"s": s60},
                 people[name][1])  # fmt: skip
        api.data("mutation($s: ID!) { joinSession(sessionId: $s) }", {"s": s20}, people[name][1])
    before = {n["id"]: n for n in api.data(VIEWERS, {"e": world.event_id}, host)["event"][
        "sessions"]["nodes"]}  # fmt: skip
    bob_id, bob_token = people["Bob"]
    bob_email = api.data("{ me { email } }", token=bob_token)["me"]["email"]

    assert api.code(ERASE, {"u": bob_id}, host) == 403  # a host is not a super admin
    assert api.data(ERASE, {"u": bob_id}, world.super_token) == {"eraseUser": 2}

    # The numbers are what they would be had Bob never existed (a reference
    # computed here from the others' spans, analytics-semantics.md).
    got = sessions_by_id(api, world.super_token, world.event_id)
    for session, duration in ((s60, 60), (s20, 20)):
        watches = {(name, mode): parts for (name, s, mode), parts in spans.items()
                   if s == session and name != "Bob"}  # fmt: skip
        want = expected_metrics(watches, duration)
        assert {k: got[session][k] for k in want} == want, session
    # s20's attendees without Bob: Ann joined, Cid watched live.
    assert got[s60]["registeredUserCount"] == 1 and got[s20]["attendeeCount"] == 2
    after = {n["id"]: n for n in api.data(VIEWERS, {"e": world.event_id}, host)["event"][
        "sessions"]["nodes"]}  # fmt: skip
    assert after[s60]["asOf"] > before[s60]["asOf"] and after[s20]["asOf"] > before[s20]["asOf"]
    assert after[untouched] == before[untouched]
    # Nothing of him left to see or to use.
    listed = str(after)
    assert (
        "Bob" not in listed
        and bob_email not in listed
        and bob_id not in [v["user"]["id"] for n in after.values() for v in n["viewers"]["nodes"]]
    )
    assert rows_of(api, bob_id) == {t: 0 for t in rows_of(api, bob_id)}
    assert api.post("{ me { id } }", token=bob_token).status_code == 401
    assert (
        api.code(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
            {"e": bob_email, "p": PASSWORD},
        )
        == 401
    )
    assert api.run(find_rollup_mismatches) == []
    assert api.code(ERASE, {"u": bob_id}, world.super_token) == 404


def test_a_person_deletes_their_own_account_with_their_password(api: Api) -> None:
    world = make_world(api)
    session = create_session(api, world.event_admin_token, world.event_id, videoDuration=60)
    ann_id, ann = sign_up(api, "Ann")
    record(api, ann, session, "LIVE", (0, 45))
    assert api.code(DELETE_ME, {"p": "not-my-password"}, ann) == 401
    assert sessions_by_id(api, world.super_token, world.event_id)[session]["liveViews"] == 1
    assert api.data(DELETE_ME, {"p": PASSWORD}, ann) == {"deleteMyAccount": 1}
    got: dict[str, Any] = sessions_by_id(api, world.super_token, world.event_id)[session]
    assert got["liveViews"] == 0 and got["watchTime"] == {"live": 0, "recording": 0, "total": 0}
    assert rows_of(api, ann_id)["users"] == 0
    assert api.code(DELETE_ME, {"p": PASSWORD}) == 401

    async def erasures(pool: Pool) -> list[Any]:
        return [tuple(r) for r in await pool.fetch(
            "SELECT by_the_person, sessions_recounted FROM erasures")]  # fmt: skip

    assert api.run(erasures) == [(True, 1)]  # what is kept: no id, no name, no email
