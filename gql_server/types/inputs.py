"""Mutation inputs and payloads."""

from datetime import datetime

import strawberry

from gql_server.types.enums import (
    EventAttendance,
    Role,
    SessionFormat,
    StreamProvider,
    WatchMode,
    WebhookEventType,
)


@strawberry.input
class CreateEventInput:
    organizer_id: strawberry.ID
    name: str
    attendance: EventAttendance = strawberry.field(
        default=EventAttendance.OPEN, description="Who may attend its sessions."
    )


@strawberry.input
class CreateSessionInput:
    title: str
    start_time: datetime
    end_time: datetime = strawberry.field(description="Must be after startTime.")
    format: SessionFormat
    stream_provider: StreamProvider | None = strawberry.field(
        default=None, description="Must be null for WORKSHOP and MEET_UP."
    )
    video_duration: int | None = strawberry.field(
        default=None, description="Seconds, > 0; null when not known yet."
    )


@strawberry.input(
    description=(
        "Fields left out stay as they are; an explicit null clears streamProvider or"
        " videoDuration and is an error for the others."
    )
)
class UpdateSessionInput:
    title: str | None = strawberry.UNSET
    start_time: datetime | None = strawberry.UNSET
    end_time: datetime | None = strawberry.UNSET
    format: SessionFormat | None = strawberry.UNSET
    stream_provider: StreamProvider | None = strawberry.UNSET
    video_duration: int | None = strawberry.UNSET


@strawberry.input
class GrantRoleInput:
    user_id: strawberry.ID
    role: Role
    organizer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for ORGANIZER_ADMIN."
    )
    event_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for EVENT_ADMIN."
    )


@strawberry.input
class WatchSegmentInput:
    session_id: strawberry.ID
    mode: WatchMode
    start_second: int = strawberry.field(
        description="Position in the video (LIVE: since the stream began), >= 0."
    )
    end_second: int = strawberry.field(
        description="Exclusive, > startSecond. Seconds past the duration are clipped."
    )


@strawberry.type
class RecordWatchPayload:
    accepted: int = strawberry.field(description="Segments received and stored.")


@strawberry.type
class AddEventAttendeesPayload:
    added: int = strawberry.field(description="Addresses that were not on the list yet.")
    already_listed: int


@strawberry.input
class CreateWebhookEndpointInput:
    event_id: strawberry.ID
    url: str = strawberry.field(
        description=(
            "http(s) URL that resolves to public addresses only (no loopback, private,"
            " link-local or metadata addresses); redirects are not followed."
        )
    )
    event_types: list[WebhookEventType] = strawberry.field(description="At least one.")


@strawberry.input(description="Fields left out stay as they are.")
class UpdateWebhookEndpointInput:
    url: str | None = strawberry.UNSET
    event_types: list[WebhookEventType] | None = strawberry.UNSET
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="false: nothing is sent (messages wait, or none are made).",
    )
