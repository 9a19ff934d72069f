"""SIGTERM and SIGHUP end a command like Ctrl-C does, so its partial work is removed.

``timeout``, ``docker stop``, a cancelled CI job or a closed terminal send SIGTERM or SIGHUP;
Python's default for them is to die on the spot, leaving the hidden work directory of a pull
(gigabytes) or a partial export tree behind.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from ..errors import RegkitError
from ..storage import interrupt

if TYPE_CHECKING:
    from ..http.client import Client

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt that remembers the signal; the exit code is 128 + its number, as shells report."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal's number (130 for Ctrl-C)."""
    return 128 + getattr(interrupt, "signum", signal.SIGINT)


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def terminate_like_ctrl_c() -> None:
    """Make SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread, as SIGINT raises KeyboardInterrupt."""
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _raise)


@contextmanager
def signals_abort(client: Client) -> Iterator[None]:
    """The first signal aborts the client's downloads so the work unwinds and cleans up; a second one quits.

    A KeyboardInterrupt raised at an arbitrary point could leave a lock of the download pool held
    (and the pool waiting forever); aborting the network instead lets every thread end normally,
    and the signal left pending in :mod:`regkit.storage.interrupt` ends the loops that use no network
    (conversion, hashing, copying) at their next checkpoint.
    """
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if received:
            raise Interrupted(received[0])
        received.append(signum)
        interrupt.request(signum)
        client.abort()

    previous = {signum: signal.signal(signum, on_signal) for signum in HANDLED}
    try:
        yield
    except RegkitError:
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        interrupt.clear()
