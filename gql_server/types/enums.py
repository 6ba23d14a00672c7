"""The contract's enums; each value's name is also what the database stores."""

from enum import Enum

import strawberry


@strawberry.enum
class SessionFormat(Enum):
    MAIN_STAGE = "MAIN_STAGE"
    BREAKOUT_SESSION = "BREAKOUT_SESSION"
    MEET_UP = "MEET_UP"
    WORKSHOP = "WORKSHOP"
    EXPO = "EXPO"
    BREAK = "BREAK"
    OTHER = "OTHER"


@strawberry.enum(description="ZOOM, FACEBOOK and WISTIA stream outside: no watch analytics")
class StreamProvider(Enum):
    YOUTUBE = "YOUTUBE"
    VIMEO = "VIMEO"
    VOXEET = "VOXEET"
    TOKBOX = "TOKBOX"
    DIRECT_UPLOAD = "DIRECT_UPLOAD"
    ZOOM = "ZOOM"
    FACEBOOK = "FACEBOOK"
    WISTIA = "WISTIA"


@strawberry.enum
class WatchMode(Enum):
    LIVE = "LIVE"
    RECORDING = "RECORDING"


@strawberry.enum
class Role(Enum):
    ORGANIZER_ADMIN = "ORGANIZER_ADMIN"
    EVENT_ADMIN = "EVENT_ADMIN"


@strawberry.enum(description="LIVE_VIEWS_DESC: most live views first, no analytics last")
class SessionOrder(Enum):
    START_TIME_ASC = "START_TIME_ASC"
    START_TIME_DESC = "START_TIME_DESC"
    TITLE_ASC = "TITLE_ASC"
    LIVE_VIEWS_DESC = "LIVE_VIEWS_DESC"


@strawberry.enum(description="Watched orders: most seconds in that mode first, then by user id")
class ViewerOrder(Enum):
    NAME_ASC = "NAME_ASC"
    EMAIL_ASC = "EMAIL_ASC"
    LIVE_WATCHED_DESC = "LIVE_WATCHED_DESC"
    RECORDING_WATCHED_DESC = "RECORDING_WATCHED_DESC"


@strawberry.enum(
    description=(
        "Who may register for, join and report watching an event's sessions. OPEN: anyone"
        " signed in. ATTENDEES_ONLY: only people whose address is on the event's attendee"
        " list and verified (User.emailVerified); others get 4030202."
    )
)
class EventAttendance(Enum):
    OPEN = "OPEN"
    ATTENDEES_ONLY = "ATTENDEES_ONLY"


@strawberry.enum(
    description=(
        "What a webhook endpoint is sent (docs/webhooks.md). The message's `type` is the"
        " value's wire name: session.ended, session.updated, event.report."
    )
)
class WebhookEventType(Enum):
    SESSION_ENDED = "session.ended"
    SESSION_UPDATED = "session.updated"
    EVENT_REPORT = "event.report"


@strawberry.enum(
    description=(
        "PENDING: to be sent (or retried); DELIVERED: a 2xx answer; FAILED: every attempt"
        " of its retry schedule failed (resendWebhookDelivery starts a new series)."
    )
)
class WebhookDeliveryStatus(Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@strawberry.enum(description="A time series' bucket, aligned to the clock of its timeZone.")
class TimelineBucket(Enum):
    HOUR = "HOUR"
    DAY = "DAY"
