"""A realistic demo event, loaded through the same services the API uses."""

import asyncio
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

DEMO_PASSWORD = "demo-password"  # noqa: S105 (printed for people to try the demo)
EVENT_START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
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

    created = []
    for i, (title, fmt, provider, duration) in enumerate(_session_specs()):
        start = EVENT_START + timedelta(minutes=30 * (i % 16), days=i // 16)
        spec = NewSession(title, start, start + timedelta(minutes=45), fmt, provider, duration)
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
            await _attend_sessions(pool, viewer_rng, _as_actor(user_id, email), created)
        done += 1
        progress(done, viewers)

    await asyncio.gather(*(attend(i) for i in range(1, viewers + 1)))
    return DemoLogins(accounts=ACCOUNTS, password=DEMO_PASSWORD, event_id=event["id"])


async def _attend_sessions(
    pool: Pool, rng: random.Random, actor: Actor, created: list[asyncpg.Record]
) -> None:
    for row in rng.sample(created, k=rng.randint(2, 7)):
        session_id = str(row["id"])
        if rng.random() < 0.8:
            await sessions.register(pool, actor, session_id=session_id)
        if rng.random() < 0.1:
            await sessions.unregister(pool, actor, session_id=session_id)
        if rng.random() < 0.7:
            await sessions.join(pool, actor, session_id=session_id)
        if not analytics_available(row["format"], row["stream_provider"]):
            continue
        batch = []
        for mode, chance in (("LIVE", 0.75), ("RECORDING", 0.35)):
            if rng.random() < chance:
                segments = heartbeats(rng, row["video_duration"])
                if rng.random() < 0.2:
                    segments += heartbeats(rng, row["video_duration"])  # a rewatch
                batch += [ReportedSegment(session_id, mode, a, b) for a, b in segments]
        for chunk in range(0, len(batch), watch.MAX_SEGMENTS):
            await watch.record_watch(pool, actor, batch[chunk : chunk + watch.MAX_SEGMENTS])
