"""Arguments and shaping of the deeper analytics (docs/metrics.md)."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from gql_server.analytics import rules
from gql_server.analytics.rules import percent, retention_slice
from gql_server.db import Executor
from gql_server.errors import bad_input
from gql_server.repo import analytics as repo
from gql_server.repo.analytics import ConcurrencyKey as ConcurrencyKey
from gql_server.repo.analytics import RetentionKey as RetentionKey
from gql_server.repo.analytics import ViewerPageArgs as ViewerPageArgs
from gql_server.repo.analytics import ViewsKey as ViewsKey
from gql_server.services.sessions import Window
from gql_server.values import text
from gql_server.values.cursors import decode_cursor, encode_cursor

MAX_VIEWER_PAGE = 1000
MAX_BUCKETS = 1000
MAX_BUCKET_SECONDS = 86_400
MAX_CONCURRENCY_POINTS = 10_000
MAX_TOP_SESSIONS = 100


def viewer_page_args(
    first: int, after: str | None, order: str, search: str | None
) -> ViewerPageArgs:
    if not 1 <= first <= MAX_VIEWER_PAGE:
        raise bad_input(f"first must be between 1 and {MAX_VIEWER_PAGE}")
    search = text.valid_search(search)
    start = decode_cursor(after, order, search) if after is not None else None
    return ViewerPageArgs(order=order, search=search, after=start, limit=first + 1)


def viewer_cursor(args: ViewerPageArgs, row: asyncpg.Record) -> str:
    return encode_cursor(args.order, args.search, (row["sort_key_0"], row["sort_key_1"]))


class ViewerTimeline(NamedTuple):
    """When a person was active in a session (docs/metrics.md)."""

    first_active_at: datetime | None
    last_active_at: datetime | None
    live_intervals: list[tuple[datetime, datetime]]  # wall clock, [start, end)
    live_plays: int
    recording_plays: int
    plays: int
    rejoined: bool


def viewer_timeline(row: asyncpg.Record) -> ViewerTimeline:
    """From a row with TIMELINE_COLUMNS: live positions mapped to startTime + position."""
    start = row["session_start_time"]
    intervals = [
        (start + timedelta(seconds=a), start + timedelta(seconds=b))
        for a, b in zip(row["live_starts"], row["live_ends"], strict=True)
    ]
    live, recording = row["live_plays"], row["recording_plays"]
    return ViewerTimeline(
        first_active_at=row["first_active_at"],
        last_active_at=row["last_active_at"],
        live_intervals=intervals,
        live_plays=live,
        recording_plays=recording,
        plays=live + recording,
        rejoined=live + recording > 1,
    )


MAX_MIN_SECONDS = 2**31 - 1


def check_min_seconds(min_seconds: int) -> None:
    if not 1 <= min_seconds <= MAX_MIN_SECONDS:
        raise bad_input(f"minSeconds must be between 1 and {MAX_MIN_SECONDS}")


def check_buckets(buckets: int) -> None:
    if not 1 <= buckets <= MAX_BUCKETS:
        raise bad_input(f"buckets must be between 1 and {MAX_BUCKETS}")


def check_bucket_seconds(bucket_seconds: int) -> None:
    if not 1 <= bucket_seconds <= MAX_BUCKET_SECONDS:
        raise bad_input(f"bucketSeconds must be between 1 and {MAX_BUCKET_SECONDS}")


async def event_totals(db: Executor, *, event_id: int, window: Window) -> asyncpg.Record:
    """The event's totals over the sessions starting in the window (docs/metrics.md)."""
    window = window.validated()
    return await repo.event_totals(
        db, event_id=event_id, starts_after=window.starts_after, starts_before=window.starts_before
    )


async def top_sessions(
    db: Executor, *, event_id: int, window: Window, first: int, mode: str | None
) -> list[asyncpg.Record]:
    """Sessions with analytics by views, most first (first: 1..MAX_TOP_SESSIONS)."""
    if not 1 <= first <= MAX_TOP_SESSIONS:
        raise bad_input(f"first must be between 1 and {MAX_TOP_SESSIONS}")
    return await repo.top_sessions(
        db,
        event_id=event_id,
        starts_after=window.starts_after,
        starts_before=window.starts_before,
        limit=first,
        mode=mode,
    )


def _running_counts(row: asyncpg.Record, count: int) -> list[int]:
    """Viewers per bucket 0..count-1 from the statement's (bucket, delta) arrays."""
    deltas = dict(zip(row["bucket_list"] or [], row["deltas"] or [], strict=True))
    running, counts = 0, []
    for bucket in range(count):
        running += deltas.get(bucket, 0)
        counts.append(running)
    return counts


@dataclass(frozen=True)
class Slice:
    start_second: int
    end_second: int
    viewers: int
    percent: float


def retention_slices(row: asyncpg.Record, duration: int) -> list[Slice]:
    buckets, total = row["buckets"], row["viewers"]
    return [
        Slice(*retention_slice(i, buckets, duration), viewers=n, percent=percent(n, total))
        for i, n in enumerate(_running_counts(row, buckets))
    ]


@dataclass(frozen=True)
class Concurrency:
    points: list[tuple[int, int]]  # (first second of the bucket, viewers)
    peak: int
    peak_at: datetime | None


def concurrency(
    row: asyncpg.Record, *, start_time: datetime, end_time: datetime, bucket_seconds: int
) -> Concurrency:
    """Buckets from the start to the scheduled end or the last second watched live."""
    scheduled = int((end_time - start_time).total_seconds())
    span = max(scheduled, row["last_second"] or 0)
    count = max(1, -(-span // bucket_seconds))
    if count > MAX_CONCURRENCY_POINTS:
        raise bad_input(
            f"bucketSeconds {bucket_seconds} makes {count} points for this session (at most"
            f" {MAX_CONCURRENCY_POINTS}); use at least {-(-span // MAX_CONCURRENCY_POINTS)}"
        )
    counts = _running_counts(row, count)
    peak = row["peak"] or 0
    peak_at = start_time + timedelta(seconds=row["peak_second"]) if peak else None
    return Concurrency(
        points=[(i * bucket_seconds, n) for i, n in enumerate(counts)], peak=peak, peak_at=peak_at
    )


class ViewerNumbers(NamedTuple):
    """One person's numbers for one session (all None without analytics)."""

    live_watched_seconds: int | None
    recording_watched_seconds: int | None
    live_view: bool | None
    recording_view: bool | None
    live_engagement: float | None
    recording_engagement: float | None


NO_VIEWER_NUMBERS = ViewerNumbers(None, None, None, None, None, None)


def viewer_numbers(
    live: int | None, recording: int | None, *, analytics: bool, duration: int | None
) -> ViewerNumbers:
    """From the person's watched seconds in each mode (None: never watched in it).

    The one place for the viewer rows of the API and the per-attendee exports.
    """
    if not analytics:
        return NO_VIEWER_NUMBERS
    live, recording = live or 0, recording or 0
    return ViewerNumbers(
        live_watched_seconds=live,
        recording_watched_seconds=recording,
        live_view=rules.is_view(live, duration),
        recording_view=rules.is_view(recording, duration),
        live_engagement=rules.viewer_engagement(live, duration),
        recording_engagement=rules.viewer_engagement(recording, duration),
    )


# --- the timeline (docs/metrics.md) --------------------------------------------

MAX_TIMELINE_POINTS = 10_000
MAX_ZONE_NAME = 64


class TimelinePoint(NamedTuple):
    start: datetime
    end: datetime
    unique_viewers: int
    watched_seconds: int
    new_views: int


def time_zone(name: str) -> ZoneInfo:
    """An IANA zone (Europe/Berlin); 400 naming it when there is no such zone."""
    invalid = bad_input(
        f"timeZone {name[:MAX_ZONE_NAME]!r} is not a known IANA time zone"
        " (such as Europe/Berlin or America/Los_Angeles)"
    )
    if not name or len(name) > MAX_ZONE_NAME or not name.isascii():
        raise invalid
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid from None


def _bucket_start(instant: datetime, bucket: str, zone: ZoneInfo) -> datetime:
    local = instant.astimezone(zone)
    if bucket == "HOUR":
        # The local clock hour the instant is in (a fall-back day has two 01:00s).
        return instant - timedelta(minutes=local.minute, seconds=local.second,
                                   microseconds=local.microsecond)  # fmt: skip
    return datetime.combine(local.date(), time(), tzinfo=zone).astimezone(UTC)


def _next_bucket(start: datetime, bucket: str, zone: ZoneInfo) -> datetime:
    if bucket == "HOUR":
        return start + timedelta(hours=1)
    day = start.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)  # 23, 24 or 25 h later


def bucket_starts(lo: datetime, hi: datetime, bucket: str, zone: ZoneInfo) -> list[datetime]:
    """Every bucket that overlaps [lo, hi), and the end of the last one."""
    starts = [_bucket_start(lo, bucket, zone)]
    while True:
        following = _next_bucket(starts[-1], bucket, zone)
        if following >= hi:
            return [*starts, following]
        if len(starts) >= MAX_TIMELINE_POINTS:
            raise bad_input(
                f"the timeline would have more than {MAX_TIMELINE_POINTS} points:"
                " narrow from/to or use a larger bucket"
            )
        starts.append(following)


SLOT = timedelta(minutes=15)


async def timeline(
    db: Executor,
    *,
    event_id: int,
    session_ids: list[int] | None,
    bucket: str,
    zone_name: str,
    start: datetime | None,
    end: datetime | None,
    mode: str | None,
) -> dict[int | None, list[TimelinePoint]]:
    """Points by session id (None: the whole event). Without from/to, from the first
    to the last bucket with data (of each session); zero points in between."""
    zone = time_zone(zone_name)
    if start is not None and end is not None and end <= start:
        raise bad_input("to must be after from")
    lo, hi = start, end
    if lo is None or hi is None:
        bounds = await repo.timeline_bounds(
            db, event_id=event_id, session_ids=session_ids, mode=mode
        )
        if bounds["first_slot"] is None:
            return {}
        lo = lo or bounds["first_slot"]
        hi = hi or bounds["last_slot"] + SLOT
        if hi <= lo:  # one bound given, on the far side of all the data
            return {}
    edges = bucket_starts(lo, hi, bucket, zone)
    rows = await repo.timeline(
        db, event_id=event_id, session_ids=session_ids, mode=mode,
        starts=edges[:-1], end=edges[-1],
    )  # fmt: skip
    filled: dict[int | None, dict[int, asyncpg.Record]] = {}
    for row in rows:
        filled.setdefault(row["session_id"], {})[row["bucket"] - 1] = row
    points: dict[int | None, list[TimelinePoint]] = {}
    for key in [None] if session_ids is None else session_ids:
        found = filled.get(key, {})
        # Without from (to), from the first (to the last) bucket with data.
        first = 0 if start is not None else min(found, default=None)
        last = len(edges) - 2 if end is not None else max(found, default=None)
        if first is None or last is None:
            points[key] = []
            continue
        points[key] = [
            TimelinePoint(
                edges[i], edges[i + 1],
                found[i]["unique_viewers"] if i in found else 0,
                found[i]["watched_seconds"] if i in found else 0,
                found[i]["new_views"] if i in found else 0,
            )
            for i in range(first, last + 1)
        ]  # fmt: skip
    return points
