"""The lab's real servers: a registry and a private Docker engine, started, used and stopped by PID."""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import sys
import tarfile
import time
from pathlib import Path

import pytest
import requests

from regkit.errors import LabError
from regkit.lab.busybox import busybox_binary, is_static_elf, local_debs
from regkit.lab.engine import DockerEngine
from regkit.lab.process import ManagedProcess, pick_port, pid_alive, require_binary, tcp_probe
from regkit.lab.registry import RegistryServer

IMAGE_TAG = "regkit-lab/busybox:test"
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


def http_get(url: str) -> requests.Response:
    """GET without any proxy from the environment."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=5)


def port_open(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def mount_points_under(directory: Path) -> list[str]:
    """Mount points at or below the directory, read from /proc/self/mounts."""
    base = str(directory.resolve())
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[1])
        if point == base or point.startswith(base + "/"):
            points.append(point)
    return points


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """An uncompressed tar of the given members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes | None = None, link: str = ""
) -> tuple[tarfile.TarInfo, bytes | None]:
    """A tar member: a file with data, a directory or a symlink."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755
    info.linkname = link
    if data is not None:
        info.size = len(data)
    return info, data


def busybox_image_tar(busybox: Path, destination: Path) -> Path:
    """An image in the `docker load` format: one layer with busybox and sh, echo and sleep linked to it."""
    layer = tar_bytes(
        [
            member("bin", tarfile.DIRTYPE),
            member("bin/busybox", data=busybox.read_bytes()),
            *(member(f"bin/{applet}", tarfile.SYMTYPE, link="busybox") for applet in ("sh", "echo", "sleep")),
        ]
    )
    config = json.dumps(
        {
            "architecture": ARCHITECTURES[platform.machine()],
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
        }
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [IMAGE_TAG], "Layers": ["layer.tar"]}]).encode()
    destination.write_bytes(
        tar_bytes(
            [
                member(config_name, data=config),
                member("layer.tar", data=layer),
                member("manifest.json", data=manifest),
            ]
        )
    )
    return destination


def test_registry_answers_and_stops(tmp_path: Path) -> None:
    registry = RegistryServer(tmp_path / "registry")
    with registry:
        pid = registry.pid
        assert pid is not None and pid_alive(pid)
        response = http_get(f"{registry.url}/v2/")
        assert response.status_code == 200
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert registry.host == f"127.0.0.1:{registry.port}"
    assert not pid_alive(pid)
    assert not port_open(registry.port)
    assert not registry.process.pid_path.exists()


def test_registry_config_takes_auth_and_extra(tmp_path: Path) -> None:
    """The auth section reaches the registry (its built-in "silly" auth demands a token) and extra is merged in."""
    auth = {"silly": {"realm": "http://127.0.0.1/token", "service": "lab"}}
    extra = {"http": {"headers": {"X-Lab": ["yes"]}}}
    with RegistryServer(tmp_path, auth=auth, extra_config=extra) as registry:
        response = http_get(f"{registry.url}/v2/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="http://127.0.0.1/token",service="lab"'
    assert response.headers["X-Lab"] == "yes"


def test_start_failure_shows_the_log(tmp_path: Path) -> None:
    process = ManagedProcess(
        "crasher", ["sh", "-c", "echo address already in use >&2; exit 3"], tmp_path, ready=tcp_probe(pick_port())
    )
    with pytest.raises(LabError, match="status 3") as raised:
        process.start()
    assert "address already in use" in str(raised.value)
    assert not process.pid_path.exists()


def test_stop_through_pidfile_kills_the_whole_group(tmp_path: Path) -> None:
    """Another object for the same state dir finds the server by its pidfile; the server's child dies with it."""
    port = pick_port()
    server = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    # The shell leaves a child in the group, then becomes the server.
    argv = ["sh", "-c", f"sleep 300 & echo $! > {tmp_path}/child.pid; exec {' '.join(server)}"]
    first = ManagedProcess("web", argv, tmp_path, ready=tcp_probe(port))
    first.start()
    try:
        second = ManagedProcess("web", argv, tmp_path, ready=tcp_probe(port))
        server_pid = second.pid
        child_pid = int((tmp_path / "child.pid").read_text())
        assert server_pid is not None and server_pid == first.pid
        with pytest.raises(LabError, match="already running"):
            second.start()
        second.stop()
        assert not pid_alive(server_pid)
        # The child got the same SIGTERM, and the listener closes as the server exits; on a busy
        # machine both take a moment.
        deadline = time.monotonic() + 5
        while (pid_alive(child_pid) or port_open(port)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(child_pid)
        assert not port_open(port)
    finally:
        first.stop()


def test_missing_binary_names_its_package() -> None:
    with pytest.raises(LabError) as raised:
        require_binary("/nonexistent/regkit-no-such-tool", "regkit-no-such-package")
    assert "regkit-no-such-package" in str(raised.value)
    assert "scripts/setup" in str(raised.value)


def test_busybox_is_static(tmp_path: Path) -> None:
    assert is_static_elf(busybox_binary(tmp_path))
    assert not is_static_elf(Path("/bin/sh").resolve())


def test_busybox_from_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a static system busybox, the busybox-static .deb scripts/setup kept is unpacked once, then reused."""
    # Only dpkg-deb and the tar it runs are on PATH: apt-get cannot download anything during the test.
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("dpkg-deb", "tar"):
        found = shutil.which(tool)
        assert found, f"{tool} is missing: run scripts/setup"
        (tools / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(tools))
    assert local_debs(), "no busybox-static .deb on this machine: run scripts/setup"
    binary = busybox_binary(tmp_path, system_binary=tmp_path / "absent")
    assert binary.is_relative_to(tmp_path) and is_static_elf(binary)
    downloaded = binary.stat().st_mtime_ns
    assert busybox_binary(tmp_path, system_binary=tmp_path / "absent") == binary
    assert binary.stat().st_mtime_ns == downloaded


@pytest.mark.engine
def test_docker_engine_runs_a_busybox_container(tmp_path: Path) -> None:
    engine = DockerEngine(tmp_path / "engine")
    with engine:
        assert engine.run("version", "--format", "{{.Server.Version}}").stdout.strip()
        image = busybox_image_tar(busybox_binary(tmp_path / "cache"), tmp_path / "busybox.tar")
        engine.run("load", "--input", str(image))
        result = engine.run("run", "--rm", "--network", "none", IMAGE_TAG, "echo", "hello")
        assert result.stdout == "hello\n"
        # A container still running at stop() must not outlive the engine.
        engine.run("run", "--detach", "--network", "none", IMAGE_TAG, "sleep", "600")
        pids = engine.pids()
        assert {engine.dockerd.pid, engine.containerd.pid} < pids  # plus the shim and the container
    assert not [pid for pid in pids if pid_alive(pid)]
    assert not mount_points_under(engine.data_root)
    assert not engine.run_dir.exists()


@pytest.mark.engine
def test_docker_engine_cleans_up_after_killed_daemons(tmp_path: Path) -> None:
    """If dockerd and containerd die abruptly, stop() still ends the shims and containers and unmounts."""
    engine = DockerEngine(tmp_path / "engine")
    with engine:
        image = busybox_image_tar(busybox_binary(tmp_path / "cache"), tmp_path / "busybox.tar")
        engine.run("load", "--input", str(image))
        engine.run("run", "--detach", "--network", "none", IMAGE_TAG, "sleep", "600")
        pids = engine.pids()
        for daemon in (engine.dockerd, engine.containerd):
            assert daemon.pid is not None
            os.kill(daemon.pid, signal.SIGKILL)
        assert mount_points_under(engine.data_root)  # dockerd had no chance to undo its mount
    assert not [pid for pid in pids if pid_alive(pid)]
    assert not mount_points_under(engine.data_root)
    assert not engine.run_dir.exists()
