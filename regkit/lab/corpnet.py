"""Corporate networks in front of an open-mode lab: where pulls fail on the storage hop, not the registry.

- a TLS registry host and a TLS storage host (nginx, the lab's certificate, which plays a public CA),
  the registry's blob redirects pointing at the storage host, as S3 and CDN URLs do;
- mitmproxy (a real TLS-intercepting proxy, with its own CA in ``mitmproxy/``), one port per policy:
  ``intercepting`` re-signs every host, ``login`` wants Basic proxy credentials (``407``),
  ``blocking`` refuses CONNECT to the storage host (``403``); the last two pass TLS through;
- nginx forward proxies for plain HTTP: ``login`` again (``407``), ``sso`` adds an ``Authorization``
  header of its own to storage requests without one (S3 then answers ``400``), ``vpc`` answers the storage
  host with S3's policy ``AccessDenied`` (docker/hub-feedback#1318);
- a storage host whose clock runs an hour ahead of the registry's (nginx under ``faketime``), with a
  plain-HTTP registry front redirecting there: its signed URLs have expired when they arrive.

mitmproxy runs from its own virtualenv (scripts/setup makes it): its pinned dependencies would
downgrade the notebook kernel's.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError
from ..http.tls import ENV_CERTS_D
from .lab import Lab
from .nginx import cdn_server, forward_proxy, front_server, nginx_process, standalone_config, write_config
from .process import SETUP_SCRIPT, ManagedProcess, Service, pick_port, tcp_probe

ENV_MITMDUMP = "REGKIT_MITMDUMP"
DEFAULT_MITMDUMP = Path("/opt/regkit/mitmproxy/bin/mitmdump")
PROXY_USER = "corp"
ADDON = Path(__file__).with_name("mitm_policy.py")
NGINX_PORTS = ("registry", "storage", "login", "sso", "vpc", "skewed_registry")
SKEWED_PORTS = ("skewed_storage",)
# libfaketime (Debian's faketime) shifts the clock of the process it is preloaded into; the faketime
# command would run nginx as its child, which the lab's readiness check (its own listening sockets) refuses.
LIBFAKETIME = "/usr/lib/*/faketime/libfaketime.so.1"
CLOCK_SKEW = "+1h"  # the lab's CDN URLs live 10 minutes
MITM_PORTS = ("intercepting", "mitm_login", "blocking")
# Every spelling curl and requests read; behind() sets one and hides the others for the block.
PROXY_VARIABLES: tuple[str, ...] = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")
PROXY_VARIABLES += ("all_proxy", "NO_PROXY", "no_proxy")


def mitmdump_binary() -> Path:
    """``$REGKIT_MITMDUMP``, else scripts/setup's virtualenv; a LabError saying how to get it when missing."""
    binary = Path(os.environ.get(ENV_MITMDUMP) or DEFAULT_MITMDUMP)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise LabError(
            f"mitmdump is missing at {binary}",
            hint=f"run {SETUP_SCRIPT} as root (it installs mitmproxy from PyPI into {DEFAULT_MITMDUMP.parent.parent}), "
            f"or point {ENV_MITMDUMP} at a mitmdump",
        )
    return binary


def libfaketime() -> Path:
    """Debian's libfaketime, or a LabError naming the package."""
    found = sorted(Path("/").glob(LIBFAKETIME.lstrip("/")))
    if not found:
        raise LabError(
            f"libfaketime is missing ({LIBFAKETIME})",
            hint=f"it comes from the Debian package faketime; run {SETUP_SCRIPT} as root to install the lab's tools",
        )
    return found[0]


@dataclass(frozen=True)
class CorporatePorts:
    """Where each part listens."""

    registry: int
    storage: int
    login: int
    sso: int
    vpc: int
    skewed_registry: int
    skewed_storage: int
    intercepting: int
    mitm_login: int
    blocking: int


class CorporateNetwork(Service):
    """The TLS hosts and the proxies, started and stopped together (``with CorporateNetwork(lab, dir) as net``).

    Parameters
    ----------
    lab : Lab
        An open-mode lab (its CDN must be reachable) whose registry and CDN the network fronts.
    state_dir : str or os.PathLike
        Where the proxies keep their configuration, certificates and logs.

    Raises
    ------
    LabError
        The lab is not in open mode, or a server could not be started.
    """

    def __init__(self, lab: Lab, state_dir: str | os.PathLike[str]) -> None:
        if lab.settings.mode != "open":
            raise LabError("a corporate network needs an open-mode lab (its CDN must be reachable)")
        self.lab = lab
        self.state_dir = Path(state_dir)
        self.password = secrets.token_urlsafe(9)
        self.sso_token = secrets.token_urlsafe(24)
        self.ports = CorporatePorts(*(pick_port() for _ in NGINX_PORTS + SKEWED_PORTS + MITM_PORTS))
        self._processes: list[ManagedProcess] = []

    # -- addresses --------------------------------------------------------------------------------

    @property
    def registry_host(self) -> str:
        """The registry over TLS: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.ports.registry}"

    @property
    def storage_host(self) -> str:
        """The TLS storage host that blob redirects name."""
        return f"127.0.0.1:{self.ports.storage}"

    @property
    def skewed_registry_host(self) -> str:
        """The registry (plain HTTP) whose blob redirects go to the storage host with a clock an hour ahead."""
        return f"127.0.0.1:{self.ports.skewed_registry}"

    @property
    def public_ca(self) -> Path:
        """What the registry and storage hosts' certificate chains to (the machine's store, in real life)."""
        return self.lab.state_dir / "tls" / "cert.pem"

    @property
    def mitm_ca(self) -> Path:
        """The intercepting proxy's CA certificate (what IT departments push to every machine)."""
        return self.state_dir / "mitmproxy" / "mitmproxy-ca-cert.pem"

    @property
    def proxy_credentials(self) -> tuple[str, str]:
        """The user and password the ``login`` proxies want."""
        return PROXY_USER, self.password

    def proxy_url(self, name: str, *, credentials: bool = False) -> str:
        """A proxy's URL, for HTTPS_PROXY (``intercepting``, ``mitm_login``, ``blocking``) or HTTP_PROXY (the rest).

        Parameters
        ----------
        name : str
            The proxy, as :class:`CorporatePorts` names it.
        credentials : bool, default False
            Put the proxy's user and password in the URL.

        Returns
        -------
        str
            ``http://[user:password@]127.0.0.1:PORT``.
        """
        userinfo = f"{PROXY_USER}:{self.password}@" if credentials else ""
        return f"http://{userinfo}127.0.0.1:{getattr(self.ports, name)}"

    @contextmanager
    def behind(self, proxy: str, *, trust: Iterable[str] = ()) -> Iterator[None]:
        """``with net.behind("sso"):`` this process goes through one proxy, as a machine whose IT set it up would.

        Sets ``HTTPS_PROXY`` (the mitmproxy ones) or ``HTTP_PROXY`` (the nginx ones) and nothing else of the
        proxy variables; with ``trust``, the intercepting proxy's CA is trusted for those hosts only (a
        ``certs.d`` of the block's own, ``ca.crt`` per host, as Docker reads ``/etc/docker/certs.d``). The
        environment is as it was after the block.

        Parameters
        ----------
        proxy : str
            The proxy, as :class:`CorporatePorts` names it.
        trust : Iterable of str
            ``host:port`` names for which the intercepting proxy's CA is trusted.

        Returns
        -------
        Iterator[None]
            A context manager; the environment is restored when it ends.
        """
        variable = "HTTPS_PROXY" if proxy in MITM_PORTS else "HTTP_PROXY"
        certs_d = Path(tempfile.mkdtemp(prefix="certs.d-", dir=self.state_dir))
        for host in trust:
            (certs_d / host).mkdir()
            shutil.copy(self.mitm_ca, certs_d / host / "ca.crt")
        saved = {name: os.environ.pop(name, None) for name in (*PROXY_VARIABLES, ENV_CERTS_D)}
        os.environ.update({variable: self.proxy_url(proxy), ENV_CERTS_D: str(certs_d)})
        try:
            yield
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None)
                if value is not None:
                    os.environ[name] = value

    # -- processes --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start nginx, then mitmproxy; stops what started if one fails."""
        try:
            self._start_nginx()
            self._start_skewed_storage()
            self._start_mitmproxy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop both, by PID."""
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()

    def _start_nginx(self) -> None:
        p, lab = self.ports, self.lab.settings
        tls = self.lab.state_dir / "tls"
        basic = base64.b64encode(f"{PROXY_USER}:{self.password}".encode()).decode()
        # The registry's blob redirects name the plain CDN; here they name the TLS storage host instead.
        redirect = (f"http://127.0.0.1:{lab.cdn}/", f"https://{self.storage_host}/")
        servers = (
            front_server(p.registry, lab.front, tls, redirect),
            front_server(p.storage, lab.cdn, tls),
            forward_proxy(p.login, credentials=basic),
            forward_proxy(p.sso, adds_authorization=(f"127.0.0.1:{lab.cdn}", f"Bearer {self.sso_token}")),
            forward_proxy(p.vpc, denies=f"127.0.0.1:{lab.cdn}"),
            # On the right clock; only its redirects point at the storage host whose clock is ahead.
            front_server(p.skewed_registry, lab.front, None, (redirect[0], f"http://127.0.0.1:{p.skewed_storage}/")),
        )
        state = self.state_dir / "nginx"
        write_config(state, standalone_config(state, "".join(servers)))
        process = nginx_process(state, [getattr(p, name) for name in NGINX_PORTS])
        self._processes.append(process)
        process.start()

    def _start_skewed_storage(self) -> None:
        p, lab = self.ports, self.lab.settings
        state = self.state_dir / "skewed"
        storage = cdn_server(p.skewed_storage, self.lab.registry_storage, lab.secret)
        # nginx clears its workers' environment, and libfaketime reads FAKETIME again every 10 s: keep it.
        write_config(state, "env FAKETIME;\n" + standalone_config(state, storage))
        env = {**os.environ, "LD_PRELOAD": str(libfaketime()), "FAKETIME": CLOCK_SKEW}
        process = nginx_process(state, [getattr(p, name) for name in SKEWED_PORTS], env)
        self._processes.append(process)
        process.start()

    def _start_mitmproxy(self) -> None:
        p = self.ports
        policy = {
            p.intercepting: {"intercept": True},
            p.mitm_login: {"credentials": f"{PROXY_USER}:{self.password}"},
            p.blocking: {"blocked": [self.storage_host]},
        }
        state = self.state_dir / "mitmproxy"
        state.mkdir(parents=True, exist_ok=True)
        policy_file = state / "policy.json"
        policy_file.write_text(json.dumps(policy))
        policy_file.chmod(0o600)
        argv = [str(mitmdump_binary()), "--set", f"confdir={state}", "--listen-host", "127.0.0.1"]
        for name in MITM_PORTS:
            argv += ["--mode", f"regular@{getattr(p, name)}"]
        argv += ["-s", str(ADDON), "--set", f"regkit_policy={policy_file}"]
        # Upstream, mitmproxy verifies the lab's hosts against the lab's certificate, as it would the public CAs.
        argv += ["--set", f"ssl_verify_upstream_trusted_ca={self.public_ca}", "--set", "flow_detail=1"]
        ports = [getattr(p, name) for name in MITM_PORTS]
        ready = (lambda probes: lambda: all(probe() for probe in probes))([tcp_probe(port) for port in ports])
        process = ManagedProcess("mitmproxy", argv, state, ready=ready, ports=ports)
        self._processes.append(process)
        process.start()
