"""Session and its analytics, and the sessions connection."""

from datetime import datetime

import asyncpg
import strawberry

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

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Session":
        sid = strawberry.ID(str(row["id"]))
        provider = row["stream_provider"]
        return cls(
            id=sid,
            session_id=sid,
            title=row["title"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            format=SessionFormat(row["format"]),
            stream_provider=StreamProvider(provider) if provider else None,
            event_id=row["event_id"],
            video_duration=row["video_duration"],
        )

    @property
    def _format(self) -> str:
        return self.format.value

    @property
    def _provider(self) -> str | None:
        return self.stream_provider.value if self.stream_provider else None

    async def _stats(self, info: Info) -> asyncpg.Record:
        row = await info.context.loaders.session_stats_by_session.load(
            (self.event_id, int(self.session_id))
        )
        assert row is not None, "every session has a session_stats row"
        return row

    async def _available_stats(self, info: Info) -> asyncpg.Record | None:
        if not rules.analytics_available(self._format, self._provider):
            return None
        return await self._stats(info)

    @strawberry.field(description="Users who registered or bookmarked (distinct).")
    async def registered_user_count(self, info: Info) -> int:
        count: int = (await self._stats(info))["registered_count"]
        return count

    @strawberry.field(description="Users who joined (distinct).")
    async def attendee_count(self, info: Info) -> int:
        count: int = (await self._stats(info))["attendee_count"]
        return count

    @strawberry.field(description="False: the watch metrics below are null.")
    def analytics_available(self) -> bool:
        return rules.analytics_available(self._format, self._provider)

    @strawberry.field(description="Video seconds; null without video or while unknown.")
    def duration(self) -> int | None:
        if not rules.has_video(self._format, self._provider):
            return None
        return self.video_duration

    @strawberry.field(description="Null when analytics are unavailable.")
    async def watch_time(self, info: Info) -> WatchTime | None:
        stats = await self._available_stats(info)
        if stats is None:
            return None
        live, recording = stats["live_seconds"], stats["recording_seconds"]
        return WatchTime(live=live, recording=recording, total=live + recording)

    @strawberry.field(
        description="Mean live seconds over viewers who watched live; 0 when none did."
    )
    async def avg_attended_duration(self, info: Info) -> float | None:
        stats = await self._available_stats(info)
        if stats is None:
            return None
        return rules.average_attended(stats["live_seconds"], stats["live_viewers"])

    @strawberry.field(description="Viewers with at least min(30, duration) recorded seconds.")
    async def recording_views(self, info: Info) -> int | None:
        stats = await self._available_stats(info)
        return None if stats is None else int(stats["recording_views"])

    @strawberry.field(description="Viewers with at least min(30, duration) live seconds.")
    async def live_views(self, info: Info) -> int | None:
        stats = await self._available_stats(info)
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
