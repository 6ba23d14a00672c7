"""A realistic demo event, loaded through the same services the API uses."""

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from gql_server.analytics.rules import analytics_available
from gql_server.auth import Actor, Passwords
from gql_server.db import Pool
from gql_server.repo import accounts as accounts_repo
from gql_server.repo.sessions import NewSession
from gql_server.services import accounts, events, sessions, watch
from gql_server.services.watch import ReportedSegment

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-password"  # noqa: S105 (printed for people to try the demo)
HEARTBEAT = 10  # players report every 10 s a window of 15 s: overlapping on purpose

# (title, format, provider, video duration in seconds or None when not known yet)
SESSIONS: list[tuple[str, str, str | None, int | None]] = [
    ("Opening keynote", "MAIN_STAGE", "YOUTUBE", 3600),
    ("The state of hybrid events", "MAIN_STAGE", "VIMEO", 2700),
    ("Sponsor teaser (20 s)", "EXPO", "DIRECT_UPLOAD", 20),
    ("Product flash (25 s)", "EXPO", "VIMEO", 25),
    ("Exactly thirty seconds", "OTHER", "DIRECT_UPLOAD", 30),
    ("Panel: measuring engagement (recording processing)", "BREAKOUT_SESSION", "VOXEET", None),
    ("Fireside chat (duration unknown)", "MAIN_STAGE", "TOKBOX", None),
    ("Partner livestream on Zoom", "BREAKOUT_SESSION", "ZOOM", 3000),
    ("Community hour on Facebook Live", "OTHER", "FACEBOOK", 3600),
    ("Case studies hosted on Wistia", "BREAKOUT_SESSION", "WISTIA", 1800),
    ("Hands-on GraphQL workshop", "WORKSHOP", None, None),
    ("Analytics workshop", "WORKSHOP", None, None),
    ("Speed networking", "MEET_UP", None, None),
    ("Meet the speakers", "MEET_UP", None, None),
    ("Lunch break", "BREAK", None, None),
    ("Coffee break with music", "BREAK", "YOUTUBE", 900),
    ("Closing keynote", "MAIN_STAGE", "YOUTUBE", 2400),
]
BREAKOUT_PROVIDERS = ["YOUTUBE", "VIMEO", "VOXEET", "TOKBOX", "DIRECT_UPLOAD"]
BREAKOUT_TOPICS = [
    "Designing for remote audiences", "Streaming at scale", "Sponsor ROI",
    "Accessibility on stage", "Moderating Q&A", "Audience retention",
    "Event data privacy", "Hybrid venue tech", "Content repurposing",
    "Building communities", "Ticketing strategy", "Speaker coaching",
    "Live captions", "Latency budgets", "Virtual expo halls",
    "Post-event analytics", "Gamification", "Localization",
    "Interactive polls", "Onboarding attendees",
]  # fmt: skip


@dataclass(frozen=True)
class DemoLogins:
    accounts: list[tuple[str, str]]
    password: str
    event_id: int


ORGANIZER_NAME = "Demo Events Inc."
EVENT_NAME = "Hybrid Summit 2026"
ACCOUNTS = [
    ("super admin", "admin@demo.example"),
    ("organizer admin", "organizer@demo.example"),
    ("event admin", "host@demo.example"),
    ("attendee", "viewer00001@demo.example"),
]


async def find_demo(pool: Pool) -> DemoLogins | None:
    """The demo event already loaded in this database, if any (its logins)."""
    event_id = await pool.fetchval(
        "SELECT e.id FROM events e JOIN organizers o ON o.id = e.organizer_id"
        " WHERE e.name = $1 AND o.name = $2 ORDER BY e.id LIMIT 1",
        EVENT_NAME,
        ORGANIZER_NAME,
    )
    if event_id is None:
        return None
    return DemoLogins(accounts=ACCOUNTS, password=DEMO_PASSWORD, event_id=event_id)


# The event is built around the moment it is loaded: two days that ended (their
# recordings watched since), today with sessions that ended, one live and some
# to come, and tomorrow. Two tracks whose slots follow each other with a break
# between them and fit their videos, and an expo hall stream live all day.
DAYS = (-2, -1, 0, 1)
DAY_STARTS = timedelta(hours=-3)  # each day's program starts 3 h before now's time of day
BREAK = timedelta(minutes=15)
ALL_DAY = ("Expo hall livestream (all day)", "EXPO", "YOUTUBE", None)


def slot_length(duration: int | None) -> timedelta:
    """A slot that fits the video (whole quarter hours, 30 min at least; 45 when the
    duration is not known)."""
    if duration is None:
        return timedelta(minutes=45)
    return timedelta(minutes=15 * max(2, math.ceil(duration / 900)))


def schedule(now: datetime) -> list[NewSession]:
    """The demo's sessions around `now` (see DAYS)."""
    anchor = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 15)
    specs = _session_specs()
    tracks = [specs[: len(SESSIONS)], specs[len(SESSIONS) :]]
    planned = []
    for track in tracks:
        per_day = math.ceil(len(track) / len(DAYS))
        for index, (title, fmt, provider, duration) in enumerate(track):
            day, position = divmod(index, per_day)
            if position == 0:
                start = anchor + timedelta(days=DAYS[day]) + DAY_STARTS
            end = start + slot_length(duration)
            planned.append(NewSession(title, start, end, fmt, provider, duration))
            start = end + BREAK
    title, fmt, provider, duration = ALL_DAY
    planned.append(NewSession(title, anchor - timedelta(hours=2), anchor + timedelta(hours=22),
                              fmt, provider, duration))  # fmt: skip
    return planned


def _session_specs() -> list[tuple[str, str, str | None, int | None]]:
    specs = list(SESSIONS)
    for i, topic in enumerate(BREAKOUT_TOPICS):
        provider = BREAKOUT_PROVIDERS[i % len(BREAKOUT_PROVIDERS)]
        specs.append((f"Breakout: {topic}", "BREAKOUT_SESSION", provider, 1200 + 300 * (i % 8)))
    return specs


async def _account(pool: Pool, passwords: Passwords, email: str, name: str, admin: bool) -> int:
    # The demo's addresses are made up (demo.example): it vouches for them, as an
    # operator does with create-user, so its viewers count on the attendee list.
    return await accounts.get_or_create_user(
        pool, passwords, email=email, password=DEMO_PASSWORD, name=name, is_super_admin=admin,
        email_verified=True,
    )  # fmt: skip


def _as_actor(user_id: int, email: str, *, super_admin: bool = False) -> Actor:
    return Actor(
        user_id=user_id, email=email, name=email, is_super_admin=super_admin, token_hash=b"",
        email_verified=True,
    )  # fmt: skip


def heartbeats(rng: random.Random, duration: int | None) -> list[tuple[int, int]]:
    """What one viewing looks like to the server: overlapping windows, some retried."""
    length = duration or 1800
    start = rng.randrange(0, max(1, length // 2))
    watched = rng.choice([5, 15, 25, 29, 30, 31, 45, 120, 600, length])
    segments = []
    for position in range(start, min(start + watched, length + 5), HEARTBEAT):
        segment = (position, position + 15)
        segments.append(segment)
        if rng.random() < 0.1:
            segments.append(segment)  # a retried heartbeat
    return segments


async def load_demo(
    pool: Pool,
    passwords: Passwords,
    *,
    viewers: int = 2000,
    seed: int = 2026,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> DemoLogins:
    rng = random.Random(seed)
    admin_id = await _account(pool, passwords, "admin@demo.example", "Demo Super Admin", True)
    admin = _as_actor(admin_id, "admin@demo.example", super_admin=True)
    organizer = await events.create_organizer(pool, admin, name=ORGANIZER_NAME)
    # Attendees only: its viewers are on the attendee list (docs/security.md).
    event = await events.create_event(
        pool, admin, organizer_id=str(organizer["id"]), name=EVENT_NAME,
        attendance="ATTENDEES_ONLY",
    )  # fmt: skip
    org_admin = await _account(pool, passwords, "organizer@demo.example", "Olga Organizer", False)
    host = await _account(pool, passwords, "host@demo.example", "Harry Host", False)
    await events.grant_role(
        pool, admin, user_id=str(org_admin), role="ORGANIZER_ADMIN",
        organizer_id=str(organizer["id"]), event_id=None,
    )  # fmt: skip
    await events.grant_role(
        pool, admin, user_id=str(host), role="EVENT_ADMIN",
        organizer_id=None, event_id=str(event["id"]),
    )  # fmt: skip

    now = datetime.now(UTC)
    created = []
    for spec in schedule(now):
        created.append(
            await sessions.create_session(pool, admin, event_id=str(event["id"]), session=spec)
        )

    emails = [f"viewer{index:05d}@demo.example" for index in range(1, viewers + 1)]
    for first in range(0, len(emails), events.MAX_ATTENDEES_PER_CALL):
        batch = emails[first : first + events.MAX_ATTENDEES_PER_CALL]
        await events.add_attendees(pool, admin, event_id=str(event["id"]), emails=batch)

    # Viewers share one password hash: hashing thousands of argon2id passwords
    # would take minutes and show nothing more.
    viewer_hash = await passwords.hash(DEMO_PASSWORD)
    limit = asyncio.Semaphore(8)
    done = 0

    async def attend(index: int) -> None:
        nonlocal done
        viewer_rng = random.Random(rng.random())
        async with limit:
            email = emails[index - 1]
            row = await accounts_repo.create_user(
                pool, email=email, name=f"Viewer {index}", password_hash=viewer_hash,
                is_super_admin=False, email_verified=True,
            )  # fmt: skip
            user_id = row["id"] if row else await _account(pool, passwords, email, email, False)
            actor = _as_actor(user_id, email)
            await _attend_sessions(pool, viewer_rng, actor, created, now)
        done += 1
        progress(done, viewers)

    await asyncio.gather(*(attend(i) for i in range(1, viewers + 1)))
    await _as_it_happened(pool, event_id=event["id"])
    return DemoLogins(accounts=ACCOUNTS, password=DEMO_PASSWORD, event_id=event["id"])


async def _attend_sessions(
    pool: Pool, rng: random.Random, actor: Actor, created: list[asyncpg.Record], now: datetime
) -> None:
    """What one viewer did: registered for some sessions, joined and watched those that
    began (live, never past the present moment of the stream), watched the recordings
    of those that ended."""
    for row in rng.sample(created, k=rng.randint(2, 7)):
        session_id = str(row["id"])
        if rng.random() < 0.8:
            await sessions.register(pool, actor, session_id=session_id)
        if rng.random() < 0.1:
            await sessions.unregister(pool, actor, session_id=session_id)
        if row["start_time"] > now:
            continue  # upcoming: registrations only
        if rng.random() < 0.7:
            await sessions.join(pool, actor, session_id=session_id)
        if not analytics_available(row["format"], row["stream_provider"]):
            continue
        duration = row["video_duration"]
        elapsed = int((now - row["start_time"]).total_seconds())
        ended = row["end_time"] <= now
        batch = []
        for mode, chance in (("LIVE", 0.75), ("RECORDING", 0.35 if ended else 0.0)):
            if rng.random() < chance:
                reach = min(duration or 1800, elapsed) if mode == "LIVE" else duration
                segments = heartbeats(rng, reach)
                if rng.random() < 0.2:
                    segments += heartbeats(rng, reach)  # a rewatch
                if mode == "LIVE":
                    segments = [(a, min(b, reach)) for a, b in segments if a < reach]
                batch += [ReportedSegment(session_id, mode, a, b) for a, b in segments]
        for chunk in range(0, len(batch), watch.MAX_SEGMENTS):
            await watch.record_watch(pool, actor, batch[chunk : chunk + watch.MAX_SEGMENTS])


# Everything above was received while the demo loaded; here it is moved to when it
# would have happened, and the rollups are rebuilt from it (services.watch
# .rebuild_rollups, the same bulk path as repairs): a live heartbeat arrives as
# the stream passes its position; a recording is watched at some moment between
# the session's end and now, its heartbeats in order from there; registrations
# come in the days before a session, joins as it starts.
AS_IT_HAPPENED = [
    """
    UPDATE watch_segments w SET received_at = least(
        now(), s.start_time + make_interval(secs => w.end_second))
    FROM sessions s
    WHERE w.event_id = $1 AND s.event_id = w.event_id AND s.id = w.session_id
      AND w.mode = 'LIVE'
    """,
    """
    UPDATE watch_segments w SET received_at = least(now(), t.began
        + make_interval(secs => w.start_second - t.first_second))
    FROM (SELECT w2.session_id, w2.user_id,
                 s.end_time + (now() - s.end_time)
                     * ((hashtext(w2.session_id || ':' || w2.user_id) & 1023) / 1200.0)
                     AS began,
                 min(w2.start_second) AS first_second
          FROM watch_segments w2
          JOIN sessions s ON s.event_id = w2.event_id AND s.id = w2.session_id
          WHERE w2.event_id = $1 AND w2.mode = 'RECORDING'
          GROUP BY w2.session_id, w2.user_id, s.end_time) t
    WHERE w.event_id = $1 AND w.mode = 'RECORDING'
      AND w.session_id = t.session_id AND w.user_id = t.user_id
    """,
    """
    UPDATE session_registrations r SET created_at = least(now(), s.start_time
        - make_interval(secs => (hashtext(r.session_id || ':' || r.user_id) & 1023) * 200))
    FROM sessions s WHERE r.event_id = $1 AND s.event_id = r.event_id AND s.id = r.session_id
    """,
    """
    UPDATE session_joins j SET created_at = least(now(), s.start_time
        + make_interval(secs => (hashtext(j.session_id || ':' || j.user_id) & 1023) / 4))
    FROM sessions s WHERE j.event_id = $1 AND s.event_id = j.event_id AND s.id = j.session_id
    """,
]


async def _as_it_happened(pool: Pool, *, event_id: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for statement in AS_IT_HAPPENED:
            await conn.execute(statement, event_id)
    await watch.rebuild_rollups(pool, event_id=event_id)


# While `serve --demo` runs (GQL_SERVER_DEMO_AUDIENCE), a few of the demo's viewers
# keep watching whatever demo session is live, through the services recordWatch and
# joinSession use (their checks, their counters), so the dashboard moves by itself.
AUDIENCE = 12
LIVE_DEMO_SESSIONS = """
SELECT s.id, s.start_time, s.end_time, s.format, s.stream_provider, s.video_duration
FROM sessions s JOIN events e ON e.id = s.event_id JOIN organizers o ON o.id = e.organizer_id
WHERE e.name = $1 AND o.name = $2 AND s.start_time <= $3 AND $3 < s.end_time
ORDER BY s.id
"""


class DemoAudience:
    def __init__(self, pool: Pool, seed: int = 7) -> None:
        self.pool = pool
        self.rng = random.Random(seed)
        self.watching: dict[tuple[int, int], bool] = {}
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="demo-audience")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as error:  # a demo nicety: never the server's problem
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from None  # stop() met a statement
                log.warning("demo audience: %s", error)
            await asyncio.sleep(HEARTBEAT)

    async def run_once(self) -> int:
        """One heartbeat of everyone watching; how many segments were recorded."""
        now = datetime.now(UTC)
        rows = await self.pool.fetch(LIVE_DEMO_SESSIONS, EVENT_NAME, ORGANIZER_NAME, now)
        live = [r for r in rows if analytics_available(r["format"], r["stream_provider"])]
        emails = [f"viewer{index:05d}@demo.example" for index in range(2, AUDIENCE + 2)]
        people = await self.pool.fetch(
            "SELECT id, email FROM users WHERE email = any($1::text[]) ORDER BY id", emails
        )
        recorded = 0
        for person in people:
            actor = _as_actor(person["id"], person["email"])
            batch = []
            for row in live:
                key = (row["id"], person["id"])
                was = self.watching.get(key)
                # Most stay; some leave for a while, some come (back).
                now_watching = self.rng.random() < (0.9 if was else 0.3)
                self.watching[key] = now_watching
                if not now_watching:
                    continue
                if was is None:
                    await sessions.join(self.pool, actor, session_id=str(row["id"]))
                position = int((now - row["start_time"]).total_seconds())
                start = max(0, position - HEARTBEAT - 5)
                batch.append(ReportedSegment(str(row["id"]), "LIVE", start, position + 1))
            if batch:
                recorded += await watch.record_watch(self.pool, actor, batch)
        return recorded
