"""Protocol time: the exchanges' wall-clock times with the reader's pauses cut out.

A notebook runs its steps a cell at a time, and a student reads between them: minutes in which no
request is in flight. Drawn as time, those minutes squash every request into a sliver. A
:class:`Timeline` keeps the time requests were in flight (and the short gaps between them, which
are the client's own work) and replaces every idle gap longer than :data:`IDLE_BREAK` by a narrow
break of fixed width that charts mark as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..http.exchange import Exchange

IDLE_BREAK = 1.0  # seconds without a request in flight that count as the reader's, not the protocol's
BREAK_SHARE = 0.04  # of the requests' own time, the width a break is drawn with
MIN_BREAK = 0.005  # seconds: a break stays visible next to very short requests


def end_of(exchange: Exchange) -> float:
    """When the exchange stopped using its connection (headers only, if the body was never timed)."""
    ended = exchange.ended
    return ended if ended is not None else exchange.started + (exchange.time_to_headers or 0.0)


@dataclass(frozen=True)
class Break:
    """An idle gap cut out of the axis: where it sits on the axis (seconds) and how long it really was."""

    at: float
    width: float
    idle: float


@dataclass(frozen=True)
class Timeline:
    """Maps wall-clock times (epoch seconds) to protocol seconds since the first request."""

    origin: float
    cuts: tuple[tuple[float, float], ...]  # (start, end) in epoch seconds of each idle gap cut out
    break_width: float

    @classmethod
    def of(cls, exchanges: Sequence[Exchange], idle_break: float = IDLE_BREAK) -> Timeline:
        """The timeline of these exchanges: every gap longer than ``idle_break`` with no request in flight is cut."""
        spans = sorted((e.started, end_of(e)) for e in exchanges)
        if not spans:
            return cls(0.0, (), 0.0)
        cuts, busy = [], 0.0
        low, high = spans[0]
        for start, end in spans[1:]:
            if start > high:
                busy += high - low
                if start - high > idle_break:
                    cuts.append((high, start))
                low = start
            high = max(high, end)
        busy += high - low
        return cls(spans[0][0], tuple(cuts), max(busy * BREAK_SHARE, MIN_BREAK) if cuts else 0.0)

    def __call__(self, when: float) -> float:
        """Seconds on the axis: time since the first request, less the idle gaps before ``when``."""
        shown = when - self.origin
        for start, end in self.cuts:
            if when >= end:
                shown -= (end - start) - self.break_width
            elif when > start:  # inside a gap (no exchange starts or ends there): the break's middle
                shown -= (when - start) - self.break_width / 2
        return shown

    @property
    def breaks(self) -> list[Break]:
        """Each cut as it sits on the axis."""
        return [Break(self(start), self.break_width, end - start) for start, end in self.cuts]
