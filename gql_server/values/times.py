"""The instants the API accepts, in DateTime inputs and in cursors."""

from datetime import UTC, datetime

# A time outside this range (in UTC) is refused: year 1 with a positive
# offset, or 9999-12-31 with a negative one, falls off the calendar in UTC
# (an OverflowError, a 500, before this bound); nothing of an event happens
# before the Unix epoch.
MIN_YEAR = 1970
MAX_YEAR = 9999


def within_range(value: datetime) -> bool:
    """Whether an aware datetime falls within MIN_YEAR .. MAX_YEAR in UTC."""
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        return False
    return MIN_YEAR <= year <= MAX_YEAR
