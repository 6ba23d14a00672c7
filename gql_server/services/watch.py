"""Recording what players report, and keeping the per-session counters in step."""

from collections import defaultdict
from dataclasses import dataclass

import asyncpg

from gql_server import auth
from gql_server.analytics.rules import analytics_available, has_video, view_threshold
from gql_server.auth import Viewer
from gql_server.db import Pool
from gql_server.errors import SESSION_NOT_FOUND, ApiError, bad_input
from gql_server.ids import parse_id
from gql_server.repo import watch as repo
from gql_server.repo.watch import Segment, StatsDelta

MAX_SEGMENTS = 1000
# Positions are GraphQL Ints (32-bit); int4range needs end <= 2**31 - 1.
MAX_SECOND = 2**31 - 1


@dataclass(frozen=True)
class ReportedSegment:
    session_id: str
    mode: str
    start_second: int
    end_second: int


def _segment_problem(segment: ReportedSegment, session: asyncpg.Record | None) -> str | None:
    if session is None:
        return None  # reported as 404800 by the caller
    if segment.start_second < 0:
        return "startSecond must be >= 0"
    if segment.end_second <= segment.start_second:
        return "endSecond must be greater than startSecond"
    if segment.end_second > MAX_SECOND:
        return f"endSecond must be at most {MAX_SECOND}"
    if not has_video(session["format"], session["stream_provider"]):
        return "the session has no video"
    if not analytics_available(session["format"], session["stream_provider"]):
        return f"{session['stream_provider']} sessions have no watch analytics"
    return None


async def record_watch(pool: Pool, viewer: Viewer | None, segments: list[ReportedSegment]) -> int:
    """Store a batch of segments for the viewer, all or nothing. Returns how many."""
    viewer = auth.require_viewer(viewer)
    if len(segments) > MAX_SEGMENTS:
        raise bad_input(f"at most {MAX_SEGMENTS} segments per call, got {len(segments)}")
    if not segments:
        return 0
    ids = [parse_id(s.session_id) for s in segments]
    async with pool.acquire() as conn, conn.transaction():
        found = await repo.lock_sessions(conn, sorted({i for i in ids if i is not None}))
        sessions = {row["id"]: row for row in found}
        for index, (segment, session_id) in enumerate(zip(segments, ids, strict=True)):
            session = sessions.get(session_id) if session_id is not None else None
            if session is None:
                raise ApiError(SESSION_NOT_FOUND, f"segments[{index}]: Session Not Found")
            if problem := _segment_problem(segment, session):
                raise bad_input(f"segments[{index}]: {problem}")
        batch = [
            Segment(
                event_id=sessions[sid]["event_id"],
                session_id=sid,
                mode=s.mode,
                start_second=s.start_second,
                end_second=s.end_second,
            )
            for s, sid in zip(segments, ids, strict=True)
            if sid is not None
        ]
        changed = await repo.record_segments(conn, user_id=viewer.user_id, segments=batch)
        thresholds = {sid: view_threshold(row["video_duration"]) for sid, row in sessions.items()}
        await repo.apply_stats_deltas(conn, stats_deltas(changed, thresholds))
    return len(segments)


def stats_deltas(
    changed: list[asyncpg.Record], thresholds: dict[int, int]
) -> dict[tuple[int, int], StatsDelta]:
    """How each session's counters move when viewers' watched seconds go from old to new."""
    deltas: dict[tuple[int, int], StatsDelta] = defaultdict(StatsDelta)
    for row in changed:
        old, new = row["previous_watched_seconds"], row["watched_seconds"]
        threshold = thresholds[row["session_id"]]
        delta = deltas[(row["event_id"], row["session_id"])]
        prefix = "live" if row["mode"] == "LIVE" else "recording"
        _add(delta, f"{prefix}_seconds", new - old)
        _add(delta, f"{prefix}_viewers", (new > 0) - (old > 0))
        _add(delta, f"{prefix}_views", (new >= threshold) - (old >= threshold))
    return deltas


def _add(delta: StatsDelta, field: str, amount: int) -> None:
    setattr(delta, field, getattr(delta, field) + amount)


async def rebuild_rollups(pool: Pool, *, event_id: int) -> None:
    """Recompute an event's per-viewer unions and counters from its raw segments."""
    async with pool.acquire() as conn, conn.transaction():
        # Blocks recordWatch and updateSession on these sessions until done.
        durations = await repo.lock_event_sessions(conn, event_id=event_id)
        thresholds = {sid: view_threshold(d) for sid, d in durations.items()}
        await repo.rebuild_event(conn, event_id=event_id, thresholds=thresholds)
