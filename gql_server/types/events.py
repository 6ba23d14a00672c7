"""Event and its sessions connection."""

import functools
import inspect
from datetime import datetime
from typing import Annotated, cast

import asyncpg
import strawberry

from gql_server.context import Info
from gql_server.engine.coercion import convert_arguments
from gql_server.engine.execution import JsonList, field_ahead, json_selection
from gql_server.services import analytics as analytics_service
from gql_server.services import events as events_service
from gql_server.services import sessions as service
from gql_server.services import webhooks as webhooks_service
from gql_server.services.sessions import Window
from gql_server.types.accounts import Organizer
from gql_server.types.analytics import TIMELINE_ARGUMENTS, PageInfo, Timeline
from gql_server.types.enums import EventAttendance, SessionOrder, TimelineBucket, WatchMode
from gql_server.types.sessions import (
    STATS_FIELDS,
    Session,
    SessionConnection,
    SessionEdge,
    WatchTime,
    load_extras,
    load_stats,
    selects_any,
    timeline_args,
)
from gql_server.types.webhooks import WebhookEndpoint
from gql_server.values.ids import parse_id

EDGES = frozenset({"edges"})


def page_request(
    event_id: int,
    *,
    first: int | None,
    after: str | None,
    search: str | None,
    order_by: SessionOrder | None,
    starts_after: datetime | None,
    starts_before: datetime | None,
) -> service.PageRequest:
    """The page Event.sessions asks for with these arguments (as its resolver gets
    them: the names of its parameters)."""
    order = (order_by or SessionOrder.START_TIME_ASC).value
    return service.PageRequest(
        event_id, first=100 if first is None else first, after=after, search=search,
        order=order, window=Window(starts_after, starts_before),
    )  # fmt: skip


PAGE_ARGUMENTS = frozenset(inspect.signature(page_request).parameters) - {"event_id"}


def sessions_ahead(info: Info, event_id: str) -> service.PageAhead | None:
    """The page Event.sessions will render below Query.event(id: event_id), for
    Query.event to read along with the event; None if it would not be rendered,
    the id or the arguments are not ones it would read, or the field is not
    Event.sessions as page_request knows it (another argument: its resolver
    reads its own page, with whatever that argument does)."""
    parsed = parse_id(event_id)
    ahead = field_ahead(info._raw_info, "sessions")
    if parsed is None or ahead is None:
        return None
    definition = (ahead.field.extensions or {}).get("strawberry-definition")
    if definition is None or definition is not EVENT_SESSIONS:
        return None
    selection = ahead.json_selection(
        info._raw_info, "nodes", excluded=EDGES, renderable=service.RENDERABLE
    )
    if selection is None:
        return None
    # The arguments as the resolver gets them (coercion.convert_arguments).
    schema = info.schema
    converted = convert_arguments(
        ahead.arguments,
        definition.arguments,
        scalar_registry=schema.schema_converter.scalar_registry,
        config=schema.config,
    )
    if set(converted) != PAGE_ARGUMENTS:
        return None
    return service.page_ahead(page_request(parsed, **converted), selection)


@strawberry.type
class EventAttendee:
    email: str = strawberry.field(description="Trimmed and lower-cased.")
    added_at: datetime


@strawberry.type(description="The event's attendee list by email (Relay cursor connection).")
class EventAttendeeConnection:
    total_count: int
    page_info: PageInfo
    nodes: list[EventAttendee]


@strawberry.type
class Event:
    id: strawberry.ID
    name: str
    attendance: EventAttendance = strawberry.field(
        description="Who may attend its sessions (see EventAttendance)."
    )
    organizer_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Event":
        return cls(
            id=strawberry.ID(str(row["id"])),
            name=row["name"],
            attendance=EventAttendance(row["attendance"]),
            organizer_id=row["organizer_id"],
        )

    @strawberry.field(description="Where the event's webhooks go (docs/webhooks.md).")
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        rows = await webhooks_service.list_endpoints(info.context.pool, event_id=int(self.id))
        return [WebhookEndpoint.from_row(row) for row in rows]

    @strawberry.field(
        description=(
            "The addresses allowed to attend when attendance is ATTENDEES_ONLY, by email."
            " first: 1..1000; search: part of the address."
        )
    )
    async def attendees(
        self,
        info: Info,
        first: int = 100,
        after: str | None = None,
        search: str | None = None,
    ) -> EventAttendeeConnection:
        page = await events_service.list_attendees(
            info.context.pool, event_id=int(self.id), first=first, after=after, search=search
        )
        return EventAttendeeConnection(
            total_count=page.total_count,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            nodes=[EventAttendee(email=r["email"], added_at=r["added_at"]) for r in page.rows],
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
        starts_after: Annotated[
            datetime | None, strawberry.argument(description="Sessions starting at or after.")
        ] = None,
        starts_before: Annotated[
            datetime | None, strawberry.argument(description="Sessions starting before.")
        ] = None,
    ) -> SessionConnection:
        request = page_request(
            int(self.id), first=first, after=after, search=search, order_by=order_by,
            starts_after=starts_after, starts_before=starts_before,
        )  # fmt: skip
        connection = functools.partial(
            SessionConnection, event_id=request.event_id, search=search, window=request.window
        )
        # Nodes whose every field PostgreSQL can print come as its JSON text.
        selection = json_selection(
            info._raw_info, "nodes", excluded=EDGES, renderable=service.RENDERABLE
        )
        if selection is not None:
            ahead, info.context.page_ahead = info.context.page_ahead, None
            rendered = await service.list_sessions_json(
                info.context.pool, request, selection=selection, ahead=ahead
            )
            if rendered is not None:
                return connection(
                    page_info=PageInfo(
                        has_next_page=rendered.has_next_page, end_cursor=rendered.end_cursor
                    ),
                    nodes=cast(list[Session], JsonList(rendered.nodes)),
                    edges=[],
                )
        # The counters come with the page (one statement, not two) when selected.
        with_stats = selects_any(info, STATS_FIELDS)
        page = await service.list_sessions(info.context.pool, request, with_stats=with_stats)
        nodes = [Session.from_row(row) for row in page.rows]
        if with_stats:
            for node, row in zip(nodes, page.rows, strict=True):
                node.apply_stats_row(row)
        await load_extras(info, nodes)
        edges = []
        if selects_any(info, EDGES):
            edges = [SessionEdge(cursor=page.cursor(i), node=n) for i, n in enumerate(nodes)]
        return connection(
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=page.cursor(len(nodes) - 1) if nodes else None,
            ),
            nodes=nodes,
            edges=edges,
        )

    @strawberry.field(
        description=(
            "When the event's sessions were watched (unique viewers over all of them): "
            + TIMELINE_ARGUMENTS
        )
    )
    async def timeline(
        self,
        info: Info,
        time_zone: str,
        bucket: TimelineBucket = TimelineBucket.DAY,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        mode: WatchMode | None = None,
    ) -> Timeline:
        args = timeline_args(time_zone, bucket, from_, to, mode)
        points = await analytics_service.timeline(
            info.context.pool, event_id=int(self.id), session_ids=None, bucket=args.bucket,
            zone_name=time_zone, start=from_, end=to, mode=args.mode,
        )  # fmt: skip
        return Timeline.of(points.get(None, []), bucket=bucket, time_zone=time_zone, mode=mode)

    @strawberry.field(description="One session of this event; null when it has no such session.")
    async def session(self, info: Info, id: strawberry.ID) -> Session | None:
        row = await service.get_event_session(
            info.context.pool, event_id=int(self.id), session_id=id
        )
        if row is None:
            return None
        session = Session.from_row(row)
        await load_stats(info, [session])
        return session

    @strawberry.field(
        description=(
            "Totals over the event's sessions (those starting in the window, when given)."
            " Watch numbers count sessions with analytics only."
        )
    )
    async def analytics(
        self,
        info: Info,
        starts_after: datetime | None = None,
        starts_before: datetime | None = None,
    ) -> "EventAnalytics":
        window = Window(starts_after, starts_before).validated()
        row = await analytics_service.event_totals(
            info.context.pool, event_id=int(self.id), window=window
        )
        live, recording = row["live_seconds"], row["recording_seconds"]
        return EventAnalytics(
            sessions=row["sessions"],
            sessions_with_analytics=row["sessions_with_analytics"],
            registrations=row["registrations"],
            registered_users=row["registered_users"],
            attendances=row["attendances"],
            attendees=row["attendees"],
            unique_viewers=row["unique_viewers"],
            unique_live_viewers=row["unique_live_viewers"],
            unique_recording_viewers=row["unique_recording_viewers"],
            watch_time=WatchTime(live=live, recording=recording, total=live + recording),
            live_views=row["live_views"],
            recording_views=row["recording_views"],
            as_of=row["as_of"],
            event_id=int(self.id),
            window=window,
        )


@strawberry.type(description="An event's totals. Counts are exact; see docs/metrics.md.")
class EventAnalytics:
    sessions: int
    sessions_with_analytics: int
    registrations: int = strawberry.field(description="Sum over sessions of registrations.")
    registered_users: int = strawberry.field(description="Users registered for any session.")
    attendances: int = strawberry.field(description="Sum over sessions of attendeeCount.")
    attendees: int = strawberry.field(
        description="Users who attended any session (joined, or watched a live second)."
    )
    unique_viewers: int = strawberry.field(
        description="Users who watched at least one second of any session, in either mode."
    )
    unique_live_viewers: int
    unique_recording_viewers: int
    watch_time: WatchTime
    live_views: int
    recording_views: int
    as_of: datetime | None = strawberry.field(
        description="When the newest change included happened; null without sessions."
    )
    event_id: strawberry.Private[int]
    window: strawberry.Private[Window]

    @strawberry.field(
        description=(
            "Sessions with analytics by views (live + recording, or one mode), most first;"
            " ties by id. first: 1..100."
        )
    )
    async def top_sessions(
        self, info: Info, first: int = 5, mode: WatchMode | None = None
    ) -> list[Session]:
        rows = await analytics_service.top_sessions(
            info.context.pool,
            event_id=self.event_id,
            window=self.window,
            first=first,
            mode=mode.value if mode else None,
        )
        sessions = [Session.from_row(row) for row in rows]
        await load_stats(info, sessions)
        return sessions


# Event.sessions as page_request knows it (sessions_ahead reads its page ahead).
EVENT_SESSIONS = Event.__strawberry_definition__.get_field("sessions")  # type: ignore[attr-defined]
