"""The per-attendee export: one row per (session, person), with their numbers."""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from gql_server.analytics import rules
from gql_server.db import Pool
from gql_server.repo import exports as repo
from gql_server.services.analytics import viewer_numbers, viewer_timeline

# Same names as the API's fields (SessionViewer and its Attendee), for NDJSON;
# the CSV uses them as its header.
VIEWER_FIELDS = [
    "sessionId", "sessionTitle", "userId", "email", "name", "registered", "joined",
    "liveWatchedSeconds", "recordingWatchedSeconds", "liveView", "recordingView",
    "liveEngagement", "recordingEngagement", "firstWatchedAt", "lastWatchedAt",
    "firstActiveAt", "lastActiveAt", "livePlays", "recordingPlays", "plays", "rejoined",
    "liveIntervals",
]  # fmt: skip


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def viewer_rows(pool: Pool, *, event_id: int) -> AsyncIterator[list[list[Any]]]:
    """Chunks of rows, each a list of values in VIEWER_FIELDS' order (None: null)."""
    async for chunk in repo.viewer_rows(pool, event_id=event_id):
        rows = []
        for row in chunk:
            fmt, provider = row["format"], row["stream_provider"]
            numbers = viewer_numbers(
                row["live_seconds"],
                row["recording_seconds"],
                analytics=rules.analytics_available(fmt, provider),
                duration=row["video_duration"],
            )
            timeline = viewer_timeline(row)
            intervals = " ".join(f"{_time(a)}/{_time(b)}" for a, b in timeline.live_intervals)
            rows.append([
                str(row["session_id"]), row["title"], str(row["user_id"]), row["email"],
                row["name"], row["registered"], row["joined"], *numbers,
                _time(row["first_watched_at"]), _time(row["last_watched_at"]),
                _time(timeline.first_active_at), _time(timeline.last_active_at),
                timeline.live_plays, timeline.recording_plays, timeline.plays,
                timeline.rejoined, intervals,
            ])  # fmt: skip
        yield rows
