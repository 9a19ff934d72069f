"""A lab whose life follows the process that started it: a notebook's kernel.

``Lab.for_kernel()`` (also ``regkit.lab.notebook_lab()``) starts the lab once per kernel (running the
cell again returns the same lab) in a temporary state directory, with a watchdog process
(:mod:`regkit.lab.watchdog`) that stops it and removes the directory when the kernel dies, however it
dies. Notebooks need no last "stop" cell.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .process import ManagedProcess, proc_info


class KernelLab(Protocol):
    """What this module needs of a lab (:class:`regkit.lab.lab.Lab`, which imports this module, not back)."""

    def up(self) -> Any: ...
    def down(self) -> None: ...
    def running(self) -> dict[str, int | None]: ...


L = TypeVar("L", bound=KernelLab)

# The kernel's labs, one per set of options: what makes a second run of the cell return the same lab.
_LABS: dict[Hashable, Any] = {}


def watchdog(state_dir: Path, pid: int) -> ManagedProcess:
    """The watchdog process of the lab in ``state_dir``, watching the process ``pid``."""
    import sys

    info = proc_info(pid)
    if info is None:
        raise ProcessLookupError(pid)
    argv = [sys.executable, "-m", "regkit.lab.watchdog", str(pid), str(info.start_time), str(state_dir)]
    return ManagedProcess("watchdog", argv, state_dir, ready=lambda: True)


def end_kernel_lab(state_dir: Path) -> None:
    """After a lab's servers stopped: a kernel's lab's watchdog goes, and so does its temporary directory."""
    process = ManagedProcess.recorded("watchdog", state_dir)
    if process.pid is not None:
        process.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def kernel_lab(make: Callable[[Path], L], key: Hashable) -> L:
    """This kernel's lab for ``key``: made by ``make(state_dir)`` and started on the first call, then the running one.

    It stops, and its temporary state directory goes, when the kernel exits, restarts or is killed;
    ``lab.down()`` stops it earlier (a later call starts a new one).
    """
    lab: L | None = _LABS.get(key)
    if lab is not None and all(lab.running().values()):
        return lab
    if lab is not None:
        lab.down()  # some of its processes died: start afresh rather than half a lab
    state_dir = Path(tempfile.mkdtemp(prefix="regkit-lab-"))
    lab = make(state_dir)
    try:
        # The watchdog first: a kernel killed while the lab starts leaves nothing behind either.
        watchdog(state_dir, os.getpid()).start()
        lab.up()
    except BaseException:
        lab.down()
        shutil.rmtree(state_dir, ignore_errors=True)
        raise
    _LABS[key] = lab
    return lab
