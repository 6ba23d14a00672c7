"""Property tests: the SQL that measures watched seconds agrees with the naive reference.

Random interval sets (overlapping, nested, adjacent, duplicated, past the end)
and durations (unknown, shorter and longer than the 30 s view threshold)
through the very expressions the write path uses: range_agg to merge, `+` to
union with what was stored, watched_seconds() to clip and measure.
"""

import asyncio
from collections.abc import Iterator
from fractions import Fraction

import asyncpg
import pytest
from conftest import TEMPLATE, with_database
from helpers import watched
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gql_server.analytics.rules import percent, view_threshold

intervals = st.lists(
    st.tuples(st.integers(0, 120), st.integers(1, 40)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=12,
)
durations = st.one_of(st.none(), st.integers(1, 100))

MEASURE = """
SELECT watched_seconds(
    coalesce((SELECT range_agg(int4range(a, b)) FROM unnest($1::int[], $2::int[]) AS t(a, b)),
             '{}'::int4multirange)
    + coalesce((SELECT range_agg(int4range(a, b)) FROM unnest($3::int[], $4::int[]) AS t(a, b)),
               '{}'::int4multirange),
    $5)
"""


class Measure:
    """One connection to the migrated template, used from sync test code."""

    def __init__(self, dsn: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(dsn))

    def __call__(self, stored: list[tuple[int, int]], batch: list[tuple[int, int]],
                 duration: int | None) -> int:  # fmt: skip
        seconds: int = self.loop.run_until_complete(
            self.conn.fetchval(
                MEASURE,
                [a for a, _ in stored], [b for _, b in stored],
                [a for a, _ in batch], [b for _, b in batch],
                duration,
            )
        )  # fmt: skip
        return seconds

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


@pytest.fixture(scope="module")
def measure(server_dsn: str) -> Iterator[Measure]:
    measure = Measure(with_database(server_dsn, TEMPLATE))
    yield measure
    measure.close()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stored=intervals, batch=intervals, duration=durations)
def test_watched_seconds_match_the_reference(
    measure: Measure,
    stored: list[tuple[int, int]],
    batch: list[tuple[int, int]],
    duration: int | None,
) -> None:
    assert measure(stored, batch, duration) == watched(stored + batch, duration)


@given(duration=durations, seconds=st.integers(0, 200))
def test_a_view_is_min_30_d_distinct_seconds(duration: int | None, seconds: int) -> None:
    if duration is not None:
        seconds = min(seconds, duration)  # clipped: nobody watches more than D
    threshold = view_threshold(duration)
    if duration is None or duration >= 30:
        assert (seconds >= threshold) == (seconds >= 30)
    else:
        assert (seconds >= threshold) == (seconds == duration)  # every second of it


@given(
    st.integers(min_value=0, max_value=2**62),
    st.integers(min_value=1, max_value=2**62),
)
def test_percent_is_the_double_nearest_the_exact_ratio(part: int, whole: int) -> None:
    assert percent(part, whole) == float(Fraction(100 * part, whole))


def test_percent_rounds_once_where_float_division_would_round_twice() -> None:
    # Neither number has a double: float(100 * part) / float(whole) rounds
    # three times and misses; int / int rounds once, to the nearest.
    part, whole = 33043158787907849, 322455659951755601
    assert float(100 * part) / float(whole) != float(Fraction(100 * part, whole))
    assert percent(part, whole) == float(Fraction(100 * part, whole))
    assert percent(0, 0) == 0.0
