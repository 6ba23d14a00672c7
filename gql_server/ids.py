"""Public ids: decimal strings of positive 64-bit database ids."""

MAX_ID = 2**63 - 1


def parse_id(value: str) -> int | None:
    """The database id an ID names, or None when it cannot name any row."""
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    parsed = int(value)
    return parsed if 0 < parsed <= MAX_ID else None
