"""Webhook endpoints and their delivery log."""

from datetime import datetime

import asyncpg
import strawberry

from gql_server.context import Info
from gql_server.errors import bad_input
from gql_server.services import webhooks as service
from gql_server.types.analytics import PageInfo
from gql_server.types.enums import WebhookDeliveryStatus, WebhookEventType

MAX_PAYLOAD_CHARS = 1 << 20


@strawberry.type(description="One attempt to deliver a message.")
class WebhookAttempt:
    number: int = strawberry.field(description="1 for the first attempt of the message.")
    attempted_at: datetime
    duration_ms: int
    status_code: int | None = strawberry.field(
        description="The receiver's HTTP status; null when there was no answer."
    )
    error: str | None = strawberry.field(
        description="Why it did not count as delivered (null for a 2xx)."
    )
    response_body: str | None = strawberry.field(
        description="At most the first 512 bytes of the answer."
    )

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "WebhookAttempt":
        return cls(
            number=row["number"],
            attempted_at=row["attempted_at"],
            duration_ms=row["duration_ms"],
            status_code=row["status_code"],
            error=row["error"],
            response_body=row["response_body"],
        )


@strawberry.type(description="A message for an endpoint, and how its delivery went.")
class WebhookDelivery:
    id: strawberry.ID
    event_id: strawberry.Private[int]
    message_id: str = strawberry.field(
        description="The webhook-id header: the same for every attempt (receivers dedupe on it)."
    )
    event_type: WebhookEventType
    status: WebhookDeliveryStatus
    attempt_count: int
    created_at: datetime
    next_attempt_at: datetime | None = strawberry.field(description="While PENDING.")
    delivered_at: datetime | None
    body: strawberry.Private[str]

    @strawberry.field(
        description=(
            "The JSON body, exactly as signed and sent, up to its first maxChars characters"
            " (1..1048576; an event report can be megabytes): payloadLength is its whole"
            " length."
        )
    )
    def payload(self, max_chars: int = 65_536) -> str:
        if not 1 <= max_chars <= MAX_PAYLOAD_CHARS:
            raise bad_input(f"maxChars must be between 1 and {MAX_PAYLOAD_CHARS}")
        return self.body[:max_chars]

    @strawberry.field(description="The whole payload's length, in characters.")
    def payload_length(self) -> int:
        return len(self.body)

    @strawberry.field(description="Every attempt, oldest first.")
    async def attempts(self, info: Info) -> list[WebhookAttempt]:
        rows = await info.context.loaders.webhook_attempts.load((self.event_id, int(self.id)))
        return [WebhookAttempt.from_row(row) for row in rows]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "WebhookDelivery":
        pending = row["status"] == "PENDING"
        return cls(
            id=strawberry.ID(str(row["id"])),
            event_id=row["event_id"],
            message_id=row["message_id"],
            event_type=WebhookEventType(row["event_type"]),
            status=WebhookDeliveryStatus(row["status"]),
            attempt_count=row["attempt_count"],
            created_at=row["created_at"],
            next_attempt_at=row["next_attempt_at"] if pending else None,
            delivered_at=row["delivered_at"],
            body=row["body"],
        )


@strawberry.type(description="An endpoint's messages, newest first (Relay cursor connection).")
class WebhookDeliveryConnection:
    total_count: int
    page_info: PageInfo
    nodes: list[WebhookDelivery]


@strawberry.type(description="Where an event's webhooks go. The secret is never shown here.")
class WebhookEndpoint:
    id: strawberry.ID
    event_id: strawberry.ID
    url: str
    event_types: list[WebhookEventType]
    enabled: bool
    created_at: datetime
    secret_rotated_at: datetime

    @strawberry.field(description="first: 1..100; status: only those.")
    async def deliveries(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        status: WebhookDeliveryStatus | None = None,
    ) -> WebhookDeliveryConnection:
        page = await service.list_deliveries(
            info.context.pool,
            event_id=int(self.event_id),
            endpoint_id=int(self.id),
            first=first,
            after=after,
            status=status.value if status is not None else None,
        )
        return WebhookDeliveryConnection(
            total_count=page.total_count,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            nodes=[WebhookDelivery.from_row(row) for row in page.rows],
        )

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "WebhookEndpoint":
        return cls(
            id=strawberry.ID(str(row["id"])),
            event_id=strawberry.ID(str(row["event_id"])),
            url=row["url"],
            event_types=[WebhookEventType(t) for t in row["event_types"]],
            enabled=row["enabled"],
            created_at=row["created_at"],
            secret_rotated_at=row["secret_rotated_at"],
        )


@strawberry.type
class WebhookSecretPayload:
    endpoint: WebhookEndpoint
    secret: str = strawberry.field(
        description=(
            "The signing secret (whsec_...), shown this once. After a rotation the previous"
            " one also signs for 24 hours."
        )
    )
