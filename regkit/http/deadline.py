"""A wall-clock deadline for a response's headers, interim ``1xx`` responses included.

The socket's read timeout bounds one wait between bytes, not the whole header: http.client skips
``100 Continue`` answers in an unbounded loop, and a server dripping them (or a header a byte at a
time) would hold a request forever. One watchdog thread, shared by every request, shuts down the
socket of a response whose headers are not complete by its deadline; the blocked read wakes up,
and the response raises :class:`HeaderDeadline`. Per request this costs two lock round trips and
a heap push: nothing measurable next to a round trip.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import http.client
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

# (monotonic deadline, budget in seconds) for the headers of the request this thread sends; set by Transport.send.
header_deadline: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar(
    "regkit_header_deadline", default=None
)


class HeaderDeadline(http.client.HTTPException):
    """The response headers did not arrive within the budget (raised inside urllib3, turned into a TransportError)."""

    def __init__(self, budget: float, interim: int, tunnel: bool = False) -> None:
        self.budget = budget
        self.interim = interim
        more = f" after {interim} interim 1xx responses" if interim else ""
        via = " (the proxy in between did not finish its answer to CONNECT)" if tunnel else ""
        super().__init__(
            f"sent no complete response headers{via} within {budget:g} s (the connect + read timeout){more}"
        )


class _Watch:
    """One response waiting for its headers: the socket to shut down at ``deadline`` (monotonic)."""

    __slots__ = ("deadline", "done", "fired", "sock")

    def __init__(self, deadline: float, sock: socket.socket) -> None:
        self.deadline = deadline
        self.sock = sock
        self.done = False
        self.fired = False


class _Watchdog:
    """Shuts down the sockets of responses past their header deadline; one daemon thread, started on first use."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()  # ties on the deadline never compare two _Watch objects
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self, deadline: float, sock: socket.socket) -> _Watch:
        """Watch ``sock`` until :meth:`stop`; shut it down at ``deadline``."""
        watch = _Watch(deadline, sock)
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="regkit-header-deadline", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._heap[0][2] is watch:  # only an earlier deadline changes how long the thread sleeps
                self._wake.notify()
        return watch

    def stop(self, watch: _Watch) -> bool:
        """Stop watching; True when the deadline had already passed and the socket was shut down."""
        with self._wake:
            watch.done = True
            return watch.fired

    def _run(self) -> None:
        with self._wake:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                left = self._heap[0][0] - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                watch = heapq.heappop(self._heap)[2]
                watch.fired = True
                # shutdown(), unlike close(), wakes a recv() already waiting in the other thread.
                with contextlib.suppress(OSError):
                    watch.sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def _under_deadline(sock: socket.socket, interim: Callable[[], int], tunnel: bool = False) -> Iterator[None]:
    """Run the block with ``sock`` watched until the deadline of :data:`header_deadline` (none if unset)."""
    deadline = header_deadline.get()
    if deadline is None:
        yield
        return
    at, budget = deadline
    watch = _WATCHDOG.start(at, sock)
    try:
        yield
    except Exception:
        if _WATCHDOG.stop(watch):
            raise HeaderDeadline(budget, interim(), tunnel) from None
        raise
    # A shut-down socket reads as the end of the headers: what was parsed then is not the whole answer.
    if _WATCHDOG.stop(watch):
        raise HeaderDeadline(budget, interim(), tunnel)


class DeadlineResponse(http.client.HTTPResponse):
    """http.client's response, reading its status line and headers under the deadline of :data:`header_deadline`."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self._sock = sock
        self._interim = 0

    def _read_status(self) -> tuple[str, int, str]:
        version, status, reason = super()._read_status()  # type: ignore[misc]
        if 100 <= status < 200:
            self._interim += 1
        return version, status, reason

    def begin(self) -> None:
        if self.headers is not None:  # already read: http.client returns at once
            super().begin()
            return
        with _under_deadline(self._sock, lambda: self._interim):
            super().begin()


class _DeadlineConnection:
    """Mixed into urllib3's connection classes: responses, and a proxy's answer to CONNECT, under the deadline."""

    response_class = DeadlineResponse
    sock: socket.socket

    def _tunnel(self) -> None:
        with _under_deadline(self.sock, lambda: 0, tunnel=True):
            super()._tunnel()  # type: ignore[misc]


_POOLS: dict[Any, Any] = {}


def with_deadline(manager: Any) -> Any:
    """``manager`` (a urllib3 pool or proxy manager) with pools whose connections read under the deadline."""
    manager.pool_classes_by_scheme = {
        scheme: _deadline_pool(pool) for scheme, pool in manager.pool_classes_by_scheme.items()
    }
    return manager


def _deadline_pool(pool: Any) -> Any:
    """A subclass of the urllib3 pool class whose connection class uses :class:`DeadlineResponse`."""
    if getattr(pool, "_regkit_deadline", False):
        return pool
    if pool not in _POOLS:
        connection = type(pool.ConnectionCls.__name__, (_DeadlineConnection, pool.ConnectionCls), {})
        _POOLS[pool] = type(pool.__name__, (pool,), {"ConnectionCls": connection, "_regkit_deadline": True})
    return _POOLS[pool]
