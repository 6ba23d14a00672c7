"""DateTime serializes exactly as datetime.isoformat(), cached or not."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from gql_server.types.scalars import serialize_datetime

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))]
)


@given(st.datetimes(timezones=ZONES, allow_imaginary=False), st.booleans())
def test_serialized_text_is_isoformat(value: datetime, fold: bool) -> None:
    value = value.replace(fold=int(fold))
    assert serialize_datetime(value) == value.isoformat()
    again = value.replace()  # another object, the same fields: served from the cache
    assert serialize_datetime(again) == value.isoformat()


def test_the_same_instant_in_another_zone_keeps_its_offset() -> None:
    utc = datetime(2026, 11, 27, 10, 0, 0, 5, tzinfo=UTC)
    assert serialize_datetime(utc) == "2026-11-27T10:00:00.000005+00:00"
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert paris == utc
    assert serialize_datetime(paris) == "2026-11-27T11:00:00.000005+01:00"
    assert (
        serialize_datetime(utc + timedelta(microseconds=1)) == "2026-11-27T10:00:00.000006+00:00"
    )
