"""Per-client throttling of what guesses or creates: sign-in, sign-up, password checks.

The lockout (4010102) bounds guesses per address; this bounds them per client,
so one client cannot spray a password over many addresses or make accounts by
the hundred. A token bucket per (action, client address) in this process:
`per_minute` refills a minute, up to as many at once. Past it: 429 with
Retry-After, and the answer's HTTP status is 429 (web/http.py).
"""

import time
from collections import OrderedDict
from dataclasses import dataclass

from gql_server.errors import TOO_MANY_REQUESTS, ApiError

# Buckets kept at most (the least recently used go first): one per client and
# action, a few dozen bytes each.
MAX_BUCKETS = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class Throttle:
    def __init__(self, per_minute: dict[str, int]) -> None:
        self.per_minute = per_minute
        self.buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()

    def take(self, action: str, client: str | None) -> None:
        """One `action` for `client`; ApiError 429 (with Retry-After) when it has none left."""
        rate = self.per_minute.get(action)
        if rate is None or client is None:
            return
        now = time.monotonic()
        key = (action, client)
        bucket = self.buckets.pop(key, None) or _Bucket(float(rate), now)
        bucket.tokens = min(float(rate), bucket.tokens + (now - bucket.at) * rate / 60)
        bucket.at = now
        self.buckets[key] = bucket
        if len(self.buckets) > MAX_BUCKETS:
            self.buckets.popitem(last=False)
        if bucket.tokens < 1:
            wait = max(1, round((1 - bucket.tokens) * 60 / rate))
            raise ApiError(
                TOO_MANY_REQUESTS,
                f"Too many {action} attempts from this address; try again in {wait} s",
                **{"Retry-After": str(wait)},
            )
        bucket.tokens -= 1
