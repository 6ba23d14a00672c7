"""Which sessions have analytics, and the view threshold. Pure functions."""

NETWORKING_FORMATS = frozenset({"WORKSHOP", "MEET_UP"})
PROVIDERS_WITH_ANALYTICS = frozenset({"YOUTUBE", "VIMEO", "VOXEET", "TOKBOX", "DIRECT_UPLOAD"})
VIEW_SECONDS = 30


def has_video(format: str, stream_provider: str | None) -> bool:
    return format not in NETWORKING_FORMATS and stream_provider is not None


def analytics_available(format: str, stream_provider: str | None) -> bool:
    return has_video(format, stream_provider) and stream_provider in PROVIDERS_WITH_ANALYTICS


def view_threshold(duration: int | None) -> int:
    """Distinct seconds a viewer must watch to count as one view: min(30, D)."""
    return VIEW_SECONDS if duration is None else min(VIEW_SECONDS, duration)


def average_attended(live_seconds: int, live_viewers: int) -> float:
    """Mean live seconds over viewers who watched any live second; 0 when none did."""
    return live_seconds / live_viewers if live_viewers else 0.0
