"""Which sessions have analytics, view thresholds, engagement, slices. Pure functions.

Their SQL forms (is_viewer, is_view, clipped, watched_seconds) are functions
created by migrations/0003_metric_rules.sql.
"""

NETWORKING_FORMATS = frozenset({"WORKSHOP", "MEET_UP"})
PROVIDERS_WITH_ANALYTICS = frozenset({"YOUTUBE", "VIMEO", "VOXEET", "TOKBOX", "DIRECT_UPLOAD"})
VIEW_SECONDS = 30
# A report more than this long after a viewer's previous one (same session and
# mode) starts a new play (docs/metrics.md).
PLAY_GAP_SECONDS = 300


def has_video(format: str, stream_provider: str | None) -> bool:
    return format not in NETWORKING_FORMATS and stream_provider is not None


def analytics_available(format: str, stream_provider: str | None) -> bool:
    return has_video(format, stream_provider) and stream_provider in PROVIDERS_WITH_ANALYTICS


def view_threshold(duration: int | None) -> int:
    """Distinct seconds a viewer must watch to count as one view: min(30, D)."""
    return VIEW_SECONDS if duration is None else min(VIEW_SECONDS, duration)


def chosen_threshold(min_seconds: int, duration: int | None) -> int:
    """liveViews(minSeconds): min(minSeconds, D), as the contract's rule caps 30 at D."""
    return min_seconds if duration is None else min(min_seconds, duration)


def is_view(watched_seconds: int, duration: int | None) -> bool:
    """One view: at least min(30, D) distinct seconds (SQL: is_view with the threshold)."""
    return watched_seconds >= view_threshold(duration)


def average_attended(live_seconds: int, live_viewers: int) -> float:
    """Mean live seconds over viewers who watched any live second; 0 when none did."""
    return live_seconds / live_viewers if live_viewers else 0.0


def percent(part: int, whole: int) -> float:
    """100 x part / whole as the double nearest the exact value; 0 when whole is 0.

    Python's true division of two ints is correctly rounded (unlike dividing
    floats, which rounds twice), so no Fraction is needed: 40x cheaper, and
    tests/test_metric_engine.py checks it against Fraction.
    """
    return 100 * part / whole if whole else 0.0


def engagement(watched_seconds: int, viewers: int, duration: int | None) -> float | None:
    """Mean over viewers of min(100, 100 x W / D), as the double nearest the exact value.

    W is clipped to D, so min(100, ...) never bites and the mean is
    100 x (sum of W) / (D x viewers): exact from the session's counters.
    Null without a known duration; 0 when nobody watched in that mode.
    """
    if duration is None:
        return None
    return percent(watched_seconds, duration * viewers)


def viewer_engagement(watched_seconds: int, duration: int | None) -> float | None:
    """One viewer's min(100, 100 x W / D); null without a known duration."""
    return None if duration is None else min(100.0, percent(watched_seconds, duration))


def retention_slice(index: int, buckets: int, duration: int) -> tuple[int, int]:
    """Seconds [start, end) of slice `index` of `buckets` equal slices of a video.

    Second s falls in slice floor(s x buckets / D), so slice i is
    [ceil(i x D / buckets), ceil((i + 1) x D / buckets)); with buckets <= D
    no slice is empty.
    """
    return -(-index * duration // buckets), -(-(index + 1) * duration // buckets)
