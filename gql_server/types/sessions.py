"""Session and its analytics, and the sessions connection."""

from datetime import datetime, timedelta
from typing import Annotated, Any

import asyncpg
import strawberry
from graphql import FieldNode, FragmentSpreadNode

from gql_server.analytics import rules
from gql_server.context import Info, TimelineArgs, TimelineKey
from gql_server.engine.execution import STORED_ATTRIBUTE
from gql_server.errors import bad_input
from gql_server.services import analytics as analytics_service
from gql_server.services import sessions as service
from gql_server.services.analytics import ConcurrencyKey, RetentionKey, ViewsKey
from gql_server.types.analytics import (
    TIMELINE_ARGUMENTS,
    ConcurrencyPoint,
    LiveConcurrency,
    PageInfo,
    Retention,
    RetentionPoint,
    SessionViewerConnection,
    Timeline,
)
from gql_server.types.enums import (
    SessionFormat,
    StreamProvider,
    TimelineBucket,
    ViewerOrder,
    WatchMode,
)
from gql_server.types.scalars import Long


@strawberry.type(
    description=(
        "Seconds watched, summed over viewers (each second once per viewer). live,"
        " recording and total are GraphQL Ints: a sum over 2^31 - 1 is an error (code"
        " 4220100) there, and the *Seconds twins give it as a Long."
    )
)
class WatchTime:
    live: int
    recording: int
    total: int

    @strawberry.field(description="live, as a 64-bit Long.")
    def live_seconds(self) -> Long:
        return Long(self.live)

    @strawberry.field(description="recording, as a 64-bit Long.")
    def recording_seconds(self) -> Long:
        return Long(self.recording)

    @strawberry.field(description="total, as a 64-bit Long.")
    def total_seconds(self) -> Long:
        return Long(self.total)


# Fields whose values come from the session's counters (session_stats).
STATS_FIELDS = frozenset(
    {
        "registeredUserCount",
        "attendeeCount",
        "watchTime",
        "avgAttendedDuration",
        "recordingViews",
        "liveViews",
        "liveEngagement",
        "recordingEngagement",
        "avgRecordingDuration",
        "asOf",
    }
)
# Fields computed for a page in one more statement (repo.analytics.SESSION_EXTRAS).
EXTRA_FIELDS = frozenset({"noShowCount", "plays"})


def selects_any(info: Info, names: frozenset[str]) -> bool:
    """Whether the selection below this field names any of `names` (fragments included).

    @skip/@include are not evaluated: a conditionally selected field counts as
    selected, which costs at most one query too many. Walks graphql-core's
    syntax tree: Strawberry's info.selected_fields would first build a
    SelectedField (arguments converted) for every node below (docs/performance.md).
    """
    raw = info._raw_info
    pending: list[Any] = list(raw.field_nodes)
    spread: set[str] = set()  # each fragment is looked into once, however often spread
    while pending:
        node = pending.pop()
        if isinstance(node, FragmentSpreadNode):
            fragment = raw.fragments.get(node.name.value)
            if fragment is not None and node.name.value not in spread:
                spread.add(node.name.value)
                pending.extend(fragment.selection_set.selections)
            continue
        if isinstance(node, FieldNode) and node.name.value in names:
            return True
        if node.selection_set is not None:
            pending.extend(node.selection_set.selections)
    return False


async def load_stats(info: Info, sessions: "list[Session]") -> None:
    """Attach the counters of all `sessions` (one batched DataLoader call), if selected.

    The analytics fields are then plain attributes: one await per page instead
    of one per field per session, and execution.FastListExecutor can complete
    the page in its tight loop.
    """
    await load_extras(info, sessions)
    if not sessions or not selects_any(info, STATS_FIELDS):
        return
    loader = info.context.loaders.session_stats_by_page
    rows = await loader.load(tuple((s.event_id, int(s.session_id)) for s in sessions))
    for session, row in zip(sessions, rows, strict=True):
        assert row is not None, "every session has a session_stats row"
        session.apply_stats_row(row)


def timeline_args(
    time_zone: str,
    bucket: TimelineBucket,
    start: datetime | None,
    end: datetime | None,
    mode: WatchMode | None,
) -> TimelineArgs:
    """The arguments of a timeline, checked before anything is read (400s)."""
    analytics_service.time_zone(time_zone)
    if start is not None and end is not None and end <= start:
        raise bad_input("to must be after from")
    return TimelineArgs(bucket.value, time_zone, start, end, mode.value if mode else None)


async def load_extras(info: Info, sessions: "list[Session]") -> None:
    """noShowCount and plays of all `sessions` (one statement), if selected."""
    if not sessions or not selects_any(info, EXTRA_FIELDS):
        return
    keys = [(s.event_id, int(s.session_id)) for s in sessions]
    rows = await info.context.loaders.session_extras.load_many(keys)
    for session, row in zip(sessions, rows, strict=True):
        assert row is not None
        session.no_show_count = row["no_shows"]
        if session.analytics_available:
            live, recording = row["live_plays"], row["recording_plays"]
            session.plays = Plays(live=live, recording=recording, total=live + recording)


def _views_at(mode: WatchMode) -> Any:
    """liveViews / recordingViews: the contract's rule, or a threshold chosen at query time."""
    stored = "stored_live_views" if mode is WatchMode.LIVE else "stored_recording_views"
    name = "live" if mode is WatchMode.LIVE else "recorded"

    async def resolve(
        self: "Session",
        info: Info,
        min_seconds: Annotated[
            int | None,
            strawberry.argument(
                description=(
                    f"Count viewers with at least min(minSeconds, duration) {name} seconds"
                    " instead (1..2147483647), to compare with platforms that count at 10 s or"
                    " 60 s. Left out: min(30, duration)."
                )
            ),
        ] = None,
    ) -> int | None:
        if min_seconds is None:
            value: int | None = getattr(self, stored)
            return value
        analytics_service.check_min_seconds(min_seconds)
        if not self.analytics_available:
            return None
        key = ViewsKey(
            self.event_id,
            int(self.session_id),
            mode.value,
            rules.chosen_threshold(min_seconds, self.video_duration),
        )
        views: int = await info.context.loaders.views_at.load(key)
        return views

    return resolve


@strawberry.type(description="Separate plays by viewers of the mode (docs/metrics.md).")
class Plays:
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
    # These and the analytics below come from service.session_numbers (via
    # apply_stats_row: load_stats() or the page's own statement) whenever the
    # selection asks for any of them. Until then the non-null ones are None on
    # purpose: were a selection ever missed, graphql-core would report a null
    # in a non-null field instead of serving a silent 0.
    registered_user_count: int = strawberry.field(
        default=None, description="Users who registered or bookmarked (distinct)."
    )
    attendee_count: int = strawberry.field(
        default=None,
        description=(
            "Users who attended (distinct): joined, or watched any live second. Live"
            " viewers and live views never exceed it."
        ),
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
    stored_recording_views: strawberry.Private[int | None] = None
    stored_live_views: strawberry.Private[int | None] = None
    recording_views: int | None = strawberry.field(
        resolver=_views_at(WatchMode.RECORDING),
        description="Viewers with at least min(30, duration) recorded seconds.",
        metadata={STORED_ATTRIBUTE: "stored_recording_views"},
    )
    live_views: int | None = strawberry.field(
        resolver=_views_at(WatchMode.LIVE),
        description="Viewers with at least min(30, duration) live seconds.",
        metadata={STORED_ATTRIBUTE: "stored_live_views"},
    )
    avg_recording_duration: float | None = strawberry.field(
        default=None,
        description=(
            "Mean recorded seconds over viewers who watched the recording; 0 when none did."
        ),
    )
    no_show_count: int = strawberry.field(
        default=None,
        description="Registered people who neither joined nor watched a second.",
    )
    plays: Plays | None = strawberry.field(
        default=None, description="Separate plays per mode; null without analytics."
    )
    live_engagement: float | None = strawberry.field(
        default=None,
        description=(
            "Mean over live viewers of min(100, 100 x their live seconds / duration), in %;"
            " 0 when none; null without analytics or a known duration."
        ),
    )
    recording_engagement: float | None = strawberry.field(
        default=None, description="As liveEngagement, for recording viewers."
    )
    as_of: datetime = strawberry.field(
        default=None,
        description="When the numbers above last changed (the session's creation if never).",
    )

    @strawberry.field(
        description=(
            "Everyone who registered, joined or watched, with their own numbers. first:"
            " 1..1000; search: part of the name or email. Same access as event."
        )
    )
    async def viewers(
        self,
        info: Info,
        first: int = 100,
        after: str | None = None,
        order_by: ViewerOrder = ViewerOrder.NAME_ASC,
        search: str | None = None,
    ) -> SessionViewerConnection:
        args = analytics_service.viewer_page_args(first, after, order_by.value, search)
        key = (self.event_id, int(self.session_id), args)
        rows = await info.context.loaders.viewer_page.load(key)
        return SessionViewerConnection.from_rows(
            rows,
            args,
            event_id=self.event_id,
            session_id=int(self.session_id),
            analytics=self.analytics_available,
            duration=self.duration,
        )

    @strawberry.field(
        description=(
            "Null without analytics or a known duration. buckets: 1..1000, fewer when the"
            " video is shorter than that many seconds."
        )
    )
    async def retention(self, info: Info, mode: WatchMode, buckets: int = 100) -> Retention | None:
        analytics_service.check_buckets(buckets)
        if not self.analytics_available or self.duration is None:
            return None
        slices = min(buckets, self.duration)
        key = RetentionKey(self.event_id, int(self.session_id), mode.value, self.duration, slices)
        row = await info.context.loaders.retention.load(key)
        points = analytics_service.retention_slices(row, self.duration)
        return Retention(
            mode=mode,
            viewers=row["viewers"],
            points=[RetentionPoint(start_second=p.start_second, end_second=p.end_second,
                                   viewers=p.viewers, percent=p.percent) for p in points],
            as_of=row["as_of"],
        )  # fmt: skip

    @strawberry.field(
        description="Null without analytics. When this session was watched: " + TIMELINE_ARGUMENTS
    )
    async def timeline(
        self,
        info: Info,
        time_zone: str,
        bucket: TimelineBucket = TimelineBucket.DAY,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        mode: WatchMode | None = None,
    ) -> Timeline | None:
        args = timeline_args(time_zone, bucket, from_, to, mode)
        if not self.analytics_available:
            return None
        key = TimelineKey(self.event_id, int(self.session_id), args)
        points = await info.context.loaders.timeline.load(key)
        return Timeline.of(points, bucket=bucket, time_zone=time_zone, mode=mode)

    @strawberry.field(description="Null without analytics. bucketSeconds: 1..86400.")
    async def concurrency(self, info: Info, bucket_seconds: int = 60) -> LiveConcurrency | None:
        analytics_service.check_bucket_seconds(bucket_seconds)
        if not self.analytics_available:
            return None
        key = ConcurrencyKey(self.event_id, int(self.session_id), self.duration, bucket_seconds)
        row = await info.context.loaders.concurrency.load(key)
        shape = analytics_service.concurrency(
            row, start_time=self.start_time, end_time=self.end_time, bucket_seconds=bucket_seconds
        )
        step = timedelta(seconds=bucket_seconds)
        return LiveConcurrency(
            bucket_seconds=bucket_seconds,
            points=[
                ConcurrencyPoint(
                    start=self.start_time + timedelta(seconds=second),
                    end=self.start_time + timedelta(seconds=second) + step,
                    start_second=second,
                    viewers=viewers,
                )
                for second, viewers in shape.points
            ],
            peak_concurrent_viewers=shape.peak,
            peak_at=shape.peak_at,
            as_of=row["as_of"],
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
            format=_FORMATS[fmt],
            stream_provider=_PROVIDERS[provider] if provider else None,
            event_id=row["event_id"],
            video_duration=row["video_duration"],
            analytics_available=rules.analytics_available(fmt, provider),
            duration=row["video_duration"] if rules.has_video(fmt, provider) else None,
        )

    def apply_stats_row(self, stats: asyncpg.Record) -> None:
        """Set the counter-backed fields from the session's session_stats row."""
        numbers = service.session_numbers(
            stats, analytics=self.analytics_available, duration=self.duration
        )
        self.registered_user_count = numbers.registered_user_count
        self.attendee_count = numbers.attendee_count
        self.as_of = numbers.as_of
        live, recording = numbers.live_seconds, numbers.recording_seconds
        if live is not None and recording is not None:
            self.watch_time = WatchTime(live=live, recording=recording, total=live + recording)
        self.avg_attended_duration = numbers.avg_attended_duration
        self.avg_recording_duration = numbers.avg_recording_duration
        self.stored_recording_views = numbers.recording_views
        self.stored_live_views = numbers.live_views
        self.live_engagement = numbers.live_engagement
        self.recording_engagement = numbers.recording_engagement


# Enum members by value: a dict lookup, not Enum.__call__ (twice a row).
_FORMATS = {member.value: member for member in SessionFormat}
_PROVIDERS = {member.value: member for member in StreamProvider}


@strawberry.type
class SessionEdge:
    cursor: str
    node: Session


@strawberry.type
class SessionConnection:
    page_info: PageInfo
    nodes: list[Session]
    edges: list[SessionEdge]
    event_id: strawberry.Private[int]
    search: strawberry.Private[str | None]
    window: strawberry.Private[service.Window]

    @strawberry.field(description="Sessions matching the search and window, over all pages.")
    async def total_count(self, info: Info) -> int:
        return await service.count_sessions(
            info.context.pool, event_id=self.event_id, search=self.search, window=self.window
        )


@strawberry.type(
    description=(
        "A session as its attendees see it: what a watch page and a player tracker need"
        " (no analytics). See Query.watchSession."
    )
)
class WatchSession:
    id: strawberry.ID
    title: str
    start_time: datetime = strawberry.field(
        description="When the stream begins: LIVE positions are seconds since then."
    )
    end_time: datetime
    format: SessionFormat
    stream_provider: StreamProvider | None
    duration: int | None = strawberry.field(description="Video seconds; null when unknown.")
    analytics_available: bool = strawberry.field(
        description="Whether recordWatch accepts segments for it."
    )
    registered: bool = strawberry.field(description="The signed-in user registered for it.")
    joined: bool = strawberry.field(
        description="The signed-in user attended: joined it, or watched a live second."
    )

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "WatchSession":
        session = Session.from_row(row)
        return cls(
            id=session.id,
            title=session.title,
            start_time=session.start_time,
            end_time=session.end_time,
            format=session.format,
            stream_provider=session.stream_provider,
            duration=session.duration,
            analytics_available=session.analytics_available,
            registered=row["registered"],
            joined=row["joined"],
        )
