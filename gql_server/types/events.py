"""Event and its sessions connection."""

from typing import Annotated

import asyncpg
import strawberry

from gql_server.context import Context
from gql_server.services import sessions as service
from gql_server.types.accounts import Organizer
from gql_server.types.enums import SessionOrder
from gql_server.types.sessions import (
    PageInfo,
    Session,
    SessionConnection,
    SessionEdge,
    load_stats,
    selects_any,
)

EDGES = frozenset({"edges"})

Info = strawberry.Info[Context, None]


@strawberry.type
class Event:
    id: strawberry.ID
    name: str
    organizer_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Event":
        return cls(
            id=strawberry.ID(str(row["id"])), name=row["name"], organizer_id=row["organizer_id"]
        )

    @strawberry.field
    async def organizer(self, info: Info) -> Organizer:
        row = await info.context.loaders.organizer_by_id.load(self.organizer_id)
        assert row is not None, "events reference an existing organizer"
        return Organizer.from_row(row)

    @strawberry.field(
        description=(
            "All sessions of the event (Relay cursor connection). first: 1..1000. A cursor"
            " is valid only with the orderBy and search it came from. Ties are broken by"
            " session id, so paging never repeats or skips a session."
        )
    )
    async def sessions(
        self,
        info: Info,
        first: int | None = 100,
        after: str | None = None,
        search: Annotated[
            str | None, strawberry.argument(description="Case-insensitive part of the title.")
        ] = None,
        order_by: SessionOrder | None = SessionOrder.START_TIME_ASC,
    ) -> SessionConnection:
        order = (order_by or SessionOrder.START_TIME_ASC).value
        page = await service.list_sessions(
            info.context.pool,
            event_id=int(self.id),
            first=100 if first is None else first,
            after=after,
            search=search,
            order=order,
        )
        nodes = [Session.from_row(row) for row in page.rows]
        await load_stats(info, nodes)
        edges = []
        if selects_any(info, EDGES):
            edges = [SessionEdge(cursor=page.cursor(i), node=n) for i, n in enumerate(nodes)]
        return SessionConnection(
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=page.cursor(len(nodes) - 1) if nodes else None,
            ),
            nodes=nodes,
            edges=edges,
            event_id=int(self.id),
            search=search,
        )
