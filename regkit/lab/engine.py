"""A private Docker engine: its own containerd and dockerd, with state, sockets and logs kept out of the host's."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..analysis.served import Served
from ..errors import LabError
from .process import ManagedProcess, ProcInfo, Service, list_processes, pid_alive, require_binary, unix_socket_probe
from .traffic import Traffic

DOCKERD = Path("/usr/sbin/dockerd")
DOCKER = Path("/usr/bin/docker")
CONTAINERD = Path("/usr/bin/containerd")
RUNC = Path("/usr/sbin/runc")
_PACKAGES = {DOCKERD: "docker.io", DOCKER: "docker.io", CONTAINERD: "containerd", RUNC: "runc"}
# Unix socket paths are limited to 107 bytes. The deepest socket the daemons create below the runtime
# directory is exec/libnetwork/<12 hex>.sock (33 bytes); keep a margin above that.
_SUN_PATH_MAX = 107
_SOCKET_SUFFIX_BUDGET = 40
# The Debian daemons find runc, the containerd shims and docker-init on PATH; these directories come first so
# that no other copy (such as a newer client-only docker in /usr/local/bin) is picked up instead.
_SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_MNT_DETACH = 2
# dockerd's default containerd namespace, which also names its runc state directory.
_NAMESPACE = "moby"
# containerd 1.6 puts every shim socket here, whatever its own state directory is.
_SHIM_SOCKET_DIR = Path("/run/containerd/s")
_MOUNT_ESCAPE = re.compile(r"\\([0-7]{3})")
_LOG_MSG = re.compile(r'msg="((?:[^"\\]|\\.)*)"')
RELOAD_TIMEOUT = 10.0


class Watched(Protocol):
    """Servers whose traffic can be watched: the :class:`~regkit.lab.lab.Lab`."""

    def traffic(self) -> Traffic: ...


@dataclass(frozen=True)
class DockerPull:
    """One ``docker pull``: how it ended, how long it took, what it printed, and what the servers saw meanwhile.

    Attributes
    ----------
    name : str
        The image as given to ``docker pull``.
    mirrors : tuple of str
        The engine's ``registry-mirrors`` during the pull.
    status : int
        The docker CLI's exit status.
    seconds : float
        How long the pull took.
    output : str
        What the CLI printed, stdout and stderr.
    traffic : Traffic or None
        What the watched lab servers answered meanwhile; None when none were watched.
    """

    name: str
    mirrors: tuple[str, ...]
    status: int  # the docker CLI's exit status
    seconds: float
    output: str  # stdout and stderr
    traffic: Traffic | None  # None when no servers were watched

    @property
    def ok(self) -> bool:
        """Whether the pull succeeded."""
        return self.status == 0

    @property
    def served(self) -> tuple[Served, ...]:
        """Every request the watched servers answered during the pull."""
        return self.traffic.served if self.traffic is not None else ()

    @property
    def summary(self) -> str:
        """One line: the pull, its exit status and time, and its last line of output."""
        via = f" via {', '.join(self.mirrors)}" if self.mirrors else ""
        last = self.output.splitlines()[-1] if self.output else ""
        return f"docker pull {self.name}{via}: exit status {self.status} after {self.seconds:.2f} s: {last}"


class DockerEngine(Service):
    """A Docker 20.10 engine of its own, listening on a unix socket, with containers on the vfs storage driver.

    Parameters
    ----------
    state_dir : Path
        Where its ``daemon.json``, data and sockets go.
    shutdown_timeout : int, default 5
        Seconds ``dockerd`` gives containers to stop.
    mirrors : sequence of str, optional
        Its ``registry-mirrors``.
    insecure_registries : sequence of str, optional
        Its ``insecure-registries``.
    """

    def __init__(
        self,
        state_dir: Path,
        shutdown_timeout: int = 5,
        *,
        mirrors: Sequence[str] = (),
        insecure_registries: Sequence[str] = (),
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.shutdown_timeout = shutdown_timeout
        self.mirrors = tuple(mirrors)
        self.insecure_registries = tuple(insecure_registries)
        self.data_root = self.state_dir / "data"
        self.client_config_dir = self.state_dir / "client"
        self.run_dir = _runtime_dir(self.state_dir)
        self.socket = self.run_dir / "docker.sock"
        self.containerd_socket = self.run_dir / "containerd" / "containerd.sock"
        self.containerd = ManagedProcess(
            "containerd",
            [str(CONTAINERD), "--config", str(self.state_dir / "containerd.toml")],
            self.state_dir,
            ready=unix_socket_probe(self.containerd_socket),
            env=_daemon_env(),
        )
        self.dockerd = ManagedProcess(
            "dockerd", self._dockerd_argv(), self.state_dir, ready=self._answers, env=_daemon_env(), ready_timeout=60.0
        )

    @property
    def host(self) -> str:
        """The daemon address for ``docker -H`` or ``DOCKER_HOST``."""
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        """The dockerd log; containerd logs to containerd.log beside it."""
        return self.dockerd.log_path

    def start(self) -> None:
        """Start containerd, then dockerd; returns once ``docker version`` answers."""
        # Checked first: the cleanup after a failed start below must not stop an engine that was already running.
        if (running := self.containerd.pid or self.dockerd.pid) is not None:
            raise LabError(f"an engine already runs in {self.state_dir} (PID {running})")
        for binary, package in _PACKAGES.items():
            require_binary(binary, package)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.state_dir / "containerd.toml").write_text(self._containerd_config())
        self._write_daemon_config()
        try:
            self.containerd.start()
            self.dockerd.start()
        except LabError:
            self.stop()
            raise

    def configure(self, mirrors: Sequence[str] = (), insecure_registries: Sequence[str] = ()) -> None:
        """Change ``registry-mirrors`` and ``insecure-registries`` of the running engine (a SIGHUP reload).

        Parameters
        ----------
        mirrors : sequence of str, default ()
            The new ``registry-mirrors``, replacing the old ones.
        insecure_registries : sequence of str, default ()
            The new ``insecure-registries``, replacing the old ones.

        Raises
        ------
        LabError
            No engine runs; or dockerd refused the new settings (the message quotes its log; it keeps the old
            ones), or did not say it reloaded within 10 s (see :attr:`log_path`).
        """
        pid = self.dockerd.pid
        if pid is None:
            raise LabError(f"no engine runs in {self.state_dir}")
        self.mirrors, self.insecure_registries = tuple(mirrors), tuple(insecure_registries)
        offset = self.log_path.stat().st_size
        self._write_daemon_config()
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                lines = log.read().decode(errors="replace").splitlines()
            if any("Reloaded configuration" in line for line in lines):
                return
            refused = next((line for line in lines if "level=error" in line), None)
            if refused is not None:
                raise LabError(f"dockerd refused the new configuration: {_log_message(refused)}")
            time.sleep(0.05)
        raise LabError(f"dockerd did not reload its configuration within {RELOAD_TIMEOUT:g} s (see {self.log_path})")

    def _write_daemon_config(self) -> None:
        """daemon.json: the identity key's path, and the mirrors and insecure registries."""
        # dockerd 20.10 writes its identity key to /etc/docker/key.json unless told otherwise, and this
        # setting has no command-line flag. Our own file also keeps a host /etc/docker/daemon.json out.
        daemon_config: dict[str, object] = {"deprecated-key-path": str(self.state_dir / "key.json")}
        daemon_config["registry-mirrors"] = list(self.mirrors)
        daemon_config["insecure-registries"] = list(self.insecure_registries)
        (self.state_dir / "daemon.json").write_text(json.dumps(daemon_config, indent=2))

    def stop(self) -> None:
        """Stop the containers, dockerd and containerd by PID, undo their mounts and remove the runtime dir."""
        if self.dockerd.pid is not None:
            self._kill_containers()
        self.dockerd.stop(timeout=self.shutdown_timeout + 10)
        self.containerd.stop()
        # Only daemons that were killed leave anything behind: runc containers, and shims watching them.
        self._delete_runc_containers()
        self._kill_shims()
        _unmount_all(_mounts_under(self.data_root) + _mounts_under(self.run_dir))
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS`` against this engine; with ``check``, a non-zero exit raises LabError with stderr.

        Parameters
        ----------
        *args : str
            The docker CLI's arguments, such as ``"images", "--quiet"``.
        input : str, optional
            Text for the command's stdin; default none (stdin is ``/dev/null``).
        check : bool, default True
            Raise on a non-zero exit status.
        timeout : float, default 120.0
            Seconds the command may take.

        Returns
        -------
        subprocess.CompletedProcess of str
            The exit status, stdout and stderr.

        Raises
        ------
        LabError
            The command did not finish within ``timeout``, or (with ``check``) exited non-zero; the message
            has the command and its stderr.
        """
        argv = [str(DOCKER), "--config", str(self.client_config_dir), "--host", self.host, *args]
        try:
            result = subprocess.run(
                argv,
                input=input,
                stdin=subprocess.DEVNULL if input is None else None,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=_client_env(),
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"docker {shlex.join(args)} did not finish within {timeout:g} s") from exc
        if check and result.returncode != 0:
            raise LabError(f"docker {shlex.join(args)} failed with status {result.returncode}: {result.stderr.strip()}")
        return result

    def pull(
        self, name: str, *, mirrors: Sequence[str] | None = None, watch: Watched | None = None, timeout: float = 120.0
    ) -> DockerPull:
        """``docker pull NAME`` from an engine holding no image, as a :class:`DockerPull`; never raises on failure.

        ``mirrors`` (a list, possibly empty) first reloads the engine with these ``registry-mirrors``;
        ``watch`` (a lab) records what its servers answered during the pull. Every image is removed
        first: one sharing a layer with ``name`` would spare the pull that download, and the pull would
        not cost what a first pull costs.

        Parameters
        ----------
        name : str
            The image, as ``docker pull`` takes it.
        mirrors : sequence of str, optional
            ``registry-mirrors`` to reload the engine with first (empty: none); default the current ones.
        watch : Lab, optional
            Whose servers' answers to record during the pull (anything with a ``traffic()`` context).
        timeout : float, default 120.0
            Seconds the pull may take.

        Returns
        -------
        DockerPull
            The exit status, time, output and traffic; a failed pull is a non-zero ``status``.

        Raises
        ------
        LabError
            Not the pull itself: the reload with ``mirrors`` failed (see :meth:`configure`), removing the
            images failed, or the pull did not finish within ``timeout``.
        """
        if mirrors is not None:
            self.configure(mirrors, self.insecure_registries)
        images = self.run("images", "--quiet").stdout.split()
        if images:
            self.run("rmi", "--force", *images)
        traffic = watch.traffic() if watch is not None else None
        started = time.monotonic()
        with traffic if traffic is not None else contextlib.nullcontext():
            result = self.run("pull", name, check=False, timeout=timeout)
        seconds = time.monotonic() - started
        output = (result.stdout + result.stderr).strip()
        return DockerPull(name, self.mirrors, result.returncode, seconds, output, traffic)

    def pids(self) -> set[int]:
        """Live processes of this engine: dockerd, containerd, the containerd shims and the containers below them.

        Returns
        -------
        set of int
            Their PIDs; empty when the engine is stopped.
        """
        daemons = {pid for pid in (self.dockerd.pid, self.containerd.pid) if pid is not None}
        return _with_descendants(daemons | {shim.pid for shim in self._shims()})

    def _shims(self) -> list[ProcInfo]:
        """This engine's containerd shims, recognised by the containerd address they were given."""
        # Shims detach from containerd and end up under PID 1, so they are not found as its descendants.
        address = str(self.containerd_socket)
        return [info for info in list_processes() if info.alive and _shim_options(info.argv).get("-address") == address]

    def _delete_runc_containers(self) -> None:
        """Force-delete the containers runc still has state for: this kills them and removes their cgroups."""
        runc_root = self.run_dir / "exec" / "runtime-runc" / _NAMESPACE
        for state in runc_root.glob("*/state.json"):
            subprocess.run(
                [str(RUNC), "--root", str(runc_root), "delete", "--force", state.parent.name],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )

    def _kill_shims(self) -> None:
        """Kill leftover shims with anything still below them, and remove their sockets."""
        shims = self._shims()
        _kill_and_wait(_with_descendants({shim.pid for shim in shims}))
        for shim in shims:
            _shim_socket(shim.argv).unlink(missing_ok=True)

    def _dockerd_argv(self) -> list[str]:
        """The dockerd command line: no iptables, bridge or forwarding changes on the host; vfs storage."""
        return [
            str(DOCKERD),
            f"--config-file={self.state_dir / 'daemon.json'}",
            # Our own containerd: without this flag dockerd would use a system containerd if one is running.
            f"--containerd={self.containerd_socket}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.run_dir / 'exec'}",
            f"--pidfile={self.run_dir / 'dockerd.pid'}",
            f"--host={self.host}",
            # vfs copies layers instead of mounting them: slower, but works on any filesystem, overlay included.
            "--storage-driver=vfs",
            "--iptables=false",
            "--bridge=none",
            "--ip-forward=false",
            "--ip-masq=false",
            f"--shutdown-timeout={self.shutdown_timeout}",
        ]

    def _containerd_config(self) -> str:
        """containerd's TOML config: root under the data root, state and socket in the runtime dir."""
        root = json.dumps(str(self.data_root / "containerd"))
        state = json.dumps(str(self.run_dir / "containerd"))
        address = json.dumps(str(self.containerd_socket))
        return (
            "version = 2\n"
            f"root = {root}\n"
            f"state = {state}\n"
            # cri is for Kubernetes; opt would create /opt/containerd on the host.
            'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]\n'
            "\n[grpc]\n"
            f"  address = {address}\n"
            "\n[debug]\n"
            '  level = "info"\n'
        )

    def _answers(self) -> bool:
        """Readiness probe: the socket accepts connections and ``docker version`` succeeds."""
        if not unix_socket_probe(self.socket)():
            return False
        try:
            return self.run("version", check=False, timeout=10.0).returncode == 0
        except LabError:
            return False

    def _kill_containers(self) -> None:
        """SIGKILL running containers: they are throwaway, and each would delay shutdown by its stop timeout."""
        try:
            running = self.run("ps", "--quiet", check=False, timeout=30.0).stdout.split()
            if running:
                self.run("kill", *running, check=False, timeout=60.0)
        except LabError:
            pass  # a daemon that does not answer is killed, containers included, by stop()


def _log_message(line: str) -> str:
    """The ``msg="…"`` of a logrus line, or the line."""
    match = _LOG_MSG.search(line)
    return match[1].replace('\\"', '"') if match else line


def _runtime_dir(state_dir: Path) -> Path:
    """Where sockets go: ``state_dir/run``, or a short directory in /tmp named after state_dir if that is too long."""
    preferred = state_dir / "run"
    if len(str(preferred)) + _SOCKET_SUFFIX_BUDGET <= _SUN_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"regkit-engine-{digest}"


def _daemon_env() -> dict[str, str]:
    """The environment for containerd and dockerd: ours, with the system directories first on PATH."""
    return {**os.environ, "PATH": f"{_SYSTEM_PATH}:{os.environ.get('PATH', '')}"}


def _client_env() -> dict[str, str]:
    """The environment for the docker CLI: only our --host and --config may pick the daemon and client config."""
    return {key: value for key, value in os.environ.items() if not key.startswith("DOCKER_")}


def _kill_and_wait(pids: Collection[int], timeout: float = 5.0) -> None:
    """SIGKILL processes by PID and wait until they have exited; ones already gone are skipped."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)


def _with_descendants(roots: set[int]) -> set[int]:
    """The root PIDs and all their live descendants."""
    processes = [info for info in list_processes() if info.alive]
    found = set(roots)
    frontier = set(roots)
    while frontier:
        frontier = {info.pid for info in processes if info.ppid in frontier} - found
        found |= frontier
    return found


def _shim_options(argv: tuple[str, ...]) -> dict[str, str]:
    """The options a containerd shim is started with (``-address``, ``-namespace``, ``-id``); empty for others."""
    return {flag: value for flag, value in itertools.pairwise(argv) if flag in ("-address", "-namespace", "-id")}


def _shim_socket(argv: tuple[str, ...]) -> Path:
    """The socket of a containerd 1.6 shim, which names it after a hash of its address, namespace and id."""
    options = _shim_options(argv)
    key = f"{options.get('-address')}/{options.get('-namespace')}/{options.get('-id')}"
    return _SHIM_SOCKET_DIR / hashlib.sha256(key.encode()).hexdigest()


def _mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below ``directory``, from /proc/self/mounts."""
    base = directory.resolve()
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        # Spaces and other special characters in mount points are written as octal escapes.
        mount_point = Path(_MOUNT_ESCAPE.sub(lambda m: chr(int(m[1], 8)), line.split()[1]))
        if mount_point == base or base in mount_point.parents:
            found.append(mount_point)
    return found


def _unmount_all(mount_points: list[Path]) -> None:
    """Detach the mounts, deepest first; ones that are already gone are skipped."""
    libc = ctypes.CDLL(None, use_errno=True)
    for mount_point in sorted(mount_points, key=lambda path: len(path.parts), reverse=True):
        if libc.umount2(os.fsencode(mount_point), _MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err != errno.EINVAL:  # EINVAL: not a mount point (any more)
                raise LabError(f"cannot unmount {mount_point}: {os.strerror(err)}")
