"""The lab starts every time: ports outside the ephemeral range, ports it holds, and clean failures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from regkit.errors import LabError, PortInUse
from regkit.lab import Lab
from regkit.lab.process import ManagedProcess, ephemeral_range, list_processes, pick_port, tcp_probe
from regkit.lab.registry import RegistryServer

CHURN = Path(__file__).with_name("churn.py")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port outside the ephemeral range that another program listens on."""
    with socket.create_server(("127.0.0.1", pick_port())) as squatter:
        yield squatter.getsockname()[1]


@pytest.fixture
def churn() -> Iterator[None]:
    """Another process churning the ephemeral range for the length of the test (at most two minutes)."""
    process = subprocess.Popen([sys.executable, str(CHURN), "120"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield
    finally:
        process.kill()
        process.wait()


def lab_processes(state: Path) -> list[str]:
    """Command lines of live processes that belong to the lab in ``state``, zombies included."""
    found = [" ".join(p.argv) for p in list_processes() if any(str(state) in arg for arg in p.argv)]
    # A zombie has no command line left: count our own unreaped children as well.
    zombies = [f"zombie {p.pid}" for p in list_processes() if p.ppid == os.getpid() and not p.alive]
    return found + zombies


def test_picked_ports_lie_outside_the_ephemeral_range() -> None:
    ephemeral = ephemeral_range()
    ports = {pick_port() for _ in range(200)}
    assert not [port for port in ports if port in ephemeral]
    assert all(1024 <= port < 65536 for port in ports)
    assert len(ports) > 150  # random, so parallel labs rarely pick the same


def test_pick_port_avoids_a_range_covering_all_but_a_few_ports() -> None:
    assert {pick_port(range(1024, 65530)) for _ in range(20)} <= set(range(65530, 65536))
    with pytest.raises(LabError, match="no TCP port outside"):
        pick_port(range(1024, 65536))


def test_another_programs_listener_does_not_make_a_server_ready(tmp_path: Path, taken_port: int) -> None:
    """A probe that connects would pass on the squatter's listener; the lab checks the socket is the server's own."""
    process = ManagedProcess(
        "sleeper", ["sleep", "60"], tmp_path, ready=tcp_probe(taken_port), ports=[taken_port], ready_timeout=1.0
    )
    with pytest.raises(LabError, match="not ready within"):
        process.start()
    assert process.pid is None


def test_a_taken_port_is_named_with_its_server(tmp_path: Path, taken_port: int) -> None:
    with pytest.raises(PortInUse) as raised:
        RegistryServer(tmp_path, port=taken_port).start()
    assert raised.value.server == "registry" and raised.value.port == taken_port
    assert f"127.0.0.1:{taken_port}" in str(raised.value) and "address already in use" in str(raised.value)
    assert not lab_processes(tmp_path)


def test_a_registry_that_picks_its_port_retries_a_taken_one(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first pick is made to hit the taken port (as a collision with another server would); the second is free."""
    import regkit.lab.registry as registry_module

    picks = iter([taken_port, pick_port()])
    monkeypatch.setattr(registry_module, "pick_port", lambda: next(picks))
    with RegistryServer(tmp_path) as registry:
        assert registry.port != taken_port and registry.pid is not None
    assert not lab_processes(tmp_path)


@pytest.mark.parametrize("server", ["proxy", "registry"])
def test_a_failed_lab_start_stops_everything_and_names_the_server(tmp_path: Path, taken_port: int, server: str) -> None:
    """A port fixed by the user is not retried: the error names the server and port, and nothing stays running."""
    lab = Lab(tmp_path / "lab", mode="hub", ports={server: taken_port}, images=False)
    with pytest.raises(PortInUse) as raised:
        lab.up()
    assert raised.value.port == taken_port
    assert raised.value.server == ("nginx" if server == "proxy" else "registry")
    assert f"127.0.0.1:{taken_port}" in str(raised.value)
    assert not any(lab.running().values())
    assert not lab_processes(tmp_path)


def test_unknown_fixed_port_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no lab server takes a port named cnd"):
        Lab(tmp_path, ports={"cnd": 8080})


def test_hub_mode_unreachable_ports_stay_unreachable_while_the_lab_lives(tmp_path: Path) -> None:
    with Lab(tmp_path / "lab", mode="hub", images=False) as lab:
        for port in (lab.settings.dead_auth, lab.settings.dead_cdn):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            # Held by the lab, so no later listener can take it and answer in the realm's place.
            with socket.socket() as intruder, pytest.raises(OSError, match="Address already in use"):
                intruder.bind(("127.0.0.1", port))
    assert not lab_processes(tmp_path)


def test_lab_starts_every_time_while_the_ephemeral_range_churns(tmp_path: Path, churn: None) -> None:
    """Ten starts and stops under churn; with ports chosen by bind(0) about a third of such starts failed."""
    for round_ in range(10):
        state = tmp_path / f"lab{round_}"
        lab = Lab(state, mode="hub", images=False).up()
        try:
            assert all(lab.running().values())
        finally:
            lab.down()
        assert not any(lab.running().values())
        assert not lab_processes(state), f"round {round_}"
