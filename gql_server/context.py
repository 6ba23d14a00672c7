"""The per-request context: pool, signed-in viewer, DataLoaders."""

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from strawberry.dataloader import DataLoader

from gql_server.auth import Passwords, Viewer
from gql_server.db import Pool
from gql_server.repo import analytics, events, sessions
from gql_server.repo.analytics import ConcurrencyKey, RetentionKey, ViewerPageArgs
from gql_server.settings import Settings

K = TypeVar("K", bound=Hashable)


def _by_key(
    fetch: Callable[[Pool, list[K]], Awaitable[list[asyncpg.Record]]],
    pool: Pool,
    key: Callable[[asyncpg.Record], K],
) -> DataLoader[K, asyncpg.Record | None]:
    """A loader answering each key with its row, or None when there is none."""

    async def load(keys: Sequence[K]) -> list[asyncpg.Record | None]:
        rows = {key(row): row for row in await fetch(pool, list(keys))}
        return [rows.get(k) for k in keys]

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    """Created per request: a loader caches for as long as it lives."""

    pool: Pool
    organizer_by_id: DataLoader[int, asyncpg.Record | None] = field(init=False)
    session_stats_by_page: DataLoader[tuple[tuple[int, int], ...], list[asyncpg.Record | None]] = (
        field(init=False)
    )

    retention: DataLoader[RetentionKey, asyncpg.Record] = field(init=False)
    concurrency: DataLoader[ConcurrencyKey, asyncpg.Record] = field(init=False)
    viewer_page: DataLoader[tuple[int, int, ViewerPageArgs], list[asyncpg.Record]] = field(
        init=False
    )
    viewer_count: DataLoader[tuple[int, int, str | None], int] = field(init=False)

    def __post_init__(self) -> None:
        self.organizer_by_id = _by_key(events.load_organizers_by_id, self.pool, lambda r: r["id"])
        self.session_stats_by_page = DataLoader(load_fn=self._load_stats_of_pages)
        # One statement for every session of a page (keys carry their arguments).
        self.retention = DataLoader(load_fn=self._load_retention)
        self.concurrency = DataLoader(load_fn=self._load_concurrency)
        self.viewer_page = DataLoader(load_fn=self._load_viewer_pages)
        self.viewer_count = DataLoader(load_fn=self._load_viewer_counts)

    async def _load_retention(self, keys: Sequence[RetentionKey]) -> list[asyncpg.Record]:
        rows = await analytics.load_retention(self.pool, keys)
        found = {(r["session_id"], r["mode"], r["buckets"]): r for r in rows}
        return [found[(k.session_id, k.mode, k.buckets)] for k in keys]

    async def _load_concurrency(self, keys: Sequence[ConcurrencyKey]) -> list[asyncpg.Record]:
        rows = await analytics.load_concurrency(self.pool, keys)
        found = {(r["session_id"], r["bucket_seconds"]): r for r in rows}
        return [found[(k.session_id, k.bucket_seconds)] for k in keys]

    async def _load_viewer_pages(
        self, keys: Sequence[tuple[int, int, ViewerPageArgs]]
    ) -> list[list[asyncpg.Record]]:
        """One statement per distinct set of arguments (usually one per request)."""
        pages: dict[tuple[int, ViewerPageArgs], list[asyncpg.Record]] = {}
        by_args: dict[ViewerPageArgs, list[tuple[int, int]]] = {}
        for event_id, session_id, args in keys:
            by_args.setdefault(args, []).append((event_id, session_id))
        for args, wanted in by_args.items():
            for row in await analytics.list_viewers(self.pool, wanted, args):
                pages.setdefault((row["session_id"], args), []).append(row)
        return [pages[(session_id, args)] for _, session_id, args in keys]

    async def _load_viewer_counts(self, keys: Sequence[tuple[int, int, str | None]]) -> list[int]:
        counts: dict[tuple[int, str | None], int] = {}
        by_search: dict[str | None, list[tuple[int, int]]] = {}
        for event_id, session_id, search in keys:
            by_search.setdefault(search, []).append((event_id, session_id))
        for search, wanted in by_search.items():
            for row in await analytics.count_viewers(self.pool, wanted, search):
                counts[(row["session_id"], search)] = row["count"]
        return [counts[(session_id, search)] for _, session_id, search in keys]

    async def _load_stats_of_pages(
        self, pages: Sequence[tuple[tuple[int, int], ...]]
    ) -> list[list[asyncpg.Record | None]]:
        """Counters of whole pages of sessions, keyed (event_id, session_id).

        Keyed by page rather than by session: one future per page instead of
        one per session (~15 us each), and still one query for all the pages
        a request asks for.
        """
        keys = sorted({key for page in pages for key in page})
        rows = await sessions.load_session_stats(self.pool, keys)
        found = {(row["event_id"], row["session_id"]): row for row in rows}
        return [[found.get(key) for key in page] for page in pages]


@dataclass
class Context:
    pool: Pool
    settings: Settings
    passwords: Passwords
    viewer: Viewer | None
    loaders: Loaders
    # The connection_init payload of a WebSocket (subscriptions.py); else None.
    connection_params: Any = None
