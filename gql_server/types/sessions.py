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

    Resolving the analytics fields from attached rows keeps them synchronous:
    one await per page instead of one per field per session.
    """
    if not sessions or not selects_any(info, STATS_FIELDS):
        return
    loader = info.context.loaders.session_stats_by_session
    rows = await loader.load_many([(s.event_id, int(s.session_id)) for s in sessions])
    for session, row in zip(sessions, rows, strict=True):
        session.stats = row


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
    analytics_available: bool = strawberry.field(
        description="False: the watch metrics below are null."
    )
    duration: int | None = strawberry.field(
        description="Video seconds; null without video or while unknown."
    )
    stats: strawberry.Private[asyncpg.Record | None] = None

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

    def _counters(self) -> asyncpg.Record:
        assert self.stats is not None, "load_stats() runs before stats fields resolve"
        return self.stats

    def _watch_counters(self) -> asyncpg.Record | None:
        return self._counters() if self.analytics_available else None

    @strawberry.field(description="Users who registered or bookmarked (distinct).")
    def registered_user_count(self) -> int:
        count: int = self._counters()["registered_count"]
        return count

    @strawberry.field(description="Users who joined (distinct).")
    def attendee_count(self) -> int:
        count: int = self._counters()["attendee_count"]
        return count

    @strawberry.field(description="Null when analytics are unavailable.")
    def watch_time(self) -> WatchTime | None:
        stats = self._watch_counters()
        if stats is None:
            return None
        live, recording = stats["live_seconds"], stats["recording_seconds"]
        return WatchTime(live=live, recording=recording, total=live + recording)

    @strawberry.field(
        description="Mean live seconds over viewers who watched live; 0 when none did."
    )
    def avg_attended_duration(self) -> float | None:
        stats = self._watch_counters()
        if stats is None:
            return None
        return rules.average_attended(stats["live_seconds"], stats["live_viewers"])

    @strawberry.field(description="Viewers with at least min(30, duration) recorded seconds.")
    def recording_views(self) -> int | None:
        stats = self._watch_counters()
        return None if stats is None else int(stats["recording_views"])

    @strawberry.field(description="Viewers with at least min(30, duration) live seconds.")
    def live_views(self) -> int | None:
        stats = self._watch_counters()
        return None if stats is None else int(stats["live_views"])


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
