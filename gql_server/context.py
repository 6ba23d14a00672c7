"""The per-request context: pool, signed-in actor, DataLoaders."""

import asyncio
import contextlib
import functools
import weakref
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import strawberry
from starlette.websockets import WebSocket, WebSocketState
from strawberry.dataloader import DataLoader

from gql_server.auth import Actor, Passwords
from gql_server.db import Pool
from gql_server.mail import Mail
from gql_server.repo import analytics, events, sessions
from gql_server.repo.analytics import ConcurrencyKey, RetentionKey, ViewerPageArgs, ViewsKey
from gql_server.services import analytics as analytics_service
from gql_server.services import webhooks
from gql_server.services.accounts import TokenLookup
from gql_server.services.analytics import TimelinePoint
from gql_server.services.sessions import PageAhead
from gql_server.services.throttle import Throttle
from gql_server.settings import Settings
from gql_server.telemetry.metrics import Metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedLoader(DataLoader[K, V]):
    """A DataLoader whose futures, shared by every field that asks for the same key,
    are not cancelled with one of them: graphql-core cancels the sibling fields of
    a field whose error nulls their parent, and a cancelled task cancels the
    future it awaits, which another field (elsewhere in the answer) may await too;
    that field would end with CancelledError, which no field error handler catches."""

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(super().load(key))


def _by_key(
    fetch: Callable[[Pool, list[K]], Awaitable[list[asyncpg.Record]]],
    pool: Pool,
    key: Callable[[asyncpg.Record], K],
) -> DataLoader[K, asyncpg.Record | None]:
    """A loader answering each key with its row, or None when there is none."""

    async def load(keys: Sequence[K]) -> list[asyncpg.Record | None]:
        rows = {key(row): row for row in await fetch(pool, list(keys))}
        return [rows.get(k) for k in keys]

    return SharedLoader(load_fn=load)


class Loaders:
    """Created per request: a loader caches for as long as it lives.

    Each loader is made on first use (most requests need one or none), and
    its load function holds the pool, not this object: a loader pointing back
    here would make a reference cycle, and a request's cycles are freed only
    by the garbage collector, whose full passes cost tens of milliseconds.
    """

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @functools.cached_property
    def organizer_by_id(self) -> DataLoader[int, asyncpg.Record | None]:
        return _by_key(events.load_organizers_by_id, self.pool, lambda r: r["id"])

    @functools.cached_property
    def session_stats_by_page(
        self,
    ) -> DataLoader[tuple[tuple[int, int], ...], list[asyncpg.Record | None]]:
        return SharedLoader(load_fn=functools.partial(_load_stats_of_pages, self.pool))

    # One statement for every session of a page (keys carry their arguments).
    @functools.cached_property
    def retention(self) -> DataLoader[RetentionKey, asyncpg.Record]:
        return SharedLoader(load_fn=functools.partial(_load_retention, self.pool))

    @functools.cached_property
    def concurrency(self) -> DataLoader[ConcurrencyKey, asyncpg.Record]:
        return SharedLoader(load_fn=functools.partial(_load_concurrency, self.pool))

    @functools.cached_property
    def viewer_page(self) -> DataLoader[tuple[int, int, ViewerPageArgs], list[asyncpg.Record]]:
        return SharedLoader(load_fn=functools.partial(_load_viewer_pages, self.pool))

    @functools.cached_property
    def session_extras(self) -> DataLoader[tuple[int, int], asyncpg.Record | None]:
        return _by_key(
            analytics.load_session_extras, self.pool, lambda r: (r["event_id"], r["session_id"])
        )

    @functools.cached_property
    def views_at(self) -> DataLoader[ViewsKey, int]:
        return SharedLoader(load_fn=functools.partial(_load_views_at, self.pool))

    @functools.cached_property
    def timeline(self) -> "DataLoader[TimelineKey, list[TimelinePoint]]":
        return SharedLoader(load_fn=functools.partial(_load_timelines, self.pool))

    @functools.cached_property
    def webhook_attempts(self) -> DataLoader[tuple[int, int], list[asyncpg.Record]]:
        return SharedLoader(load_fn=functools.partial(webhooks.load_attempts, self.pool))

    @functools.cached_property
    def viewer_count(self) -> DataLoader[tuple[int, int, str | None], int]:
        return SharedLoader(load_fn=functools.partial(_load_viewer_counts, self.pool))


@dataclass(frozen=True)
class TimelineArgs:
    bucket: str
    zone_name: str
    start: datetime | None
    end: datetime | None
    mode: str | None


@dataclass(frozen=True)
class TimelineKey:
    event_id: int
    session_id: int
    args: TimelineArgs


async def _load_timelines(pool: Pool, keys: Sequence[TimelineKey]) -> list[list[TimelinePoint]]:
    """One statement (two without from/to) per distinct arguments, for every session."""
    groups: dict[tuple[int, TimelineArgs], list[int]] = {}
    for key in keys:
        groups.setdefault((key.event_id, key.args), []).append(key.session_id)
    found: dict[tuple[int, TimelineArgs, int], list[TimelinePoint]] = {}
    for (event_id, args), session_ids in groups.items():
        points = await analytics_service.timeline(
            pool, event_id=event_id, session_ids=sorted(set(session_ids)), bucket=args.bucket,
            zone_name=args.zone_name, start=args.start, end=args.end, mode=args.mode,
        )  # fmt: skip
        for session_id in session_ids:
            found[(event_id, args, session_id)] = points.get(session_id, [])
    return [found[(k.event_id, k.args, k.session_id)] for k in keys]


async def _load_views_at(pool: Pool, keys: Sequence[ViewsKey]) -> list[int]:
    rows = await analytics.load_views_at(pool, keys)
    views = {(r["session_id"], r["mode"], r["threshold"]): r["views"] for r in rows}
    return [views[(k.session_id, k.mode, k.threshold)] for k in keys]


async def _load_retention(pool: Pool, keys: Sequence[RetentionKey]) -> list[asyncpg.Record]:
    rows = await analytics.load_retention(pool, keys)
    found = {(r["session_id"], r["mode"], r["buckets"]): r for r in rows}
    return [found[(k.session_id, k.mode, k.buckets)] for k in keys]


async def _load_concurrency(pool: Pool, keys: Sequence[ConcurrencyKey]) -> list[asyncpg.Record]:
    rows = await analytics.load_concurrency(pool, keys)
    found = {(r["session_id"], r["bucket_seconds"]): r for r in rows}
    return [found[(k.session_id, k.bucket_seconds)] for k in keys]


async def _load_viewer_pages(
    pool: Pool, keys: Sequence[tuple[int, int, ViewerPageArgs]]
) -> list[list[asyncpg.Record]]:
    """One statement per distinct set of arguments (usually one per request)."""
    pages: dict[tuple[int, ViewerPageArgs], list[asyncpg.Record]] = {}
    by_args: dict[ViewerPageArgs, list[tuple[int, int]]] = {}
    for event_id, session_id, args in keys:
        by_args.setdefault(args, []).append((event_id, session_id))
    for args, wanted in by_args.items():
        for row in await analytics.list_viewers(pool, wanted, args):
            pages.setdefault((row["session_id"], args), []).append(row)
    return [pages[(session_id, args)] for _, session_id, args in keys]


async def _load_viewer_counts(
    pool: Pool, keys: Sequence[tuple[int, int, str | None]]
) -> list[int]:
    counts: dict[tuple[int, str | None], int] = {}
    by_search: dict[str | None, list[tuple[int, int]]] = {}
    for event_id, session_id, search in keys:
        by_search.setdefault(search, []).append((event_id, session_id))
    for search, wanted in by_search.items():
        for row in await analytics.count_viewers(pool, wanted, search):
            counts[(row["session_id"], search)] = row["count"]
    return [counts[(session_id, search)] for _, session_id, search in keys]


async def _load_stats_of_pages(
    pool: Pool, pages: Sequence[tuple[tuple[int, int], ...]]
) -> list[list[asyncpg.Record | None]]:
    """Counters of whole pages of sessions, keyed (event_id, session_id).

    Keyed by page rather than by session: one future per page instead of
    one per session, and still one query for all the pages
    a request asks for.
    """
    keys = sorted({key for page in pages for key in page})
    rows = await sessions.load_session_stats(pool, keys)
    found = {(row["event_id"], row["session_id"]): row for row in rows}
    return [[found.get(key) for key in page] for page in pages]


def socket_open(socket: WebSocket) -> bool:
    closed = WebSocketState.DISCONNECTED
    return socket.client_state != closed and socket.application_state != closed


@dataclass
class Context:
    pool: Pool
    settings: Settings
    passwords: Passwords
    actor: Actor | None
    loaders: Loaders
    # The connection_init payload of a WebSocket (subscriptions.py); else None.
    connection_params: Any = None
    # The socket a subscription runs on (subscriptions.py); else None.
    websocket: WebSocket | None = None
    # Whether the result is serialized by orjson, so that lists the database
    # rendered may go into it as they are (execution.JsonList): HTTP only.
    json_lists: bool = False
    # The operation's executor (set by execution.FastListExecutor, weakly).
    executor: "weakref.ref[Any] | None" = None
    # The request's bearer token while it may not be looked up yet (HTTP:
    # accounts.TokenLookup); `actor` is then None. Resolvers call signed_in().
    token_lookup: TokenLookup | None = None
    # A sessions page Query.event read along with the event (types.events.sessions_ahead).
    page_ahead: PageAhead | None = None
    # The client's address (HTTP and WebSocket) and the process's throttle of
    # sign-ins, sign-ups and password checks per address (services.throttle).
    client: str | None = None
    throttle: Throttle = field(default_factory=lambda: Throttle({}))
    # How the server sends mail (verification links); by default it sends none.
    mail: Mail = field(default_factory=Mail.disabled)
    # The app's metrics (telemetry/metrics.py); None when they are off.
    metrics: Metrics | None = None

    async def signed_in(self) -> Actor | None:
        """The signed-in actor, None without a token (or with one that is not live)."""
        if self.actor is None and self.token_lookup is not None:
            return await self.token_lookup.actor(self.pool)
        return self.actor

    def may_claim_token_lookup(self) -> bool:
        """Whether claim_token_lookup() would give the token now."""
        return self.actor is None and self.token_lookup is not None and self.token_lookup.claimable

    def claim_token_lookup(self) -> TokenLookup | None:
        """The token, when the caller is to look it up in its own statement (TokenLookup.claim)."""
        if self.actor is None and self.token_lookup is not None and self.token_lookup.claim():
            return self.token_lookup
        return None

    async def end_connection(self, code: int, reason: str) -> None:
        """Close the subscription's socket, if it is one and still open."""
        if self.websocket is not None and socket_open(self.websocket):
            with contextlib.suppress(RuntimeError):  # it closed in between
                await self.websocket.close(code, reason)


# What every resolver receives: `info: Info` (its context is a Context).
Info = strawberry.Info[Context, None]
