"""A notebook's lab follows its kernel: one lab per kernel, alive while it lives, gone when it dies.

Real kernels (jupyter_client, as JupyterLab starts them) run ``regkit.lab.notebook_lab()``; the
test then kills or restarts them the ways a student does and looks for lab processes in /proc.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from regkit.lab.process import pid_alive

START_LAB = """
import json, os
import regkit.lab
lab = regkit.lab.notebook_lab()
print(json.dumps({"pids": {**lab.running(), "watchdog": int((lab.state_dir / "watchdog.pid").read_text().split()[0])},
                  "state": str(lab.state_dir), "kernel": os.getpid()}))
"""
GONE_WITHIN = 10.0  # seconds: the watchdog polls every 0.2 s; stopping nginx and friends takes the rest


def run(manager: KernelManager, code: str, timeout: float = 120) -> str:
    """Run ``code`` in the kernel and return what it printed; fail on an error."""
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        printed: list[str] = []

        def output(message: dict) -> None:
            content = message["content"]
            if message["msg_type"] == "stream":
                printed.append(content["text"])
            elif message["msg_type"] == "error":
                printed.append("\n".join(content["traceback"]))

        reply = client.execute_interactive(code, timeout=timeout, output_hook=output)
        assert reply["content"]["status"] == "ok", "".join(printed)
        return "".join(printed)
    finally:
        client.stop_channels()


def start_lab(manager: KernelManager) -> dict:
    """Start the kernel's lab; its processes' PIDs, its state directory and the kernel's PID."""
    return json.loads(run(manager, START_LAB).strip().splitlines()[-1])


def wait_gone(pids: list[int], state: Path) -> list[int]:
    """Wait until none of ``pids`` runs and ``state`` is gone; what still runs after GONE_WITHIN seconds."""
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline:
        if not any(pid_alive(pid) for pid in pids) and not state.exists():
            return []
        time.sleep(0.2)
    return [pid for pid in pids if pid_alive(pid)]


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KernelManager]:
    """A Python kernel whose temporary directories (the lab's state included) go under tmp_path."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(tmp_path))
    try:
        yield manager
    finally:
        if manager.is_alive():
            manager.shutdown_kernel(now=True)


def test_the_lab_lives_with_the_kernel_and_once(kernel: KernelManager):
    first = start_lab(kernel)
    time.sleep(2)
    second = start_lab(kernel)  # the cell run again: the same lab, not a second one
    assert second == first
    assert all(pid_alive(pid) for pid in first["pids"].values())
    zombies = run(
        kernel,
        "lab.down()\nimport regkit.lab.process as p\nprint([i.pid for i in p.list_processes() "
        "if i.ppid == os.getpid() and not i.alive])",
    )
    assert zombies.strip() == "[]"
    assert wait_gone(list(first["pids"].values()), Path(first["state"])) == []


def test_kill_9_of_the_kernel_stops_its_lab(kernel: KernelManager):
    lab = start_lab(kernel)
    os.kill(lab["kernel"], signal.SIGKILL)
    assert wait_gone(list(lab["pids"].values()), Path(lab["state"])) == []


def test_a_kernel_restart_stops_its_lab(kernel: KernelManager):
    lab = start_lab(kernel)
    kernel.restart_kernel(now=True)
    assert wait_gone(list(lab["pids"].values()), Path(lab["state"])) == []
    again = start_lab(kernel)  # the restarted kernel starts its own
    assert again["kernel"] != lab["kernel"] and all(pid_alive(pid) for pid in again["pids"].values())
