"""When to try a request again, and how long to wait first (pure, no I/O).

Retried: connection failures, 5xx (except 501, which will not change) and 429. A 429 or 503 with
``Retry-After`` waits as long as the server asks, up to a cap; otherwise the wait grows
exponentially with jitter. The number of attempts is bounded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from ..oci.headers import unsigned

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    seconds = unsigned(text)
    if seconds is not None:
        return float(seconds)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets and how the waits between them grow."""

    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when no attempt is left."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        # Full jitter keeps concurrent layer downloads from retrying in lockstep.
        return random.uniform(0, min(self.max_wait, self.backoff * 2 ** (attempt - 1)))

    @staticmethod
    def retryable_status(status: int) -> bool:
        """True for answers worth asking again: overload, gateway trouble, rate limits."""
        return status in RETRY_STATUSES


NO_RETRY = RetryPolicy(attempts=1)
