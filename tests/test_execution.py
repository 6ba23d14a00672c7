"""The fast list executor returns exactly what graphql-core's general path returns.

Random queries over the sessions connection (aliases, named and inline
fragments, @include/@skip, __typename, repeated fields, nested objects) are
executed with both schemas and their JSON compared; so are lists the fast
loop must hand back (a null in a non-null field, a value that fails to
serialize), with their errors and paths.
"""

import random
from enum import Enum
from typing import Any

import orjson
import strawberry
from conftest import Api
from helpers import create_session, make_world, record, sign_up

from gql_server.auth import Actor
from gql_server.context import Context, Loaders
from gql_server.db import Pool
from gql_server.execution import FastListExecutor
from gql_server.schema import create_schema, format_error
from gql_server.settings import Settings

LEAVES = ["id", "sessionId", "title", "startTime", "endTime", "format", "streamProvider",
          "duration", "registeredUserCount", "attendeeCount", "analyticsAvailable",
          "liveViews", "recordingViews", "avgAttendedDuration", "__typename"]  # fmt: skip
WATCH = ["live", "recording", "total", "__typename"]


def random_selection(rng: random.Random, fragments: list[str]) -> str:
    parts = []
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        if choice < 0.6:
            field = rng.choice(LEAVES)
            alias = f"a{rng.randint(0, 3)}_{field.strip('_')}: " if rng.random() < 0.3 else ""
            if alias and rng.random() < 0.5:
                alias = ""  # same field twice without alias: merged
            directive = ""
            if rng.random() < 0.2:
                directive = rng.choice([" @include(if: $yes)", " @skip(if: $yes)",
                                        " @include(if: $no)", " @skip(if: $no)"])  # fmt: skip
            parts.append(f"{alias}{field}{directive}")
        elif choice < 0.75:
            inner = " ".join(rng.sample(WATCH, k=rng.randint(1, 3)))
            parts.append(f"watchTime {{ {inner} }}")
        elif choice < 0.85:
            parts.append(f"... on Session {{ {rng.choice(LEAVES)} }}")
        else:
            name = f"F{len(fragments)}"
            fragments.append(
                f"fragment {name} on Session {{ {' '.join(rng.sample(LEAVES, k=3))} }}"
            )
            parts.append(f"...{name}")
    return " ".join(parts)


def random_query(rng: random.Random) -> str:
    fragments: list[str] = []
    nodes = random_selection(rng, fragments)
    edges = random_selection(rng, fragments) if rng.random() < 0.5 else ""
    order = rng.choice(["START_TIME_ASC", "TITLE_ASC", "LIVE_VIEWS_DESC"])
    body = f"""
    query Q($e: ID!, $yes: Boolean = true, $no: Boolean = false) {{
      event(id: $e) {{ sessions(first: {rng.randint(1, 20)}, orderBy: {order}) {{
        totalCount @include(if: $yes) pageInfo {{ hasNextPage @skip(if: $no) }}
        nodes {{ {nodes} }}
        {"edges { cursor node { " + edges + " } }" if edges else ""}
      }} }}
    }}
    """
    return body + "\n".join(fragments)


def as_json(result: Any) -> bytes:
    errors = [format_error(e) for e in result.errors or []]
    return orjson.dumps({"data": result.data, "errors": errors}, option=orjson.OPT_SORT_KEYS)


def test_random_queries_give_identical_json_both_ways(api: Api) -> None:
    world = make_world(api)
    rng = random.Random(99)
    providers = [("MAIN_STAGE", "YOUTUBE"), ("EXPO", "ZOOM"), ("WORKSHOP", None),
                 ("BREAK", "VIMEO"), ("OTHER", "DIRECT_UPLOAD")]  # fmt: skip
    for i in range(12):
        fmt, provider = providers[i % len(providers)]
        session = create_session(
            api, world.super_token, world.event_id, title=f"S{i % 5}", format=fmt,
            streamProvider=provider, videoDuration=rng.choice([None, 20, 600]),
        )  # fmt: skip
        if provider in ("YOUTUBE", "VIMEO", "DIRECT_UPLOAD"):
            record(api, sign_up(api)[1], session, "LIVE", (0, rng.randint(1, 90)))
    fast, general = create_schema(), create_schema(Settings(fast_paths=False))
    assert fast.execution_context_class is FastListExecutor
    queries = [random_query(rng) for _ in range(150)]

    async def compare(pool: Pool) -> int:
        actor = Actor(1, "root@example.com", "Root", True, b"")
        state = api.client.app.state  # type: ignore[attr-defined]

        def context() -> Context:
            return Context(pool=pool, settings=state.settings, passwords=state.passwords,
                           actor=actor, loaders=Loaders(pool))  # fmt: skip

        compared = 0
        # The same documents again with @include/@skip flipped: list plans are
        # cached per document and must follow the fields each request selects.
        flipped = {"e": world.event_id, "yes": False, "no": True}
        for variables in ({"e": world.event_id}, flipped, {"e": world.event_id}):
            for query in queries:
                one = await fast.execute(query, variables, context_value=context())
                two = await general.execute(query, variables, context_value=context())
                assert as_json(one) == as_json(two), (query, variables)
                assert one.data is not None, (query, one.errors)
                compared += 1
        return compared

    assert api.run(compare) == 3 * len(queries)


@strawberry.enum
class Color(Enum):
    RED = "RED"


@strawberry.type
class Thing:
    name: str
    color: Color
    size: int | None
    ratio: float | None = 0.5


@strawberry.type
class Query:
    @strawberry.field
    def things(self, which: str) -> list[Thing]:
        good = [Thing(name="a", color=Color.RED, size=1), Thing(name="b", color=Color.RED, size=2)]
        if which == "null-in-non-null":
            return [*good, Thing(name=None, color=Color.RED, size=3)]  # type: ignore[arg-type]
        if which == "bad-int":
            return [*good, Thing(name="c", color=Color.RED, size=2**40)]
        if which == "nan":
            return [*good, Thing(name="e", color=Color.RED, size=1, ratio=float("nan"))]
        if which == "infinity":
            return [*good, Thing(name="f", color=Color.RED, size=1, ratio=float("-inf"))]
        if which == "int-ratio":  # serialized as 2.0 both ways, no error
            return [*good, Thing(name="g", color=Color.RED, size=1, ratio=2)]
        if which == "null-item":  # a null in a list of non-null items
            return [*good, None]  # type: ignore[list-item]
        if which == "bad-enum":
            return [*good, Thing(name="d", color="PURPLE", size=1)]  # type: ignore[arg-type]
        return good

    @strawberry.field
    def maybe_things(self) -> list[Thing | None]:
        return [Thing(name="a", color=Color.RED, size=None), None]


def test_lists_the_fast_loop_hands_back_report_the_same_errors() -> None:
    fast = strawberry.Schema(query=Query, execution_context_class=FastListExecutor)
    general = strawberry.Schema(query=Query)
    cases = (
        "ok",
        "null-in-non-null",
        "bad-int",
        "bad-enum",
        "nan",
        "infinity",
        "int-ratio",
        "null-item",
    )
    for which in cases:
        things = f'things(which: "{which}") {{ name color size ratio }}'
        query = f"{{ {things} maybeThings {{ size }} }}"
        one, two = fast.execute_sync(query), general.execute_sync(query)
        assert as_json(one) == as_json(two), which
        assert bool(one.errors) == (which not in ("ok", "int-ratio"))


def test_the_same_selection_in_lists_of_nullable_and_non_null_items_is_told_apart() -> None:
    # maybeThings ([Thing]) and things ([Thing!]!) select the same fields of
    # the same type: a plan made for one must not complete the other.
    fast = strawberry.Schema(query=Query, execution_context_class=FastListExecutor)
    general = strawberry.Schema(query=Query)
    query = '{ maybeThings { size } things(which: "null-item") { size } }'
    for _ in range(2):  # the second time from the cache
        one, two = fast.execute_sync(query), general.execute_sync(query)
        assert as_json(one) == as_json(two)
        assert one.errors
