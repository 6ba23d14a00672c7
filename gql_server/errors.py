"""Every error code a client can see, defined once: number, HTTP status, message."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    code: int
    status: int
    message: str


BAD_REQUEST = ErrorKind(400, 400, "Bad request")
UNAUTHENTICATED = ErrorKind(401, 401, "Authentication required")
FORBIDDEN = ErrorKind(403, 403, "Not allowed")
NOT_FOUND = ErrorKind(404, 404, "Not found")
METHOD_NOT_ALLOWED = ErrorKind(405, 405, "Method not allowed")
PAYLOAD_TOO_LARGE = ErrorKind(413, 413, "Request body too large")
HEADERS_TOO_LARGE = ErrorKind(431, 431, "Request headers too large")
UNSUPPORTED_MEDIA_TYPE = ErrorKind(415, 415, "Unsupported content type")
TOO_MANY_REQUESTS = ErrorKind(429, 429, "Too many requests; try again later")
INTERNAL = ErrorKind(500, 500, "Internal server error")
UNAVAILABLE = ErrorKind(503, 503, "Service unavailable")
NUMBER_OVER_INT = ErrorKind(
    4220100, 422, "The number is over GraphQL's 32-bit Int: read its Long twin"
)
NOT_EVENT_HOST = ErrorKind(4030201, 403, "Not Event Host")
NOT_EVENT_ATTENDEE = ErrorKind(4030202, 403, "Not on this event's attendee list")
EVENT_NOT_FOUND = ErrorKind(4040200, 404, "Event Not Found")
SESSION_NOT_FOUND = ErrorKind(404800, 404, "Session Not Found")
WEBHOOK_ENDPOINT_NOT_FOUND = ErrorKind(4040300, 404, "Webhook endpoint not found")
WEBHOOK_DELIVERY_NOT_FOUND = ErrorKind(4040301, 404, "Webhook delivery not found")
VERIFICATION_LINK_INVALID = ErrorKind(
    4000101, 400, "This verification link is unknown, used or expired; ask for a new one"
)
MAIL_UNAVAILABLE = ErrorKind(5030101, 503, "The message could not be sent; try again later")
TOO_MANY_SIGN_INS = ErrorKind(
    4010102, 429, "Too many failed sign-ins for this email address; try again later"
)


# What a client is told when the database does not answer (HTTP 503, code 503).
DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly"


class ApiError(Exception):
    """An error whose code, status and message are meant for the client: in a
    GraphQL answer's errors, or (raised before or around execution) as the whole
    HTTP answer, with `headers` (Allow, Connection) on it."""

    def __init__(self, kind: ErrorKind, message: str | None = None, **headers: str) -> None:
        self.kind = kind
        self.message = message or kind.message
        self.headers = headers
        super().__init__(self.message)

    @property
    def extensions(self) -> dict[str, int]:
        return {"code": self.kind.code, "status": self.kind.status}


def bad_input(message: str) -> ApiError:
    return ApiError(BAD_REQUEST, message)
