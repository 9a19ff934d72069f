"""A signal waiting to end the command: every long loop calls :func:`checkpoint` between chunks of work.

The command line's handler (:func:`regkit.cli.signals.signals_abort`) records SIGINT, SIGTERM or
SIGHUP here instead of raising at an arbitrary point, which could leave a lock of the download
pool held. Loops that can run for seconds (layer conversion, hashing, copying, analysis, export)
call :func:`checkpoint` after each chunk of at most a few MiB, so the first signal ends them
within a fraction of a second, through their cleanup (temporary files removed).
"""

from __future__ import annotations

import signal

from ..errors import Cancelled

_pending: list[int] = []  # the first signal received, while a handler is installed


def request(signum: int) -> None:
    """Note that signal ``signum`` asks the command to stop (the first one wins)."""
    if not _pending:
        _pending.append(signum)


def clear() -> None:
    """Forget a pending signal (the handler that noted it is gone)."""
    _pending.clear()


def checkpoint() -> None:
    """Raise :class:`~regkit.errors.Cancelled` when a signal is pending; cheap enough to call per chunk."""
    if _pending:
        raise Cancelled(f"stopped by {signal.Signals(_pending[0]).name}")
