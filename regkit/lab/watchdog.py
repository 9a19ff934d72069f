"""The watchdog of a kernel's lab: stops the lab and removes its state directory once the kernel is gone.

Run as ``python -m regkit.lab.watchdog PID START_TIME STATE_DIR`` (by :func:`regkit.lab.kernel.kernel_lab`),
in its own session so that nothing aimed at the kernel's process group (an interrupt, a restart) reaches
it. It polls the kernel's PID rather than relying on the kernel to clean up: ``atexit`` never runs
when a kernel is killed (``kill -9``, a crash, a restart that escalates to SIGKILL), and a parent-death
signal would only reach processes the kernel forked itself, from the thread that is still alive.
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from pathlib import Path

from .process import proc_info

POLL_SECONDS = 0.2


def kernel_alive(pid: int, start_time: int) -> bool:
    """True while the process with this PID and start time runs (a reused PID is another process)."""
    info = proc_info(pid)
    return info is not None and info.alive and info.start_time == start_time


def main(argv: list[str] | None = None) -> None:
    """Wait for the kernel to die, then stop the lab and delete its state directory."""
    args = sys.argv[1:] if argv is None else argv
    pid, start_time, state_dir = int(args[0]), int(args[1]), Path(args[2])
    stopped = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopped
        stopped = True  # the kernel's own lab.down() stops us: it stops the servers itself

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while not stopped and kernel_alive(pid, start_time):
        time.sleep(POLL_SECONDS)
    if stopped:
        return
    from .lab import Lab

    Lab(state_dir).stop_servers()
    shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
