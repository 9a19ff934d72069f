"""Docker Hub's rate-limit headers: ``ratelimit-limit: 100;w=21600`` and friends (pure).

Only manifest GETs count as pulls; HEAD reads the headers for free. No headers means no limit
applies (or a mirror hides them). Limits change over time: read them, never assume them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..oci.headers import unsigned
from .exchange import Exchange

LIMIT, REMAINING, SOURCE = "ratelimit-limit", "ratelimit-remaining", "docker-ratelimit-source"


def _count_and_window(value: str | None) -> tuple[int | None, int | None]:
    """``"76;w=21600"`` -> ``(76, 21600)``."""
    if not value:
        return None, None
    count, _, rest = value.partition(";")
    window = rest.strip().removeprefix("w=")
    return unsigned(count), unsigned(window)


@dataclass(frozen=True)
class RateLimit:
    """The pull budget a registry announced in one response."""

    limit: int | None
    remaining: int | None
    window_seconds: int | None
    source: str | None

    @classmethod
    def of(cls, exchange: Exchange) -> RateLimit | None:
        """The rate limit in a response's headers, or None when it has none."""
        limit, window = _count_and_window(exchange.header(LIMIT))
        remaining, remaining_window = _count_and_window(exchange.header(REMAINING))
        if limit is None and remaining is None:
            return None
        return cls(limit, remaining, window or remaining_window, exchange.header(SOURCE))

    def __str__(self) -> str:
        window = f" per {self.window_seconds / 3600:g} h" if self.window_seconds else ""
        source = f" (counted for {self.source})" if self.source else ""
        return f"{self.remaining} of {self.limit} pulls left{window}{source}"


def budget(exchanges: list[Exchange] | tuple[Exchange, ...]) -> tuple[RateLimit | None, RateLimit | None]:
    """The first and the last rate limit seen: the budget before and after a pull."""
    seen = [limit for limit in (RateLimit.of(e) for e in exchanges) if limit is not None]
    return (seen[0], seen[-1]) if seen else (None, None)
