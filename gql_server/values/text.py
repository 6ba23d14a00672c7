"""What text a client may send: every length bound, once (400 naming the field).

Without a bound, a ~900 KB email in login reached an index ("index row
requires 10328 bytes"): a 500. Emails follow RFC 5321's 254 characters.
"""

from gql_server.errors import bad_input

MIN_PASSWORD_LENGTH = 8


def normalize_email(email: str) -> str:
    """How an address is stored and compared: trimmed, lower-cased."""
    return email.strip().lower()


MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200  # people, organizers, events
MAX_TITLE_LENGTH = 300  # sessions
MAX_SEARCH_LENGTH = 200
MAX_PASSWORD_LENGTH = 1024


def bounded(value: str, field: str, max_length: int) -> str:
    """The value, if it is at most max_length characters and PostgreSQL can store it."""
    if len(value) > max_length:
        raise bad_input(f"{field} must be at most {max_length} characters")
    if "\x00" in value:  # PostgreSQL's text cannot hold it: refused before any statement
        raise bad_input(f"{field} must not contain the NUL character (U+0000)")
    return value


def valid_email(email: str, field: str = "email") -> str:
    """Trimmed and lower-cased; 400 when it cannot be an address."""
    email = bounded(normalize_email(email), field, MAX_EMAIL_LENGTH)
    local, at, domain = email.partition("@")
    if not (at and local and domain) or " " in email:
        raise bad_input(f"{field} is not a valid email address")
    return email


def valid_text(text: str, field: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """Trimmed, not empty, at most max_length characters."""
    text = text.strip()
    if not text:
        raise bad_input(f"{field} must not be empty")
    return bounded(text, field, max_length)


def valid_search(search: str | None) -> str | None:
    """None for no search (or an empty one)."""
    return bounded(search, "search", MAX_SEARCH_LENGTH) if search else None


def valid_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise bad_input(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return bounded(password, "password", MAX_PASSWORD_LENGTH)
