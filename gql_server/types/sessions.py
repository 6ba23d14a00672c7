"""Session and its analytics, and the sessions connection."""

from datetime import datetime
from typing import Any

import asyncpg
import strawberry
from strawberry.types.nodes import SelectedField

from gql_server.analytics import rules
from gql_server.context import Context
from gql_server.services import sessions as service
from gql_server.types.enums import SessionFormat, StreamProvider

Info = strawberry.Info[Context, None]


@strawberry.type(description="Seconds watched, summed over viewers (each second once per viewer).")
class WatchTime:
    live: int
    recording: int
    total: int


# Fields whose values come from the session's counters (session_stats).
STATS_FIELDS = frozenset(
    {
        "registeredUserCount",
        "attendeeCount",
        "watchTime",
        "avgAttendedDuration",
        "recordingViews",
        "liveViews",
    }
)


def selects_any(info: Info, names: frozenset[str]) -> bool:
    """Whether the selection below this field names any of `names` (fragments included).

    @skip/@include are not evaluated: a conditionally selected field counts as
    selected, which costs at most one query too many.
    """
    pending: list[Any] = list(info.selected_fields)
    while pending:
        selection = pending.pop()
        if isinstance(selection, SelectedField) and selection.name in names:
            return True
        pending.extend(selection.selections)
    return False


async def load_stats(info: Info, sessions: "list[Session]") -> None:
    """Attach the counters of all `sessions` (one batched DataLoader call), if selected.

    The analytics fields are then plain attributes: one await per page instead
    of one per field per session, and execution.FastListExecutor can complete
    the page in its tight loop.
    """
    if not sessions or not selects_any(info, STATS_FIELDS):
        return
    loader = info.context.loaders.session_stats_by_page
    rows = await loader.load(tuple((s.event_id, int(s.session_id)) for s in sessions))
    for session, row in zip(sessions, rows, strict=True):
        assert row is not None, "every session has a session_stats row"
        session.apply_stats(row)


@strawberry.type
class Session:
    id: strawberry.ID = strawberry.field(description="The same value as sessionId.")
    session_id: strawberry.ID
    title: str
    start_time: datetime
    end_time: datetime
    format: SessionFormat
    stream_provider: StreamProvider | None = strawberry.field(
        description="Null: the session has no video."
    )
    event_id: strawberry.Private[int]
    video_duration: strawberry.Private[int | None]
    # These and the analytics below are filled by load_stats(), when selected.
    registered_user_count: int = strawberry.field(
        default=None, description="Users who registered or bookmarked (distinct)."
    )
    attendee_count: int = strawberry.field(
        default=None, description="Users who joined (distinct)."
    )
    analytics_available: bool = strawberry.field(
        description="False: the watch metrics below are null."
    )
    duration: int | None = strawberry.field(
        description="Video seconds; null without video or while unknown."
    )
    # Filled from the session's counters by load_stats(), when selected.
    watch_time: WatchTime | None = strawberry.field(
        default=None, description="Null when analytics are unavailable."
    )
    avg_attended_duration: float | None = strawberry.field(
        default=None,
        description="Mean live seconds over viewers who watched live; 0 when none did.",
    )
    recording_views: int | None = strawberry.field(
        default=None, description="Viewers with at least min(30, duration) recorded seconds."
    )
    live_views: int | None = strawberry.field(
        default=None, description="Viewers with at least min(30, duration) live seconds."
    )

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Session":
        sid = strawberry.ID(str(row["id"]))
        fmt, provider = row["format"], row["stream_provider"]
        return cls(
            id=sid,
            session_id=sid,
            title=row["title"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            format=SessionFormat(fmt),
            stream_provider=StreamProvider(provider) if provider else None,
            event_id=row["event_id"],
            video_duration=row["video_duration"],
            analytics_available=rules.analytics_available(fmt, provider),
            duration=row["video_duration"] if rules.has_video(fmt, provider) else None,
        )

    def apply_stats(self, stats: asyncpg.Record) -> None:
        """Set the counter-backed fields from the session's session_stats row."""
        self.registered_user_count = stats["registered_count"]
        self.attendee_count = stats["attendee_count"]
        if not self.analytics_available:
            return  # the watch metrics stay null, not zero
        live, recording = stats["live_seconds"], stats["recording_seconds"]
        self.watch_time = WatchTime(live=live, recording=recording, total=live + recording)
        self.avg_attended_duration = rules.average_attended(live, stats["live_viewers"])
        self.recording_views = stats["recording_views"]
        self.live_views = stats["live_views"]


@strawberry.type
class SessionEdge:
    cursor: str
    node: Session


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class SessionConnection:
    page_info: PageInfo
    nodes: list[Session]
    edges: list[SessionEdge]
    event_id: strawberry.Private[int]
    search: strawberry.Private[str | None]

    @strawberry.field(description="Sessions matching the search, over all pages.")
    async def total_count(self, info: Info) -> int:
        return await service.count_sessions(
            info.context.pool, event_id=self.event_id, search=self.search
        )
