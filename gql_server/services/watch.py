"""Recording what players report, and keeping the per-session counters in step."""

from typing import NamedTuple

import asyncpg

from gql_server import auth
from gql_server.analytics.rules import analytics_available, has_video, view_threshold
from gql_server.auth import Actor
from gql_server.db import Pool
from gql_server.errors import (
    SESSION_NOT_FOUND,
    UNAVAILABLE,
    ApiError,
    bad_input,
)
from gql_server.repo import watch as repo
from gql_server.repo.watch import CheckedSession, Segment
from gql_server.values.ids import parse_id

MAX_SEGMENTS = 1000
# How far into a session a position may be (docs/security.md, "positions"):
# LIVE, up to the scheduled length plus LIVE_MARGIN (a session that runs
# over); RECORDING, up to the video's duration when known (beyond it positions
# are clipped, as the semantics say) and MAX_POSITION otherwise. Every LIVE
# second lands in a 15-minute slot of the timeline: without a bound one
# segment of 2^31 seconds made 2.4 million of them.
MAX_POSITION = 7 * 24 * 3600
LIVE_MARGIN = 6 * 3600
# Positions are GraphQL Ints (32-bit); int4range needs end <= 2**31 - 1.
MAX_SECOND = 2**31 - 1


def position_limit(session: asyncpg.Record, mode: str) -> int:
    """The last position (exclusive) a segment of this session and mode may reach."""
    if mode == "RECORDING":
        duration: int | None = session["video_duration"]
        return MAX_SECOND if duration is not None else MAX_POSITION
    scheduled = int((session["end_time"] - session["start_time"]).total_seconds())
    return min(MAX_POSITION, scheduled + LIVE_MARGIN)


class ReportedSegment(NamedTuple):
    # A tuple, not a dataclass: a batch makes up to 1000 of them per request.
    session_id: str
    mode: str
    start_second: int
    end_second: int


def _segment_problem(segment: ReportedSegment, session: asyncpg.Record) -> str | None:
    if segment.start_second < 0:
        return "startSecond must be >= 0"
    if segment.end_second <= segment.start_second:
        return "endSecond must be greater than startSecond"
    problem = _session_problem(session)
    if problem is not None:
        return problem
    limit = position_limit(session, segment.mode)
    if segment.end_second > limit:
        if segment.mode == "LIVE":
            return (
                f"endSecond must be at most {limit} for LIVE: the session's scheduled"
                f" length plus {LIVE_MARGIN // 3600} hours"
            )
        return f"endSecond must be at most {limit} while the video's duration is not known"
    return None


def _session_problem(session: asyncpg.Record) -> str | None:
    if not has_video(session["format"], session["stream_provider"]):
        return "the session has no video"
    if not analytics_available(session["format"], session["stream_provider"]):
        return f"{session['stream_provider']} sessions have no watch analytics"
    return None


# A batch whose sessions keep changing under it (a host editing them in a
# loop) is given up on after this many tries, as a 503 for the player to retry.
MAX_ATTEMPTS = 5


async def record_watch(pool: Pool, actor: Actor | None, segments: list[ReportedSegment]) -> int:
    """Store a batch of segments for the actor, all or nothing. Returns how many.

    The batch is validated against its sessions as read, then written in one
    statement that locks those sessions and writes nothing if any of them
    changed in between (then it is read and validated again).
    """
    actor = auth.require_actor(actor)
    if len(segments) > MAX_SEGMENTS:
        raise bad_input(f"at most {MAX_SEGMENTS} segments per call, got {len(segments)}")
    if not segments:
        return 0
    # A batch names a handful of sessions, each many times: parse each once.
    parsed = {name: parse_id(name) for name in {s.session_id for s in segments}}
    ids = [parsed[s.session_id] for s in segments]
    wanted = sorted({i for i in ids if i is not None})
    for _ in range(MAX_ATTEMPTS):
        found = await repo.get_sessions(pool, wanted, email=actor.attendee_email)
        sessions = {row["id"]: row for row in found}
        batch = _validated(actor, segments, ids, sessions)
        checked = [
            CheckedSession(
                event_id=row["event_id"],
                id=row["id"],
                format=row["format"],
                stream_provider=row["stream_provider"],
                video_duration=row["video_duration"],
                threshold=view_threshold(row["video_duration"]),
            )
            for row in sessions.values()
        ]
        if await repo.record_batch(pool, user_id=actor.user_id, segments=batch, sessions=checked):
            return len(segments)
    raise ApiError(UNAVAILABLE, "The sessions kept changing; send the batch again")


def _validated(
    actor: Actor,
    segments: list[ReportedSegment],
    ids: list[int | None],
    sessions: dict[int, asyncpg.Record],
) -> list[Segment]:
    """The batch to store; the first bad segment, in index order, rejects it all."""
    sessions_ok = {sid: _session_problem(row) is None for sid, row in sessions.items()}
    event_ids = {sid: row["event_id"] for sid, row in sessions.items()}
    limits = {
        (sid, mode): position_limit(row, mode)
        for sid, row in sessions.items()
        for mode in ("LIVE", "RECORDING")
    }
    batch = []
    for index, (segment, session_id) in enumerate(zip(segments, ids, strict=True)):
        _name, mode, start, end = segment
        if session_id is None or session_id not in sessions:
            raise ApiError(SESSION_NOT_FOUND, f"segments[{index}]: Session Not Found")
        if not sessions[session_id]["may_attend"]:
            # Before anything about the session's video: an outsider learns nothing of it.
            raise auth.not_attendee(actor, f"segments[{index}]: ")
        if not (0 <= start < end <= limits[session_id, mode] and sessions_ok[session_id]):
            raise bad_input(
                f"segments[{index}]: {_segment_problem(segment, sessions[session_id])}"
            )
        batch.append(Segment(event_ids[session_id], session_id, mode, start, end))
    return batch


async def rebuild_rollups(pool: Pool, *, event_id: int) -> None:
    """Recompute an event's per-viewer unions and counters from its raw segments."""
    async with pool.acquire() as conn, conn.transaction():
        # Blocks recordWatch and updateSession on these sessions until done.
        durations = await repo.lock_event_sessions(conn, event_id=event_id)
        thresholds = {sid: view_threshold(d) for sid, d in durations.items()}
        await repo.rebuild_event(conn, event_id=event_id, thresholds=thresholds)
