"""When to try a request again, and how long to wait first (pure, no I/O).

Retried: connection failures, 5xx (except 501, which will not change) and 429. A 429 or 503 with
``Retry-After`` waits as long as the server asks; otherwise the wait grows exponentially with
jitter. The number of attempts is bounded, and so is the total time one request may spend
waiting: a ``Retry-After`` longer than what is left of it is not waited for at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone

from ..oci.headers import unsigned
from .timeouts import DEFAULT_MAX_WAIT

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    seconds = unsigned(text)
    if seconds is not None:
        return float(seconds)
    # Only the rare HTTP-date form needs email.utils: loading it for every run costs ~10 ms of start-up.
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets and how the waits between them grow.

    Parameters
    ----------
    attempts : int, default 4
        Attempts per request, the first included.
    backoff : float, default 0.5
        The first wait's upper bound in seconds; it doubles per attempt (full jitter).
    max_wait : float
        Seconds one request may spend waiting in total, ``Retry-After`` included.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = DEFAULT_MAX_WAIT  # seconds one request may spend waiting in total

    def delay(self, attempt: int, retry_after: float | None = None, waited: float = 0.0) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` (``waited`` seconds already spent), or None: give up.

        Parameters
        ----------
        attempt : int
            The attempt that just failed, counting from 1.
        retry_after : float, optional
            The server's ``Retry-After`` in seconds, if it sent one.
        waited : float, default 0.0
            Seconds this request has already waited.

        Returns
        -------
        float or None
            ``retry_after`` when it fits in what is left of ``max_wait``, else a random wait up to
            ``backoff * 2 ** (attempt - 1)`` (and what is left); None when the attempts or ``max_wait`` are
            used up, or ``retry_after`` is longer than what is left.
        """
        left = self.max_wait - waited
        if attempt >= self.attempts or left <= 0:
            return None
        if retry_after is not None:
            # Waiting part of what the server asked for would only earn the same answer again.
            return retry_after if retry_after <= left else None
        # Full jitter keeps concurrent layer downloads from retrying in lockstep.
        return random.uniform(0, min(left, self.backoff * 2 ** (attempt - 1)))

    @staticmethod
    def retryable_status(status: int) -> bool:
        """True for answers worth asking again: overload, gateway trouble, rate limits.

        Parameters
        ----------
        status : int
            An HTTP status code.

        Returns
        -------
        bool
            True for 429, 500, 502, 503 and 504.
        """
        return status in RETRY_STATUSES


NO_RETRY = RetryPolicy(attempts=1)
