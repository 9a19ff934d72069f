"""The low-speed rule (curl's ``--speed-limit``/``--speed-time``): a body slower than a rate for too long fails.

A read timeout only catches a server that goes silent; one that sends a byte every few seconds
would hold a download for ever. Defaults: below 1 KiB/s for 60 s. Pure: the clock is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .timeouts import DEFAULT_MIN_SPEED, DEFAULT_SPEED_TIME


class TooSlow(Exception):
    """Raised by :meth:`SpeedWatch.update`; the caller turns it into its own error with the exchange."""


@dataclass(frozen=True)
class SpeedLimit:
    """Fail a body that averages under ``bytes_per_second`` over any ``seconds``; 0 bytes/s turns it off.

    Parameters
    ----------
    bytes_per_second : int, default 1024
        The lowest average rate (curl's ``--speed-limit``).
    seconds : float, default 60
        The window it is averaged over (curl's ``--speed-time``).
    """

    bytes_per_second: int = DEFAULT_MIN_SPEED
    seconds: float = DEFAULT_SPEED_TIME

    def watch(self, clock: Callable[[], float] = time.monotonic) -> SpeedWatch:
        """A fresh watch for one body.

        Parameters
        ----------
        clock : callable, default time.monotonic
            Returns the time in seconds; tests pass their own.

        Returns
        -------
        SpeedWatch
            Its ``update(count)`` raises :class:`TooSlow` when a window ends under the rate; the caller turns
            that into a :class:`~regkit.errors.TransportError` (kind ``slow``) with the exchange.
        """
        return SpeedWatch(self, clock)

    def __str__(self) -> str:
        return f"{self.bytes_per_second} bytes/s over {self.seconds:g} s"


class SpeedWatch:
    """Counts the bytes of one body in windows of ``limit.seconds``."""

    def __init__(self, limit: SpeedLimit, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._start = clock()
        self._count = 0

    def update(self, count: int) -> None:
        """``count`` more bytes arrived; :class:`TooSlow` when the window ended under the rate."""
        if self.limit.bytes_per_second <= 0:
            return
        self._count += count
        now = self._clock()
        elapsed = now - self._start
        if self._count >= self.limit.bytes_per_second * self.limit.seconds:
            self._start, self._count = now, 0  # fast enough for this whole window already
        elif elapsed >= self.limit.seconds:
            rate = self._count / elapsed
            raise TooSlow(f"{rate:.0f} bytes/s over the last {elapsed:.0f} s, under the minimum {self.limit}")
