"""Query, Mutation and Subscription: thin resolvers over the services."""

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import fields
from typing import Any

import strawberry
from graphql import GraphQLResolveInfo

from gql_server.context import Context, Info, Loaders
from gql_server.services import accounts, erasure, events, sessions, watch, webhooks
from gql_server.services.sessions import NewSession
from gql_server.types.accounts import LoginPayload, Organizer, User
from gql_server.types.enums import EventAttendance
from gql_server.types.events import Event, sessions_ahead
from gql_server.types.inputs import (
    AddEventAttendeesPayload,
    CreateEventInput,
    CreateSessionInput,
    CreateWebhookEndpointInput,
    GrantRoleInput,
    RecordWatchPayload,
    UpdateSessionInput,
    UpdateWebhookEndpointInput,
    WatchSegmentInput,
)
from gql_server.types.sessions import Session, WatchSession, load_stats
from gql_server.types.webhooks import WebhookDelivery, WebhookEndpoint, WebhookSecretPayload


@strawberry.type
class Query:
    @strawberry.field(
        description="Host-side analytics. Errors: 401, 4040200 (no such event), 4030201."
    )
    async def event(self, info: Info, id: strawberry.ID) -> Event | None:
        ctx = info.context
        # The sessions page, when PostgreSQL renders it, and the token's lookup
        # go with the event's statement.
        ahead = sessions_ahead(info, id) if ctx.may_claim_token_lookup() else None
        lookup = ctx.claim_token_lookup()
        if lookup is not None:
            row = await events.get_hosted_event_looking_up(
                ctx.pool, lookup, event_id=id, along=ahead
            )
            if ahead is not None and ahead.row is not None:
                ctx.page_ahead = ahead
        else:
            row = await events.get_hosted_event(ctx.pool, await ctx.signed_in(), event_id=id)
        return Event.from_row(row)

    @strawberry.field(
        description=(
            "Events the signed-in user hosts (every event for a super admin), newest first."
            " first: 1..1000. Errors: 401."
        )
    )
    async def hosted_events(self, info: Info, first: int = 100) -> list[Event]:
        ctx = info.context
        rows = await events.hosted_events(ctx.pool, await ctx.signed_in(), first=first)
        return [Event.from_row(row) for row in rows]

    @strawberry.field(
        description=(
            "A session as an attendee sees it, for watch pages and player trackers. Signed in"
            " (401); unknown session 404800; an ATTENDEES_ONLY event that does not list the"
            " caller 4030202."
        )
    )
    async def watch_session(self, info: Info, session_id: strawberry.ID) -> WatchSession:
        ctx = info.context
        row = await sessions.get_watch_session(
            ctx.pool, await ctx.signed_in(), session_id=session_id
        )
        return WatchSession.from_row(row)

    @strawberry.field(description="The signed-in user; null when the request has no token.")
    async def me(self, info: Info) -> User | None:
        actor = await info.context.signed_in()
        if actor is None:
            return None
        return User(
            id=strawberry.ID(str(actor.user_id)),
            email=actor.email,
            name=actor.name,
            is_super_admin=actor.is_super_admin,
            email_verified=actor.email_verified,
        )


def _value(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def _given(input: Any) -> dict[str, Any]:
    """The fields a client set (explicit nulls included), enums as their names."""
    return {
        f.name: _value(getattr(input, f.name))
        for f in fields(input)
        if getattr(input, f.name) is not strawberry.UNSET
    }


async def _with_stats(info: Info, session: Session) -> Session:
    await load_stats(info, [session])
    return session


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Public. Wrong email or password: 401.")
    async def login(self, info: Info, email: str, password: str) -> LoginPayload:
        ctx = info.context
        ctx.throttle.take("sign-in", ctx.client)
        signed_in = await accounts.login(
            ctx.pool,
            ctx.passwords,
            email=email,
            password=password,
            token_ttl=ctx.settings.token_ttl,
        )
        return LoginPayload(
            token=signed_in.token,
            expires_at=signed_in.expires_at,
            user=User.from_row(signed_in.user),
        )

    @strawberry.mutation(
        description=(
            "Public. Creates an attendee account. The answer is the same whether or not the"
            " address already has an account (so it cannot be used to find out): when it has,"
            " nothing changes, and its owner signs in with the password they already have."
            " A new account's address is unverified: a verification link is mailed to it"
            " (when the server sends mail). Invalid input (email, a name of 1..200"
            " characters, a password of 8..1024): 400."
        )
    )
    async def sign_up(self, info: Info, email: str, password: str, name: str) -> User:
        ctx = info.context
        ctx.throttle.take("sign-up", ctx.client)
        row = await accounts.sign_up(
            ctx.pool, ctx.passwords, ctx.mail, email=email, password=password, name=name
        )
        return User.from_row(row)

    @strawberry.mutation(
        description=(
            "Mails a verification link to the signed-in user's address, before answering;"
            " false when the address is verified already. One a minute (429 with"
            " Retry-After); 5030101 when this server sends no mail or the mail server"
            " refused the message. The link works once, for 24 hours."
        )
    )
    async def request_email_verification(self, info: Info) -> bool:
        ctx = info.context
        return await accounts.request_email_verification(ctx.pool, ctx.mail, await ctx.signed_in())

    @strawberry.mutation(
        description=(
            "Public: the token of a verification link (what follows `#token=`) proves its"
            " account's address; the answer is that account. Unknown, used or expired"
            " (24 hours), or sent to an address the account no longer has: 4000101."
        )
    )
    async def verify_email(self, info: Info, token: str) -> User:
        return User.from_row(await accounts.verify_email(info.context.pool, token=token))

    @strawberry.mutation(description="Revokes the token that made the request.")
    async def logout(self, info: Info) -> bool:
        await accounts.logout(info.context.pool, await info.context.signed_in())
        return True

    @strawberry.mutation(
        description=(
            "Super admin only (403; unknown user 404). Erases a person as if they had never"
            " registered, joined or watched: their registrations, joins, raw segments and"
            " per-viewer rows go, their tokens and roles with them, and every session they"
            " touched is recounted exactly (its asOf moves). Returns how many sessions were"
            " recounted. docs/privacy.md says what is kept."
        )
    )
    async def erase_user(self, info: Info, user_id: strawberry.ID) -> int:
        return await erasure.erase_user(
            info.context.pool, await info.context.signed_in(), user_id=user_id
        )

    @strawberry.mutation(
        description=(
            "The signed-in person erases their own account, as eraseUser does, confirming"
            " with their password (wrong: 401). Returns how many sessions were recounted."
        )
    )
    async def delete_my_account(self, info: Info, password: str) -> int:
        ctx = info.context
        ctx.throttle.take("sign-in", ctx.client)  # a password check, as a sign-in is
        return await erasure.delete_my_account(
            ctx.pool, ctx.passwords, await ctx.signed_in(), password=password
        )

    @strawberry.mutation(description="Super admin only.")
    async def create_organizer(self, info: Info, name: str) -> Organizer:
        ctx = info.context
        return Organizer.from_row(
            await events.create_organizer(ctx.pool, await ctx.signed_in(), name=name)
        )

    @strawberry.mutation(description="Super admin, or an organizer admin of organizerId.")
    async def create_event(self, info: Info, input: CreateEventInput) -> Event:
        ctx = info.context
        row = await events.create_event(
            ctx.pool,
            await ctx.signed_in(),
            organizer_id=input.organizer_id,
            name=input.name,
            attendance=input.attendance.value,
        )
        return Event.from_row(row)

    @strawberry.mutation(
        description="A host of the event (401, 4040200, 4030201). See EventAttendance."
    )
    async def set_event_attendance(
        self, info: Info, event_id: strawberry.ID, attendance: EventAttendance
    ) -> Event:
        ctx = info.context
        row = await events.set_attendance(
            ctx.pool, await ctx.signed_in(), event_id=event_id, attendance=attendance.value
        )
        return Event.from_row(row)

    @strawberry.mutation(
        description=(
            "Puts addresses on the event's attendee list (people without an account yet"
            " too: signing up with the address is enough). At most 1000 a call, all or"
            " nothing (a bad one: 400 naming its index). A host of the event."
        )
    )
    async def add_event_attendees(
        self, info: Info, event_id: strawberry.ID, emails: list[str]
    ) -> AddEventAttendeesPayload:
        ctx = info.context
        added, listed = await events.add_attendees(
            ctx.pool, await ctx.signed_in(), event_id=event_id, emails=emails
        )
        return AddEventAttendeesPayload(added=added, already_listed=listed)

    @strawberry.mutation(
        description=(
            "Takes addresses off the attendee list; returns how many were on it. What they"
            " recorded stays counted. A host of the event."
        )
    )
    async def remove_event_attendees(
        self, info: Info, event_id: strawberry.ID, emails: list[str]
    ) -> int:
        ctx = info.context
        return await events.remove_attendees(
            ctx.pool, await ctx.signed_in(), event_id=event_id, emails=emails
        )

    @strawberry.mutation(description="A host of the event.")
    async def create_session(
        self, info: Info, event_id: strawberry.ID, input: CreateSessionInput
    ) -> Session:
        ctx = info.context
        new = NewSession(**_given(input))
        row = await sessions.create_session(
            ctx.pool, await ctx.signed_in(), event_id=event_id, session=new
        )
        return await _with_stats(info, Session.from_row(row))

    @strawberry.mutation(description="A host of the session's event. Only given fields change.")
    async def update_session(
        self, info: Info, session_id: strawberry.ID, input: UpdateSessionInput
    ) -> Session:
        ctx = info.context
        row = await sessions.update_session(
            ctx.pool, await ctx.signed_in(), session_id=session_id, changes=_given(input)
        )
        return await _with_stats(info, Session.from_row(row))

    @strawberry.mutation(
        description=(
            "Registers where the event's webhooks go; the answer carries the signing secret,"
            " shown this once. A host of the event (401, 4040200, 4030201); a URL that is not"
            " http(s) or resolves to a non-public address: 400 saying why."
        )
    )
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> WebhookSecretPayload:
        ctx = info.context
        row, secret = await webhooks.create_endpoint(
            ctx.pool,
            await ctx.signed_in(),
            event_id=input.event_id,
            url=input.url,
            event_types=[t.value for t in input.event_types],
            allowed_hosts=ctx.settings.webhook_allowed_hosts,
        )
        return WebhookSecretPayload(endpoint=WebhookEndpoint.from_row(row), secret=secret)

    @strawberry.mutation(
        description="Only the given fields change. A host (401, 4040300, 4030201)."
    )
    async def update_webhook_endpoint(
        self, info: Info, id: strawberry.ID, input: UpdateWebhookEndpointInput
    ) -> WebhookEndpoint:
        ctx = info.context
        changes = _given(input)
        if changes.get("event_types") is not None:
            changes["event_types"] = [t.value for t in changes["event_types"]]
        row = await webhooks.update_endpoint(
            ctx.pool,
            await ctx.signed_in(),
            endpoint_id=id,
            changes=changes,
            allowed_hosts=ctx.settings.webhook_allowed_hosts,
        )
        return WebhookEndpoint.from_row(row)

    @strawberry.mutation(
        description=(
            "A new signing secret, shown this once; the old one keeps signing beside it for"
            " 24 hours. A host (401, 4040300, 4030201)."
        )
    )
    async def rotate_webhook_secret(self, info: Info, id: strawberry.ID) -> WebhookSecretPayload:
        ctx = info.context
        row, secret = await webhooks.rotate_secret(ctx.pool, await ctx.signed_in(), endpoint_id=id)
        return WebhookSecretPayload(endpoint=WebhookEndpoint.from_row(row), secret=secret)

    @strawberry.mutation(
        description=(
            "Deletes the endpoint and its delivery log (pending messages are not sent)."
            " A host (401, 4040300, 4030201)."
        )
    )
    async def delete_webhook_endpoint(self, info: Info, id: strawberry.ID) -> bool:
        ctx = info.context
        await webhooks.delete_endpoint(ctx.pool, await ctx.signed_in(), endpoint_id=id)
        return True

    @strawberry.mutation(
        description=(
            "Queues an event.report message (every session's numbers) for each enabled"
            " endpoint of the event that wants it; returns how many. A host of the event."
        )
    )
    async def request_event_report(self, info: Info, event_id: strawberry.ID) -> int:
        ctx = info.context
        return await webhooks.request_event_report(
            ctx.pool, await ctx.signed_in(), event_id=event_id
        )

    @strawberry.mutation(
        description=(
            "Sends a FAILED (or DELIVERED) message again, with a new retry schedule and the"
            " same webhook-id. A host (401, 4040301, 4030201); a PENDING one: 400."
        )
    )
    async def resend_webhook_delivery(self, info: Info, id: strawberry.ID) -> WebhookDelivery:
        ctx = info.context
        row = await webhooks.resend_delivery(ctx.pool, await ctx.signed_in(), delivery_id=id)
        return WebhookDelivery.from_row(row)

    @strawberry.mutation(description="See the contract for who may grant what.")
    async def grant_role(self, info: Info, input: GrantRoleInput) -> bool:
        ctx = info.context
        await events.grant_role(
            ctx.pool,
            await ctx.signed_in(),
            user_id=input.user_id,
            role=input.role.value,
            organizer_id=input.organizer_id,
            event_id=input.event_id,
        )
        return True

    @strawberry.mutation(
        description=(
            "Idempotent. Unknown session: 404800; an ATTENDEES_ONLY event that does not"
            " list the caller: 4030202 (nothing is written)."
        )
    )
    async def register_for_session(self, info: Info, session_id: strawberry.ID) -> bool:
        await sessions.register(
            info.context.pool, await info.context.signed_in(), session_id=session_id
        )
        return True

    @strawberry.mutation(
        description="Idempotent. Unknown session: 404800 (allowed off the attendee list too)."
    )
    async def unregister_from_session(self, info: Info, session_id: strawberry.ID) -> bool:
        await sessions.unregister(
            info.context.pool, await info.context.signed_in(), session_id=session_id
        )
        return True

    @strawberry.mutation(
        description=(
            "Idempotent. Unknown session: 404800; an ATTENDEES_ONLY event that does not"
            " list the caller: 4030202 (nothing is written)."
        )
    )
    async def join_session(self, info: Info, session_id: strawberry.ID) -> bool:
        await sessions.join(
            info.context.pool, await info.context.signed_in(), session_id=session_id
        )
        return True

    @strawberry.mutation(
        description=(
            "Player heartbeats for the signed-in user; all or nothing, at most 1000. A session"
            " of an ATTENDEES_ONLY event that does not list the caller: 4030202, before"
            " anything about the session is looked at."
        )
    )
    async def record_watch(
        self, info: Info, segments: list[WatchSegmentInput]
    ) -> RecordWatchPayload:
        reported = [
            watch.ReportedSegment(
                session_id=s.session_id,
                mode=s.mode.value,
                start_second=s.start_second,
                end_second=s.end_second,
            )
            for s in segments
        ]
        return RecordWatchPayload(accepted=await _record_watch(info.context, reported))


async def resolve_record_watch_fast(
    _root: Any, info: GraphQLResolveInfo[Context], segments: list[dict[str, Any]]
) -> RecordWatchPayload:
    """Mutation.recordWatch on graphql-core's coerced values (installed by schema.py).

    Strawberry converts each input object field by field (resolving
    annotations, converting names): for a batch of 100 segments that was more
    than half of the request's CPU. graphql-core has already coerced and
    validated the values (dicts keyed by GraphQL names, enums as members).
    Same service call, same errors as Mutation.record_watch.
    """
    reported = [
        watch.ReportedSegment(s["sessionId"], s["mode"].value, s["startSecond"], s["endSecond"])
        for s in segments
    ]
    return RecordWatchPayload(accepted=await _record_watch(info.context, reported))


async def _record_watch(ctx: Context, reported: list[watch.ReportedSegment]) -> int:
    """watch.record_watch, counted in the metrics (a batch is all or nothing)."""
    try:
        accepted = await watch.record_watch(ctx.pool, await ctx.signed_in(), reported)
    except BaseException:
        if ctx.metrics is not None:
            ctx.metrics.segments.labels("refused").inc(len(reported))
        raise
    if ctx.metrics is not None:
        ctx.metrics.segments.labels("accepted").inc(accepted)
    return accepted


async def _still_signed_in(ctx: Context) -> bool:
    """Whether the socket's token is still live; if not, the socket is closed (4403).

    Checked before each push and each new subscription: after logout, or
    once the token expires, nothing more is sent (subscriptions.py also
    closes the socket at the token's expiry, pushes or not).
    """
    if await accounts.still_signed_in(ctx.pool, ctx.actor):
        return True
    await ctx.end_connection(TOKEN_ENDED, "The token was revoked or has expired")
    return False


TOKEN_ENDED = 4403

# A subscriber is sent a session at most this often, however fast it changes.
SESSION_UPDATE_INTERVAL = 1.0


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "The session now, then again whenever its numbers change (checked once a second,"
            " so at most one update a second). A host of its event only: 401, 404800,"
            " 4030201. Over WebSocket (graphql-transport-ws) at /graphql, with"
            ' {"Authorization": "Bearer <token>"} as the connection_init payload.'
        )
    )
    async def session_updates(
        self, info: Info, session_id: strawberry.ID
    ) -> AsyncGenerator[Session, None]:
        ctx = info.context
        if ctx.metrics is not None:
            ctx.metrics.subscriptions.inc()
        try:
            async with contextlib.aclosing(_session_updates(ctx, info, session_id)) as updates:
                async for session in updates:
                    yield session
        finally:
            if ctx.metrics is not None:
                ctx.metrics.subscriptions.dec()


async def _session_updates(
    ctx: Context, info: Info, session_id: strawberry.ID
) -> AsyncGenerator[Session, None]:
    """Subscription.sessionUpdates' values."""
    if not await _still_signed_in(ctx):
        return
    row = await sessions.get_hosted_session(ctx.pool, ctx.actor, session_id=session_id)
    key = {"event_id": row["event_id"], "session_id": row["id"]}
    sent_at = None
    fresh = True  # `row` was just read
    while True:
        changed_at = await sessions.stats_changed_at(ctx.pool, **key)
        if changed_at != sent_at:
            # Re-read (and re-authorize) the session, with fresh loaders:
            # the connection's context lives as long as the socket.
            if not fresh:
                if not await _still_signed_in(ctx):
                    return
                row = await sessions.get_hosted_session(ctx.pool, ctx.actor, session_id=session_id)
            fresh = False
            ctx.loaders = Loaders(ctx.pool)
            session = Session.from_row(row)
            await load_stats(info, [session])
            sent_at = changed_at
            yield session
        await asyncio.sleep(SESSION_UPDATE_INTERVAL)
