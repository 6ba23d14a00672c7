"""Build a large event fast: COPY into the real tables, then the bulk rollup rebuild.

    python bench/generate.py --quick
    python bench/generate.py --dsn postgresql://... --sessions 2000 --viewers 100000 \\
        --segments 10000000

Raw segments go in with COPY; the per-viewer unions and per-session counters
are then computed by gql_server.services.watch.rebuild_rollups, which
tests/test_rollups.py proves equal to what recordWatch maintains. The host
signs in as host@bench.example / bench-password.
"""

import argparse
import asyncio
import random
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from common import throwaway_database

from gql_server.analytics.rules import analytics_available
from gql_server.auth import Passwords
from gql_server.db import Connection, Pool, create_pool, migrate
from gql_server.repo import events
from gql_server.services import accounts
from gql_server.services.watch import rebuild_rollups
from gql_server.settings import Settings

HOST_EMAIL = "host@bench.example"
PASSWORD = "bench-password"
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CHUNK = 250_000

# (format, provider, duration) and how often each kind appears.
KINDS: list[tuple[tuple[str, str | None, int | None], int]] = [
    (("BREAKOUT_SESSION", "YOUTUBE", 2700), 30),
    (("MAIN_STAGE", "VIMEO", 3600), 15),
    (("BREAKOUT_SESSION", "DIRECT_UPLOAD", 1800), 15),
    (("EXPO", "VOXEET", 900), 10),
    (("OTHER", "TOKBOX", None), 5),  # duration not known yet
    (("EXPO", "DIRECT_UPLOAD", 20), 5),  # shorter than 30 s
    (("BREAKOUT_SESSION", "ZOOM", 3000), 8),
    (("OTHER", "WISTIA", 1200), 4),
    (("WORKSHOP", None, None), 5),
    (("MEET_UP", None, None), 3),
]


@dataclass(frozen=True)
class Generated:
    event_id: int
    sessions: int
    viewers: int
    segments: int
    seconds: float


SessionRow = tuple[int, str, str | None, int | None]


async def _create_sessions(
    conn: Connection, event_id: int, count: int, rng: random.Random
) -> list[SessionRow]:
    kinds = [kind for kind, _ in KINDS]
    weights = [weight for _, weight in KINDS]
    rows = []
    for i in range(count):
        fmt, provider, duration = rng.choices(kinds, weights)[0]
        start = START + timedelta(minutes=15 * (i % 48), days=i // 48)
        rows.append((event_id, f"Session {i:05d} {fmt.lower()}", start,
                     start + timedelta(minutes=45), fmt, provider, duration))  # fmt: skip
    columns = ["event_id", "title", "start_time", "end_time", "format", "stream_provider",
               "video_duration"]  # fmt: skip
    await conn.copy_records_to_table("sessions", records=rows, columns=columns)
    # What createSession writes beside each session (repo/sessions.py CREATE_SESSION).
    for table, keys in (("session_stats", "event_id, session_id"),
                        ("webhook_session_state", "event_id, session_id"),
                        ("session_events", "event_id, session_id")):  # fmt: skip
        await conn.execute(
            f"INSERT INTO {table} ({keys}) SELECT event_id, id FROM sessions WHERE event_id = $1",
            event_id,
        )
    found = await conn.fetch(
        "SELECT id, format, stream_provider, video_duration FROM sessions WHERE event_id = $1",
        event_id,
    )
    return [(r["id"], r["format"], r["stream_provider"], r["video_duration"]) for r in found]


async def _create_viewers(conn: Connection, count: int, password_hash: str, tag: str) -> list[int]:
    rows = [(f"viewer{i}-{tag}@bench.example", f"Viewer {i}", password_hash, False)
            for i in range(count)]  # fmt: skip
    await conn.copy_records_to_table(
        "users", records=rows, columns=["email", "name", "password_hash", "is_super_admin"]
    )
    found = await conn.fetch("SELECT id FROM users WHERE email LIKE $1", f"%-{tag}@bench.example")
    return [r["id"] for r in found]


async def _copy_attendance(
    conn: Connection, event_id: int, sessions: list[int], viewers: list[int], rng: random.Random
) -> None:
    for table, per_viewer in (("session_registrations", 3), ("session_joins", 2)):
        rows = {
            (event_id, session, viewer)
            for viewer in viewers
            for session in rng.sample(sessions, k=min(per_viewer, len(sessions)))
        }
        await conn.copy_records_to_table(
            table, records=list(rows), columns=["event_id", "session_id", "user_id"]
        )


def _viewings(
    rng: random.Random,
    event_id: int,
    watchable: list[tuple[int, int | None]],
    viewers: list[int],
    total: int,
) -> list[tuple[int, int, int, str, int, int]]:
    """Heartbeats: 15 s windows every 10 s (overlapping), some retried."""
    popularity = [1 / (rank + 1) ** 0.8 for rank in range(len(watchable))]  # a few hits
    rows: list[tuple[int, int, int, str, int, int]] = []
    while len(rows) < total:
        session, duration = rng.choices(watchable, popularity)[0]
        viewer = rng.choice(viewers)
        mode = "LIVE" if rng.random() < 0.7 else "RECORDING"
        length = duration or 1800
        start = rng.randrange(0, max(1, length // 2))
        watched = rng.choice([15, 25, 35, 60, 300, 900, length])
        for position in range(start, min(start + watched, length + 10), 10):
            rows.append((event_id, session, viewer, mode, position, position + 15))
            if rng.random() < 0.05:
                rows.append((event_id, session, viewer, mode, position, position + 15))
    return rows[:total]


async def generate(
    pool: Pool, *, sessions: int, viewers: int, segments: int, seed: int = 1, log: bool = True
) -> Generated:
    began = time.perf_counter()
    rng = random.Random(seed)
    tag = f"{seed}-{int(time.time() * 1000)}"
    passwords = Passwords(Settings())

    def say(what: str) -> None:
        if log:
            print(f"  {time.perf_counter() - began:7.1f} s  {what}", flush=True)

    host = await accounts.get_or_create_user(pool, passwords, email=HOST_EMAIL,
                                             password=PASSWORD, name="Bench Host")  # fmt: skip
    organizer = await events.create_organizer(pool, name="Bench Organizer")
    event = await events.create_event(pool, organizer_id=organizer["id"], name="Bench Event")
    event_id = event["id"]
    await events.add_event_admin(pool, event_id=event_id, user_id=host)
    async with pool.acquire() as conn:
        created = await _create_sessions(conn, event_id, sessions, rng)
        say(f"{len(created)} sessions")
        viewer_ids = await _create_viewers(conn, viewers, await passwords.hash(PASSWORD), tag)
        say(f"{len(viewer_ids)} viewers")
        await _copy_attendance(conn, event_id, [s[0] for s in created], viewer_ids, rng)
        say("registrations and joins")
        watchable = [
            (s, d) for s, fmt, provider, d in created if analytics_available(fmt, provider)
        ]
        written = 0
        while written < segments:
            batch = _viewings(rng, event_id, watchable, viewer_ids, min(CHUNK, segments - written))
            await conn.copy_records_to_table(
                "watch_segments",
                records=batch,
                columns=["event_id", "session_id", "user_id", "mode", "start_second",
                         "end_second"],
            )  # fmt: skip
            written += len(batch)
            say(f"{written} raw segments")
    await rebuild_rollups(pool, event_id=event_id)
    await pool.execute("ANALYZE")
    say("rollups rebuilt from the raw segments")
    return Generated(event_id, len(created), len(viewer_ids), written,
                     time.perf_counter() - began)  # fmt: skip


async def build(dsn: str, *, sessions: int, viewers: int, segments: int, seed: int = 1,
                log: bool = True) -> Generated:  # fmt: skip
    """Migrate the database at `dsn` if needed and generate an event in it."""
    await migrate(dsn)
    # The bulk rebuild of a 10M-segment event takes longer than a request may.
    pool = await create_pool(dsn, min_size=1, max_size=2, command_timeout=None)
    try:
        return await generate(pool, sessions=sessions, viewers=viewers, segments=segments,
                              seed=seed, log=log)  # fmt: skip
    finally:
        await pool.close()


def event_parser(doc: str | None, seconds_help: str | None = None) -> argparse.ArgumentParser:
    """The options every measuring script shares: --quick, or --dsn and --event; --seconds."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="own database, small event, <60 s")
    parser.add_argument("--dsn", help="a database prepared by bench/generate.py")
    parser.add_argument("--event", type=int, help="the event id generate.py printed")
    parser.add_argument("--seconds", type=float, default=None, help=seconds_help)
    return parser


def parse_event_args(
    parser: argparse.ArgumentParser, *, quick_seconds: float, seconds: float
) -> argparse.Namespace:
    """Parsed options; --seconds defaults to `quick_seconds` with --quick, else `seconds`."""
    args = parser.parse_args()
    if not args.quick and not (args.dsn and args.event):
        parser.error("give --quick, or --dsn and --event")
    args.seconds = args.seconds or (quick_seconds if args.quick else seconds)
    return args


def quick_or_given(stack: ExitStack, args: argparse.Namespace) -> tuple[str, int]:
    """The database and event to measure: with --quick, a throwaway embedded database
    (closed with `stack`) holding the small event; otherwise --dsn and --event."""
    if not args.quick:
        return args.dsn, args.event
    dsn = stack.enter_context(throwaway_database())
    made = asyncio.run(build(dsn, sessions=200, viewers=2000, segments=200_000, log=False))
    return dsn, made.event_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="own throwaway database, 200 sessions, 200k segments")  # fmt: skip
    parser.add_argument("--dsn", help="PostgreSQL URL (migrated if needed)")
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--viewers", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.quick:
        with throwaway_database() as dsn:
            made = asyncio.run(build(dsn, sessions=200, viewers=2000, segments=200_000))
    elif args.dsn:
        made = asyncio.run(build(args.dsn, sessions=args.sessions, viewers=args.viewers,
                                 segments=args.segments, seed=args.seed))  # fmt: skip
    else:
        parser.error("give --quick or --dsn")
    print(f"event_id={made.event_id} sessions={made.sessions} viewers={made.viewers}"
          f" segments={made.segments} seconds={made.seconds:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
