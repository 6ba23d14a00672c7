"""Per-viewer rows, retention and live concurrency of a session (docs/metrics.md)."""

from datetime import datetime

import asyncpg
import strawberry

from gql_server.context import Info
from gql_server.errors import bad_input
from gql_server.services import analytics as service
from gql_server.services.analytics import ViewerPageArgs
from gql_server.types.enums import TimelineBucket, WatchMode

# A viewer's live spans in one answer (an attendee controls how many there are).
MAX_LIVE_INTERVALS = 1000


@strawberry.type(description="Who a viewer row is about.")
class Attendee:
    id: strawberry.ID
    name: str
    email: str


@strawberry.type(description="A span of wall-clock time, [start, end).")
class TimeInterval:
    start: datetime
    end: datetime


@strawberry.type(
    description=(
        "One person who registered for, joined or watched the session. The watch fields"
        " are null when the session has no analytics; engagement also without a duration."
    )
)
class SessionViewer:
    user: Attendee
    registered: bool
    joined: bool = strawberry.field(
        description="Attended: joined (joinSession), or watched any live second."
    )
    live_watched_seconds: int | None = strawberry.field(
        description="Distinct live seconds (the union of what was reported, clipped)."
    )
    recording_watched_seconds: int | None
    live_view: bool | None = strawberry.field(
        description="Counted in the session's liveViews: >= min(30, duration) live seconds."
    )
    recording_view: bool | None
    live_engagement: float | None = strawberry.field(
        description="min(100, 100 x liveWatchedSeconds / duration)."
    )
    recording_engagement: float | None
    first_active_at: datetime | None = strawberry.field(
        description="Their first join or watch report for the session (wall clock)."
    )
    last_active_at: datetime | None = strawberry.field(
        description="Their last join or watch report for the session (wall clock)."
    )
    all_live_intervals: strawberry.Private[list[TimeInterval]]

    @strawberry.field(
        description=(
            "The live seconds they watched, as wall-clock spans: startTime + position"
            " (each second once; clipped to the duration), the first `first` (1..1000)"
            " in time order; liveIntervalCount says how many there are."
        )
    )
    def live_intervals(self, first: int = 100) -> list[TimeInterval]:
        if not 1 <= first <= MAX_LIVE_INTERVALS:
            raise bad_input(f"first must be between 1 and {MAX_LIVE_INTERVALS}")
        return self.all_live_intervals[:first]

    @strawberry.field(description="How many spans liveIntervals has in all.")
    def live_interval_count(self) -> int:
        return len(self.all_live_intervals)

    live_plays: int
    recording_plays: int
    plays: int = strawberry.field(
        description=(
            "Separate plays in both modes: a report more than 300 s after their previous one"
            " (same mode) starts a new play."
        )
    )
    rejoined: bool = strawberry.field(description="More than one play: they came back.")

    @classmethod
    def from_row(
        cls, row: asyncpg.Record, *, analytics: bool, duration: int | None
    ) -> "SessionViewer":
        user = Attendee(
            id=strawberry.ID(str(row["user_id"])), name=row["name"], email=row["email"]
        )
        numbers = service.viewer_numbers(
            row["live_seconds"], row["recording_seconds"], analytics=analytics, duration=duration
        )
        timeline = service.viewer_timeline(row)
        return cls(
            user=user,
            registered=row["registered"],
            joined=row["joined"],
            **numbers._asdict(),
            first_active_at=timeline.first_active_at,
            last_active_at=timeline.last_active_at,
            all_live_intervals=[TimeInterval(start=a, end=b) for a, b in timeline.live_intervals],
            live_plays=timeline.live_plays,
            recording_plays=timeline.recording_plays,
            plays=timeline.plays,
            rejoined=timeline.rejoined,
        )


@strawberry.type
class SessionViewerEdge:
    cursor: str
    node: SessionViewer


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class SessionViewerConnection:
    page_info: PageInfo
    nodes: list[SessionViewer]
    edges: list[SessionViewerEdge]
    as_of: datetime = strawberry.field(
        description="When the session's registrations, joins or watch data last changed."
    )
    event_id: strawberry.Private[int]
    session_id: strawberry.Private[int]
    search: strawberry.Private[str | None]

    @strawberry.field(description="People matching the search, over all pages.")
    async def total_count(self, info: Info) -> int:
        loader = info.context.loaders.viewer_count
        count: int = await loader.load((self.event_id, self.session_id, self.search))
        return count

    @classmethod
    def from_rows(
        cls,
        rows: list[asyncpg.Record],
        args: ViewerPageArgs,
        *,
        event_id: int,
        session_id: int,
        analytics: bool,
        duration: int | None,
    ) -> "SessionViewerConnection":
        people = [r for r in rows if r["user_id"] is not None]
        page = people[: args.limit - 1]
        nodes = [SessionViewer.from_row(r, analytics=analytics, duration=duration) for r in page]
        cursors = [service.viewer_cursor(args, r) for r in page]
        return cls(
            page_info=PageInfo(
                has_next_page=len(people) > len(page), end_cursor=cursors[-1] if cursors else None
            ),
            nodes=nodes,
            edges=[
                SessionViewerEdge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)
            ],
            as_of=rows[0]["as_of"],
            event_id=event_id,
            session_id=session_id,
            search=args.search,
        )


@strawberry.type(description="One equal slice of the video: [startSecond, endSecond).")
class RetentionPoint:
    start_second: int
    end_second: int
    viewers: int = strawberry.field(description="Viewers of the mode who watched any of it.")
    percent: float = strawberry.field(description="100 x viewers / the mode's viewers.")


@strawberry.type(
    description=(
        "For each slice of the video, the share of the mode's viewers (W > 0) who watched"
        " any second of it. Slices: min(buckets, duration) equal slices."
    )
)
class Retention:
    mode: WatchMode
    viewers: int
    points: list[RetentionPoint]
    as_of: datetime


@strawberry.type(description="Viewers who watched live any second of [start, end).")
class ConcurrencyPoint:
    start: datetime
    end: datetime
    start_second: int = strawberry.field(description="Seconds since the stream began.")
    viewers: int


@strawberry.type(
    description=(
        "Live viewers over wall-clock time from startTime (LIVE positions are seconds since"
        " the stream began), to the scheduled end or the last second watched."
    )
)
class LiveConcurrency:
    bucket_seconds: int
    points: list[ConcurrencyPoint]
    peak_concurrent_viewers: int = strawberry.field(
        description="Most viewers watching the same second live."
    )
    peak_at: datetime | None = strawberry.field(
        description="The first second the peak was reached; null when nobody watched live."
    )
    as_of: datetime


@strawberry.type(description="One bucket of a timeline: [start, end) in the requested zone.")
class TimelinePoint:
    start: datetime = strawberry.field(description="Local midnight (DAY) or hour, as an instant.")
    end: datetime = strawberry.field(description="DAY buckets last 23, 24 or 25 hours.")
    unique_viewers: int = strawberry.field(
        description="People who watched a second they had not watched before, in the bucket."
    )
    watched_seconds: int = strawberry.field(
        description=(
            "Seconds added to viewers' watched unions in the bucket (they sum to watchTime)."
        )
    )
    new_views: int = strawberry.field(description="Views counted in the bucket.")


@strawberry.type(description="When the watching happened, per bucket (docs/metrics.md).")
class Timeline:
    bucket: TimelineBucket
    time_zone: str
    mode: WatchMode | None = strawberry.field(description="Null: both modes.")
    points: list[TimelinePoint]

    @classmethod
    def of(
        cls,
        points: list[service.TimelinePoint],
        *,
        bucket: TimelineBucket,
        time_zone: str,
        mode: WatchMode | None,
    ) -> "Timeline":
        return cls(
            bucket=bucket,
            time_zone=time_zone,
            mode=mode,
            points=[TimelinePoint(**p._asdict()) for p in points],
        )


TIMELINE_ARGUMENTS = (
    "bucket: HOUR or DAY, aligned to timeZone's clock (an IANA name such as Europe/Berlin;"
    " unknown: 400). from/to: instants, widened to whole buckets; without them, from the"
    " first to the last bucket with data. mode: one mode, or both. At most 10,000 points."
)
