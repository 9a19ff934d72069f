"""One server process: started in its own session, logged and tracked in a state directory, stopped by PID."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NoReturn, TypeVar

import requests

from ..errors import LabError, PortInUse

Probe = Callable[[], bool]
"""A readiness check: returns True once the server answers."""

SETUP_SCRIPT = "scripts/setup"
LOG_TAIL_LINES = 40
_POLL_INTERVAL = 0.1
_KILL_WAIT = 5.0
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 1024  # below it a port is privileged, and well-known services expect theirs free
_PICK_TRIES = 64
_TCP_LISTEN = "0A"  # the st column of /proc/net/tcp
_PORT_IN_USE = ("address already in use", "address in use")


@dataclass(frozen=True)
class ProcInfo:
    """One process as /proc shows it; ``start_time`` is in clock ticks since boot."""

    pid: int
    ppid: int
    state: str
    start_time: int
    argv: tuple[str, ...]

    @property
    def alive(self) -> bool:
        """False for a zombie: it has exited and only waits to be collected by its parent."""
        return self.state not in ("Z", "X")


def proc_info(pid: int) -> ProcInfo | None:
    """The process with this PID as /proc shows it, or None when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name sits in parentheses and may itself contain spaces or ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    argv = tuple(os.fsdecode(arg) for arg in cmdline.rstrip(b"\0").split(b"\0")) if cmdline else ()
    return ProcInfo(pid=pid, ppid=int(fields[1]), state=fields[0], start_time=int(fields[19]), argv=argv)


def list_processes() -> Iterator[ProcInfo]:
    """Every process currently in /proc."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := proc_info(int(entry))) is not None:
            yield info


def pid_alive(pid: int) -> bool:
    """True if the PID names a process that has not exited (zombies count as exited)."""
    info = proc_info(pid)
    return info is not None and info.alive


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> range:
    """The kernel's ephemeral port range: source ports of outgoing connections and of ``bind(port 0)``."""
    try:
        low, high = (int(field) for field in path.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default, for a /proc that does not say
    return range(low, high + 1)


def pick_port(ephemeral: range | None = None) -> int:
    """A TCP port on 127.0.0.1, free right now, for a server that must be told its port before it binds.

    Ports come from outside the ephemeral range: a port from inside it (what ``bind(port 0)`` hands
    out) may become the source port of any outgoing connection, the lab's own included, before the
    server binds it. Outside the range only another server choosing a port at random can collide, and
    the caller retries that with a fresh port (:class:`PortInUse`).
    """
    taken = ephemeral if ephemeral is not None else ephemeral_range()
    candidates = [*range(_LOWEST_PORT, min(taken.start, 65536)), *range(max(taken.stop, _LOWEST_PORT), 65536)]
    if not candidates:
        raise LabError(f"no TCP port outside the ephemeral range {taken.start}-{taken.stop - 1}")
    for port in random.sample(candidates, min(len(candidates), _PICK_TRIES)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise LabError(f"no free TCP port outside the ephemeral range after {_PICK_TRIES} tries")


def listening_sockets(port: int, host: str = "127.0.0.1") -> set[int]:
    """Inodes of the sockets listening on host:port (IPv4), from /proc/net/tcp."""
    wanted = f"{socket.htonl(int.from_bytes(socket.inet_aton(host), 'big')):08X}:{port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == _TCP_LISTEN:
            inodes.add(int(fields[9]))
    return inodes


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets a process holds open."""
    inodes = set()
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def require_binary(path: str | Path, package: str) -> Path:
    """The executable at ``path``, or a LabError naming the Debian package that provides it."""
    binary = Path(path)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise LabError(
            f"{binary} is missing",
            hint=f"it comes from the Debian package {package}; run {SETUP_SCRIPT} as root to install the lab's tools",
        )
    return binary


def tcp_probe(port: int, host: str = "127.0.0.1") -> Probe:
    """A probe that passes once something accepts TCP connections on host:port."""

    def probe() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            return False

    return probe


def unix_socket_probe(path: Path) -> Probe:
    """A probe that passes once something accepts connections on the unix socket."""

    def probe() -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            try:
                sock.connect(str(path))
            except OSError:
                return False
            return True

    return probe


def http_probe(url: str) -> Probe:
    """A probe that passes once the URL gives any HTTP answer (a 401 also means the server is up)."""

    def probe() -> bool:
        with requests.Session() as session:
            # A proxy from the environment must not stand in for the local server.
            session.trust_env = False
            try:
                session.get(url, timeout=2.0, allow_redirects=False)
            except requests.RequestException:
                return False
            return True

    return probe


_S = TypeVar("_S", bound="Service")


class Service:
    """Something started and stopped: ``with`` starts it and always stops it."""

    def start(self) -> None:
        """Start; return once ready."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop; safe to call when not running."""
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ManagedProcess(Service):
    """A server command run in its own session, with NAME.log and NAME.pid in ``state_dir``.

    ``ports`` are the ports the command was told to listen on: it counts as ready only once its own
    sockets listen there (another program's listener on the port does not count), and a start that
    fails because one is taken raises :class:`PortInUse`.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        state_dir: Path,
        ready: Probe,
        *,
        ports: Sequence[int] = (),
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.state_dir = Path(state_dir)
        self.ready = ready
        self.ports = tuple(ports)
        self.env = dict(env) if env is not None else None
        self.ready_timeout = ready_timeout
        self.log_path = self.state_dir / f"{name}.log"
        self.pid_path = self.state_dir / f"{name}.pid"
        # Set only while our child is unreaped; waitid() and the group kill in _reap() rely on that.
        self._popen: subprocess.Popen[bytes] | None = None

    @classmethod
    def recorded(cls, name: str, state_dir: Path) -> ManagedProcess:
        """A handle on the process a pidfile in ``state_dir`` records, to inspect or stop it (it cannot start)."""
        return cls(name, [], state_dir, ready=lambda: False)

    @property
    def pid(self) -> int | None:
        """PID of the running process, started here or recorded in the pidfile; None if it is not running."""
        pid = self._owned_pid()
        return pid if pid is not None and not self._exited(pid) else None

    def start(self) -> None:
        """Start the command and return once the readiness probe passes."""
        if (running := self.pid) is not None:
            raise LabError(f"{self.name} is already running with PID {running}", hint=f"see {self.pid_path}")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            try:
                # A new session makes the process a group leader, so stop() can signal the group by its PID.
                self._popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise LabError(f"cannot start {self.name}: {exc}") from exc
        self._write_pidfile(self._popen.pid)
        self._wait_ready(self._popen)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process group: SIGTERM, up to ``timeout`` seconds of grace, then SIGKILL."""
        pid = self._owned_pid()
        if pid is not None:
            _signal_group(pid, signal.SIGTERM)
            if not self._wait_exited(pid, timeout):
                _signal_group(pid, signal.SIGKILL)
                self._wait_exited(pid, _KILL_WAIT)
            self._reap(pid)
        self.pid_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _write_pidfile(self, pid: int) -> None:
        """Record the PID and its start time, which tells this process from a later one given the same PID."""
        info = proc_info(pid)
        start_time = info.start_time if info is not None else 0
        self.pid_path.write_text(f"{pid}\n{start_time}\n")

    def _wait_ready(self, popen: subprocess.Popen[bytes]) -> None:
        """Poll the probe until it passes; stop the process and raise if it exits or the timeout passes."""
        deadline = time.monotonic() + self.ready_timeout
        while not (self._listens(popen.pid) and self.ready()):
            if self._exited(popen.pid):
                self.stop()
                self._fail(f"{self.name} exited with status {popen.returncode} before it was ready")
            if time.monotonic() > deadline:
                self.stop()
                self._fail(f"{self.name} was not ready within {self.ready_timeout:g} s")
            time.sleep(_POLL_INTERVAL)

    def _listens(self, pid: int) -> bool:
        """True once every port in ``ports`` has a listening socket that this process holds."""
        if not self.ports:
            return True
        own = socket_inodes(pid)
        return all(listening_sockets(port) & own for port in self.ports)

    def _fail(self, message: str) -> NoReturn:
        """Raise a LabError carrying the end of the log, where the reason usually is; PortInUse for a taken port."""
        tail = self.log_tail()
        if self.ports and any(words in tail.lower() for words in _PORT_IN_USE):
            # The log names the address it could not bind (nginx: "bind() to 127.0.0.1:PORT failed").
            port = next((p for p in self.ports if f":{p}" in tail), self.ports[0])
            raise PortInUse(
                f"{self.name} could not listen on 127.0.0.1:{port}: another program holds that port; "
                f"last lines of {self.log_path}:\n{tail}",
                server=self.name,
                port=port,
            )
        raise LabError(f"{message}; last lines of {self.log_path}:\n{tail}")

    def _owned_pid(self) -> int | None:
        """The PID this object may signal: its own unreaped child, or the pidfile's process if still the same."""
        if self._popen is not None:
            return self._popen.pid
        return _pid_from_pidfile(self.pid_path)

    def _exited(self, pid: int) -> bool:
        """True once the process has exited."""
        if self._popen is not None:
            # WNOWAIT leaves the zombie in place: it keeps the group id reserved until _reap() kills the group.
            try:
                return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            except ChildProcessError:
                return True  # already collected, by a pidfile handle that stopped it
        return not pid_alive(pid)

    def _wait_exited(self, pid: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the process to exit; True if it did."""
        deadline = time.monotonic() + timeout
        while not self._exited(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL_INTERVAL)
        return True

    def _reap(self, pid: int) -> None:
        """Kill what is left of our child's group, then collect the child's exit status."""
        info = proc_info(pid)
        if self._popen is None and (info is None or info.ppid != os.getpid()):
            return  # not our child: its own parent collects it
        # The leader is an unreaped zombie, so the group id cannot have been reused by a stranger yet.
        _signal_group(pid, signal.SIGKILL)
        if self._popen is not None:
            self._popen.wait()
            self._popen = None
        else:
            # Our child, started by another handle (a pidfile handle stops it): collect it here, or it stays a zombie.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _pid_from_pidfile(path: Path) -> int | None:
    """The live process recorded in the pidfile, or None if it is gone or the PID now names another process."""
    try:
        pid_text, start_text = path.read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    info = proc_info(int(pid_text))
    if info is None or not info.alive or info.start_time != int(start_text):
        return None
    return info.pid


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send a signal to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
