"""What the lab's servers answered between two moments, read from their own logs: the one place they are parsed.

``with lab.traffic() as seen: …`` notes where each log ends; leaving the block waits until the logs
stop growing (a server writes its line after the answer went out, so a client can finish first) and
reads what was appended, one :class:`~regkit.analysis.served.Served` row per request:

- nginx (registry front, CDN, seed proxy, gateway, forward proxy, TLS front) writes the ``lab``
  ``log_format`` of :mod:`regkit.lab.nginx`: port, method, path as requested, status, body bytes,
  time, and whether a cookie and an Authorization header came (never their values);
- docker-registry (the registry and the pull-through cache) writes one combined-format access line
  per request (a ``401`` too, which has no ``response completed`` line) among its logrus lines. It
  logs no request header; with token auth any answer but ``401`` needed a valid token, so
  Authorization came. Without auth (the cache), or for a ``401`` (none sent, or a bad one), the log
  cannot tell: ``None``, rather than a guess;
- the lab's Python service (token service, blob-redirect edge, fault proxy) writes :func:`served_line`
  through :class:`LoggedHandler`.

The delaying relay in front of the seed's proxy copies bytes and has no requests to log: what it
relayed is in the seed proxy's rows.
"""

from __future__ import annotations

import io
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..analysis.served import Served

if TYPE_CHECKING:
    import pandas as pd

# nginx server blocks by the lab's port names (LabSettings fields), and the name each row gets.
NGINX_SERVERS = {
    "front": "registry",
    "cdn": "CDN",
    "proxy": "seed proxy",
    "gateway": "gateway",
    "forward": "forward proxy",
    "tls": "TLS front",
}
REGISTRY = "docker-registry"
CACHE = "pull-through cache"
TOKEN_SERVICE = "token service"
EDGE = "edge"
FAULT_PROXY = "faults"
SETTLE = 0.15  # seconds a log must stay the same size before the window closes
SETTLE_LIMIT = 5.0  # a server that keeps writing longer than this is read as it is
_SERVED_MARK = "served\t"
_LOGRUS_TIME = re.compile(r'time="([^"]+)"')
# Gorilla's combined log format, which docker-registry writes for every request it answered.
_ACCESS_LINE = re.compile(
    r'\S+ \S+ \S+ \[(?P<when>[^\]]+)\] "(?P<method>[A-Z]+) (?P<uri>\S+) [^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-) '
)

Parser = Callable[[str], Iterator[Served]]


# -- the lab's Python service: how it logs ----------------------------------------------------------


def served_line(row: Served) -> str:
    """The service's log line for one request (tab-separated: no field can hold a tab)."""
    auth = "yes" if row.auth else "no"
    return f"{_SERVED_MARK}{row.server}\t{row.time:.6f}\t{row.method}\t{row.path}\t{row.status}\t{row.bytes}\t{auth}\n"


class _CountingWriter(io.BufferedIOBase):
    """The handler's ``wfile``, counting what goes through it."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        super().__init__()
        self.raw = raw
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.raw.write(data)
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.close()
        super().close()


class LoggedHandler(BaseHTTPRequestHandler):
    """A request handler that logs one :func:`served_line` per request to stderr (the service's log)."""

    served_as = "service"  # the server name its rows get
    _status: int | None = None
    _body_from = 0

    def setup(self) -> None:
        super().setup()
        self._counter = _CountingWriter(self.wfile)
        self.wfile = self._counter

    def handle_one_request(self) -> None:
        self._status = None
        super().handle_one_request()
        # Answered without a request line it could parse (a probe, garbage): no request to log.
        if self._status is not None and self.command and hasattr(self, "path"):
            path = self.path.split("?", 1)[0]
            sent = self._counter.written - self._body_from
            row = Served(time.time(), self.served_as, self.command, path, self._status, sent, self._had_auth())
            sys.stderr.write(served_line(row))
            sys.stderr.flush()

    def _had_auth(self) -> bool:
        headers = getattr(self, "headers", None)  # none when the request line was refused
        return bool(headers and headers.get("Authorization"))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Instead of the request line: the row is written once the body went out too.
        self._status = int(code)

    def end_headers(self) -> None:
        super().end_headers()
        self._body_from = self._counter.written


# -- parsers, one per log format ----------------------------------------------------------------------


def service_rows(line: str) -> Iterator[Served]:
    """A row from a :func:`served_line`; any other line of the service's log (a traceback) is skipped."""
    if not line.startswith(_SERVED_MARK):
        return
    server, when, method, path, status, sent, auth = line[len(_SERVED_MARK) :].split("\t")
    yield Served(float(when), server, method, path, int(status), int(sent), auth == "yes")


def nginx_rows(servers: Mapping[int, str]) -> Parser:
    """Rows from the lab's nginx ``log_format lab``, named by the port each server block listens on."""

    def parse(line: str) -> Iterator[Served]:
        port, method, rest = line.split(" ", 2)
        path, status, sent, when, _cookie, auth = rest.rsplit(" ", 5)
        # A connection closed before it sent a request (a readiness probe) is logged as 400 without a method.
        if int(port) in servers and method not in ("", "-"):
            yield Served(float(when), servers[int(port)], method, path, int(status), int(sent), auth == "auth=yes")

    return parse


def registry_rows(server: str, *, token_auth: bool) -> Parser:
    """Rows from docker-registry's log: one per access-log line (every request has one, a ``401`` too).

    The access line's time has whole seconds; the row takes the time of the logrus line just before it
    when that is later (the ``response completed`` line of the same request, written first).
    ``token_auth``: the registry checks tokens, so any answer but ``401`` means a valid one came.
    """
    last = 0.0

    def parse(line: str) -> Iterator[Served]:
        nonlocal last
        logrus = _LOGRUS_TIME.match(line)
        if logrus:
            last = max(last, _logrus_time(logrus[1]))
            return
        access = _ACCESS_LINE.match(line)
        if access is None:
            return
        when = max(last, datetime.strptime(access["when"], "%d/%b/%Y:%H:%M:%S %z").timestamp())
        status, sent = int(access["status"]), 0 if access["bytes"] == "-" else int(access["bytes"])
        auth = True if token_auth and status != 401 else None
        yield Served(when, server, access["method"], access["uri"].split("?", 1)[0], status, sent, auth)

    return parse


def _logrus_time(text: str) -> float:
    """Epoch seconds of logrus's RFC 3339 time with nanoseconds (Python parses microseconds)."""
    whole, _, rest = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}+00:00").timestamp() + float(f"0.{rest or 0}")


# -- the window -----------------------------------------------------------------------------------------


@dataclass
class Log:
    """One log file and how to read it."""

    path: Path
    parse: Parser
    start: int = 0

    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def rows(self, end: int) -> list[Served]:
        """Rows of the complete lines between ``start`` and ``end`` bytes."""
        if end <= self.start:
            return []
        with self.path.open("rb") as log:
            log.seek(self.start)
            text = log.read(end - self.start).decode(errors="replace")
        complete = text[: text.rfind("\n") + 1]
        return [row for line in complete.splitlines() if line for row in self.parse(line)]


@dataclass
class Traffic:
    """What the servers answered while the ``with`` block ran: :attr:`served`, :meth:`of`, :meth:`frame`."""

    logs: Sequence[Log]
    served: tuple[Served, ...] = field(default=(), init=False)

    def __enter__(self) -> Traffic:
        for log in self.logs:
            log.start = log.size()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        ends = _settled(self.logs)
        rows = [row for log, end in zip(self.logs, ends, strict=True) for row in log.rows(end)]
        self.served = tuple(sorted(rows, key=lambda row: row.time))

    def of(self, *servers: str, method: str | None = None) -> tuple[Served, ...]:
        """The rows of these servers (all with none given), optionally of one method only."""
        return tuple(
            row
            for row in self.served
            if (not servers or row.server in servers) and (method is None or row.method == method)
        )

    def count(self, server: str) -> int:
        """How many requests ``server`` answered."""
        return len(self.of(server))

    def servers(self) -> dict[str, int]:
        """Requests per server, in the order each first answered."""
        counts: dict[str, int] = {}
        for row in self.served:
            counts[row.server] = counts.get(row.server, 0) + 1
        return counts

    def frame(self, *servers: str) -> pd.DataFrame:
        """A DataFrame, one row per request: time, server, method, path, status, bytes, auth."""
        import pandas as pd

        frame = pd.DataFrame(list(self.of(*servers)), columns=list(Served._fields))
        frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
        frame["auth"] = frame["auth"].astype("boolean")  # None stays <NA>: the log could not tell
        return frame


def _settled(logs: Sequence[Log]) -> list[int]:
    """Each log's size once none has grown for :data:`SETTLE` seconds (at most :data:`SETTLE_LIMIT`)."""
    sizes = [log.size() for log in logs]
    deadline = time.monotonic() + SETTLE_LIMIT
    while time.monotonic() < deadline:
        time.sleep(SETTLE)
        again = [log.size() for log in logs]
        if again == sizes:
            break
        sizes = again
    return sizes


def lab_logs(state_dir: Path, ports: Mapping[str, Any], cache_dir: str) -> list[Log]:
    """The logs of a lab in ``state_dir`` whose ports (LabSettings fields) are ``ports``."""
    servers = {int(ports[name]): label for name, label in NGINX_SERVERS.items() if ports.get(name)}
    logs = [
        Log(state_dir / "nginx" / "access.log", nginx_rows(servers)),
        Log(state_dir / "registry" / "registry.log", registry_rows(REGISTRY, token_auth=True)),
        Log(state_dir / "service" / "service.log", service_rows),
    ]
    if ports.get("cache"):
        logs.append(Log(state_dir / cache_dir / "registry.log", registry_rows(CACHE, token_auth=False)))
    return logs
