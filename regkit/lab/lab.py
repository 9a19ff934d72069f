"""The lab: a Docker-Hub-shaped registry on loopback, with token auth, CDN redirects and the seed's proxy.

Processes (each recorded by a pidfile in the state directory and stopped by PID):

- ``registry``: Debian's docker-registry with token auth;
- ``service``: the token service and the blob-redirect edge (:mod:`regkit.lab.service`);
- ``nginx``: the registry front, the CDN (``secure_link``), the seed's reverse proxy, and a gateway
  configured by ``regkit proxy-config nginx`` (the rewriting proxy; also the cache's way out);
- ``cache`` (with ``pull_through=True``): a pull-through cache (docker-registry in proxy mode) in front
  of the gateway, with the lab user's credentials as its upstream credentials (:mod:`regkit.lab.pullthrough`).

Two options make the cost of distance real, fixed and documented, so a lesson's comparison is not
decided by loopback's millisecond noise: ``proxy_delay`` (seconds) makes every request through the
seed's proxy arrive that much later, as at a distant proxy (:mod:`regkit.lab.relay`), and
``cdn_rate`` (bytes per second) caps what the CDN sends on each connection (nginx ``limit_rate``),
as a long-haul TCP connection does, so concurrent downloads add up where one alone cannot.

In **hub mode** the realm and the CDN address the registry advertises point at loopback ports
that refuse connections, as auth.docker.io and the CDN look from behind a firewall: only the proxy
reaches them. In **open mode** they are the real addresses.

Ports: the Python service binds its own (the kernel chooses) and holds the refusing ports for the
lab's life. docker-registry and nginx must be told theirs, so the lab picks them outside the
ephemeral range and, when one was taken all the same, starts again on fresh ports (``START_TRIES``).
A start that fails stops whatever it started before it raises.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import LabError, PortInUse
from ..http.client import Client
from ..http.endpoints import ENV_AUTH, ENV_BLOB, ENV_REGISTRY, Endpoints
from ..oci.reference import resolve
from .artifacts import push_repository
from .busybox import busybox_binary
from .certs import make_key_pair
from .dialectlab import SETTINGS_FILE, DialectLab
from .dialects import DIALECTS
from .images import SampleImage, sample_images
from .kernel import kernel_lab
from .labbase import PRIVATE_NAMESPACE, LabBase
from .modes import MODES
from .nginx import NginxPorts, lab_config, nginx_process, write_config
from .process import ManagedProcess, pick_port
from .pullthrough import pull_through_cache
from .registry import RegistryServer
from .traffic import Traffic, lab_logs
from .upload import push_image

SERVICE_NAME = "regkit-lab-registry"
ISSUER = "regkit-lab-token-issuer"
LAB_USER = "lab"
TOKEN_TTL = 300
CDN_URL_TTL = 600
# Ports the lab tells its servers (docker-registry and nginx), as opposed to ports the service binds itself.
TOLD_PORTS = ("registry", "front", "cdn", "proxy", "forward", "tls", "gateway", "cache")
START_TRIES = 5
LAB_PROCESSES = ("nginx", "service", "registry")  # besides the cache, in the order they are stopped
CACHE_NOTE = f"docker-registry proxy mode via the gateway, as {LAB_USER}; a mirror"
PULL_THROUGH_DIR = "pullthrough"  # not "cache": that one holds the busybox binary


def default_state_dir() -> Path:
    """``$REGKIT_LAB_DIR``, else ``$XDG_STATE_HOME/regkit/lab`` (``~/.local/state/regkit/lab``)."""
    if os.environ.get("REGKIT_LAB_DIR"):
        return Path(os.environ["REGKIT_LAB_DIR"])
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "regkit" / "lab"


@dataclass(frozen=True)
class LabSettings:
    """What ``lab.json`` records: mode, ports, and the lab's own credentials and signing secret."""

    mode: str
    registry: int
    token: int
    edge: int
    front: int
    cdn: int
    proxy: int
    forward: int
    tls: int
    faults: int
    dead_auth: int
    dead_cdn: int
    password: str
    secret: str
    proxy_delay: float = 0.0
    cdn_rate: int = 0
    delayed_proxy: int = 0  # the relay in front of the seed's proxy, when proxy_delay is set
    gateway: int = 0
    cache: int = 0
    images: tuple[str, ...] = ()  # repository:tag of each sample image pushed
    referrers: int = 0  # the registry behind a front answering the OCI referrers API


class Lab(LabBase):
    """Start, use and stop the lab; also a context manager (``with Lab(tmp) as lab: …``).

    ``Lab(state_dir, dialect=NAME)`` with another dialect than ``hub`` (see :mod:`regkit.lab.dialects`)
    is a :class:`regkit.lab.dialectlab.DialectLab`, and so is ``Lab(state_dir)`` (no options) on the
    state directory of one, so ``regkit lab status`` and ``down`` work on either.

    Parameters
    ----------
    state_dir : str or os.PathLike, optional
        Where the servers keep their files; default a directory of the user's.
    dialect : str, optional
        A registry's dialect (:data:`regkit.lab.dialects.DIALECTS`); default ``hub``.
    mode : {"hub", "open"}, default "hub"
        ``hub`` behaves like Docker Hub behind the seed's proxy (realm and CDN unreachable directly);
        ``open`` is a plain registry with a token service.
    large_layers : int, default 0
        How many large random layers the sample image ``large`` gets.
    large_layer_size : int
        The size of each, in bytes.
    ports : mapping of str to int, optional
        Fixed ports for some servers (``{"proxy": 8080}``); others are chosen free.
    images : bool, default True
        Push the sample images.
    proxy_delay : float, default 0
        Seconds each request to the seed's proxy is held, as at a distant proxy.
    cdn_rate : int, default 0
        Bytes per second per CDN connection (0: unlimited).
    pull_through : bool, default False
        Also run a pull-through cache (Debian's docker-registry with ``proxy: remoteurl``).
    **options
        The hub lab's options above, as keywords; a dialect lab takes only ``registry`` (a shared
        :class:`~regkit.lab.registry.RegistryServer`).

    Raises
    ------
    PortInUse
        A port given in ``ports`` is taken.
    LabError
        A server could not be started (when the lab starts: :meth:`start` or entering the block).
    """

    dialect = "hub"

    def __new__(
        cls, state_dir: str | os.PathLike[str] | None = None, *, dialect: str | None = None, **options: Any
    ) -> Any:
        directory = Path(state_dir) if state_dir is not None else default_state_dir()
        if dialect is None and not options and (directory / SETTINGS_FILE).exists():
            return DialectLab.recorded(directory)
        if dialect not in (None, "hub"):
            # Lab.for_kernel passes the default mode along; any other hub option does not apply.
            unused = sorted(k for k, v in options.items() if k != "registry" and (k, v) != ("mode", "hub"))
            if unused:
                raise LabError(f"a {dialect} lab takes no {', '.join(unused)}", hint="only registry= (a shared one)")
            return DialectLab(directory, dialect=dialect, registry=options.get("registry"))
        return super().__new__(cls)

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        dialect: str | None = None,
        mode: str = "hub",
        large_layers: int = 0,
        large_layer_size: int = 32 << 20,
        ports: Mapping[str, int] | None = None,
        images: bool = True,
        proxy_delay: float = 0.0,
        cdn_rate: int = 0,
        pull_through: bool = False,
    ) -> None:
        if proxy_delay < 0 or cdn_rate < 0:
            raise LabError("proxy_delay and cdn_rate must not be negative")
        if mode not in MODES:
            raise LabError(f"lab mode {mode!r} is unknown; use hub or open")
        unknown = set(ports or {}) - set(TOLD_PORTS)
        if unknown:
            raise LabError(f"no lab server takes a port named {', '.join(sorted(unknown))}; fixed ports: {TOLD_PORTS}")
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.mode = mode
        # Fixed ports (a teacher's bookmarks); the others are picked anew at every start.
        self.fixed_ports = dict(ports or {})
        self.push_images = images
        # Off by default: the cache adds most of a second to every start, and most uses never need it.
        self.pull_through = pull_through
        self.large_layers = large_layers
        self.large_layer_size = large_layer_size
        self.proxy_delay = proxy_delay
        self.cdn_rate = cdn_rate
        self.samples: list[SampleImage] = []  # the images pushed by seed() in this process
        self._settings: LabSettings | None = None

    # -- settings and addresses -------------------------------------------------------------------

    @property
    def settings(self) -> LabSettings:
        """The running lab's settings (read from ``lab.json``)."""
        if self._settings is None:
            path = self.state_dir / "lab.json"
            if not path.exists():
                raise LabError(f"no lab in {self.state_dir}", hint="start one with: regkit lab up")
            self._settings = LabSettings(**json.loads(path.read_text()))
        return self._settings

    @property
    def front_host(self) -> str:
        """The registry as clients address it directly (Docker Hub's registry-1): ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.settings.front}"

    @property
    def proxy_url(self) -> str:
        """Base URL of the seed's reverse proxy (behind the delaying relay when the lab has a ``proxy_delay``)."""
        return f"http://127.0.0.1:{self.settings.delayed_proxy or self.settings.proxy}"

    @property
    def forward_proxy_url(self) -> str:
        """A plain forward proxy for HTTP_PROXY lessons (it forwards to loopback only)."""
        return f"http://127.0.0.1:{self.settings.forward}"

    def fault_url(self, fault: str) -> str:
        """A registry endpoint that injects ``fault`` (see :data:`regkit.lab.faults.FAULTS`).

        Parameters
        ----------
        fault : str
            The fault's name; not checked here (an unknown one answers 404 with the list of known ones).

        Returns
        -------
        str
            ``http://127.0.0.1:PORT/<fault>``, to use as a mirror or registry endpoint.

        Raises
        ------
        LabError
            No lab was started in the state directory (no ``lab.json``); start one with :meth:`up`.
        """
        return f"http://127.0.0.1:{self.settings.faults}/{fault}"

    @property
    def gateway_url(self) -> str:
        """The proxy ``regkit proxy-config nginx`` generates, in front of the registry: usable as a mirror."""
        return f"http://127.0.0.1:{self.settings.gateway}"

    @property
    def cache_url(self) -> str:
        """The pull-through cache (with the lab user as its upstream credentials): usable as a mirror."""
        if not self.settings.cache:
            raise LabError("this lab runs no pull-through cache", hint="start it with Lab(..., pull_through=True)")
        return f"http://127.0.0.1:{self.settings.cache}"

    @property
    def registry_storage(self) -> Path:
        """The registry's storage directory (the CDN serves blob files from it)."""
        return self._registry().storage_dir

    @property
    def referrers_host(self) -> str:
        """The registry behind a front that answers the OCI 1.1 referrers API (distribution 2.8 has none)."""
        return f"127.0.0.1:{self.settings.referrers}"

    @property
    def tls_host(self) -> str:
        """The registry over TLS with a self-signed certificate (``tls/cert.pem`` in the state directory)."""
        return f"127.0.0.1:{self.settings.tls}"

    @property
    def token_url(self) -> str:
        """The token service's real address."""
        return f"http://127.0.0.1:{self.settings.token}/token"

    @property
    def cdn_url(self) -> str:
        """The CDN's real address."""
        return f"http://127.0.0.1:{self.settings.cdn}"

    @property
    def advertised_realm(self) -> str:
        """The realm the registry's challenges name (unreachable in hub mode)."""
        port = self.settings.dead_auth if self.settings.mode == "hub" else self.settings.token
        return f"http://127.0.0.1:{port}/token"

    @property
    def advertised_cdn(self) -> str:
        """The CDN base that blob redirects name (unreachable in hub mode)."""
        return f"http://127.0.0.1:{self.settings.dead_cdn}" if self.settings.mode == "hub" else self.cdn_url

    # The same names as a dialect lab's (regkit.lab.dialectlab.DialectLab), for code that takes either.

    @property
    def registry(self) -> str:
        """The registry as image references spell it (the front, like registry-1.docker.io)."""
        return self.front_host

    @property
    def username(self) -> str:
        """The lab user."""
        return LAB_USER

    def summary(self) -> dict[str, Any]:
        """What ``regkit lab up --json`` prints (the lab's own secrets only).

        Returns
        -------
        dict
            ``dialect``, ``registry``, ``images``, ``private``, ``username``, ``password``, ``state_dir``,
            ``realm``, ``service`` and ``storage`` (the advertised CDN without ``http://``).

        Raises
        ------
        LabError
            No lab was started in the state directory (no ``lab.json``); start one with :meth:`up`.
        """
        return {
            **super().summary(),
            "realm": self.advertised_realm,
            "service": SERVICE_NAME,
            "storage": self.advertised_cdn.removeprefix("http://"),
        }

    def proxy_env(self) -> dict[str, str]:
        """The seed's three environment variables, pointing at the lab's reverse proxy.

        Returns
        -------
        dict of str to str
            ``DOCKER_REGISTRY_REVERSE_PROXY``, ``DOCKER_AUTH_REVERSE_PROXY`` and ``DOCKER_BLOB_REVERSE_PROXY``.

        Raises
        ------
        LabError
            No lab was started in the state directory (no ``lab.json``); start one with :meth:`up`.
        """
        return {
            ENV_REGISTRY: f"{self.proxy_url}/docker-registry",
            ENV_AUTH: f"{self.proxy_url}/docker-auth/token",
            ENV_BLOB: f"{self.proxy_url}/docker-blob",
        }

    def proxy_endpoints(self) -> Endpoints:
        """The same as :meth:`proxy_env` plus ``--mirror``, as an :class:`Endpoints` object.

        Returns
        -------
        Endpoints
            Insecure (the proxy is plain HTTP), for Docker Hub references only.

        Raises
        ------
        LabError
            No lab was started in the state directory (no ``lab.json``); start one with :meth:`up`.
        """
        return Endpoints.from_env(self.proxy_env(), insecure=True)

    def traffic(self) -> Traffic:
        """``with lab.traffic() as seen: …``: what each server answered meanwhile, from its log (:mod:`.traffic`).

        Returns
        -------
        Traffic
            A context manager; after the block its ``served`` rows, ``of()`` and ``frame()`` say what was served.

        Raises
        ------
        LabError
            No lab was started in the state directory (no ``lab.json``); start one with :meth:`up`.
        """
        return Traffic(lab_logs(self.state_dir, asdict(self.settings), PULL_THROUGH_DIR))

    def scratch(self) -> Path:
        """A new empty directory for a lesson's downloads, inside the state directory: it goes with the lab.

        Returns
        -------
        pathlib.Path
            ``<state_dir>/work/work-XXXXXXXX``, created now.
        """
        (self.state_dir / "work").mkdir(exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="work-", dir=self.state_dir / "work"))

    @contextmanager
    def own_registry(self, *tags: str) -> Iterator[RegistryServer]:
        """``with lab.own_registry("v1", "v2") as registry:`` a registry of its own (plain HTTP, deletes
        enabled) holding ``library/app``'s ``tags``, stopped at the end of the block.

        It is what :meth:`RegistryServer.delete_tag` and :meth:`RegistryServer.garbage_collect` are safe on:
        the lab's own registry holds indexes, whose children distribution 2.8's ``--delete-untagged`` frees.

        Parameters
        ----------
        *tags : str
            The tags of ``library/app``'s sample images to push; none given: every one.

        Yields
        ------
        RegistryServer
            The running registry (``registry.host`` is its ``127.0.0.1:PORT``).

        Raises
        ------
        LabError
            docker-registry could not be started.
        RegkitError
            Pushing the sample images failed (as :func:`regkit.lab.upload.push_image` raises).
        """
        with RegistryServer(self.scratch() / "registry") as registry, Client(insecure=True) as client:
            push_repository(client, registry.host, tags=tags)
            yield registry

    def commands(self) -> list[str]:
        """``regkit pull`` command lines to try against this lab.

        Returns
        -------
        list of str
            Through the seed's proxy, straight to the front, a private image as the lab user, and through two
            mirrors.

        Raises
        ------
        LabError
            No lab was started in the state directory (no ``lab.json``); start one with :meth:`up`.
        """
        env = " ".join(f"{k}={v}" for k, v in self.proxy_env().items())
        mirror = f"--mirror={self.proxy_url}/docker-registry --insecure-registry"
        lines = [f"{env} regkit pull busybox {mirror}"]
        if self.settings.mode == "hub":
            lines.append(
                f"regkit pull {self.front_host}/library/busybox --insecure-registry   # fails: realm unreachable"
            )
        else:
            lines.append(f"regkit pull {self.front_host}/library/busybox --insecure-registry")
        lines.append(
            f"echo {self.settings.password} | {env} regkit pull private/busybox {mirror} -u {LAB_USER} --password-stdin"
        )
        # Mirrors the engine's way: the seed proxy's root has no /v2/, so the next one answers.
        second = self.cache_url if self.settings.cache else self.gateway_url
        lines.append(f"regkit pull busybox --mirror={self.proxy_url} --mirror={second} --insecure-registry")
        return lines

    # -- processes --------------------------------------------------------------------------------

    def _registry(self) -> RegistryServer:
        s = self.settings
        auth = {
            "token": {
                "realm": self.advertised_realm,
                "service": SERVICE_NAME,
                "issuer": ISSUER,
                "rootcertbundle": str(self.state_dir / "keys" / "cert.pem"),
            }
        }
        return RegistryServer(self.state_dir / "registry", s.registry, auth=auth)

    def _service(self) -> ManagedProcess:
        service_dir = self.state_dir / "service"
        ports_file = service_dir / "ports.json"
        return ManagedProcess(
            "service",
            [sys.executable, "-m", "regkit.lab.service", str(service_dir / "service.json"), str(ports_file)],
            service_dir,
            ready=ports_file.exists,
        )

    def _recorded(self) -> dict[str, ManagedProcess]:
        """Each lab process as its pidfile records it, in the order they are stopped."""
        # The cache first: docker-registry in proxy mode needs the gateway (nginx) while it runs.
        processes = {"cache": ManagedProcess.recorded("registry", self.state_dir / PULL_THROUGH_DIR)}
        processes.update((name, ManagedProcess.recorded(name, self.state_dir / name)) for name in LAB_PROCESSES)
        return processes

    def _write_service_config(self, told: Mapping[str, int], password: str, secret: str) -> None:
        keys = self.state_dir / "keys"
        doc = {
            "token": {
                "key": str(keys / "key.pem"),
                "cert": str(keys / "cert.pem"),
                "issuer": ISSUER,
                "service": SERVICE_NAME,
                "ttl": TOKEN_TTL,
                "users": {LAB_USER: password},
                "private_namespaces": [PRIVATE_NAMESPACE],
            },
            "faults": {"front": f"http://127.0.0.1:{told['front']}"},
            "referrers": {"storage": str(self.state_dir / "registry" / "storage")},  # the registry's storage_dir
            "relay": {"target": told["proxy"], "delay": self.proxy_delay},
            "edge": {
                "registry": f"http://127.0.0.1:{told['registry']}",
                "cdn": f"http://127.0.0.1:{told['cdn']}",
                "hide_cdn": self.mode == "hub",
                "secret": secret,
                "ttl": CDN_URL_TTL,
            },
        }
        path = self.state_dir / "service" / "service.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "ports.json").unlink(missing_ok=True)
        path.write_text(json.dumps(doc, indent=2))
        path.chmod(0o600)

    def running(self) -> dict[str, int | None]:
        """Each process and its PID (None when not running).

        Returns
        -------
        dict of str to int or None
            ``registry``, ``service`` and ``nginx``, and ``cache`` when the lab has a pull-through cache.
        """
        recorded = self._recorded()
        pids = {name: recorded[name].pid for name in ("registry", "service", "nginx")}
        if recorded["cache"].pid is not None or self._has_cache():
            pids["cache"] = recorded["cache"].pid
        return pids

    def _has_cache(self) -> bool:
        """Whether the lab in the state directory was started with its pull-through cache."""
        try:
            return self.settings.cache != 0
        except LabError:
            return False  # no lab.json: no lab was started here

    def up(self) -> Lab:
        """Start everything and push the sample images; refuses if this lab already runs.

        A port taken between the lab's choice and the server's bind starts everything again on
        fresh ports, up to ``START_TRIES`` times; any failure stops what was started before it raises.

        Returns
        -------
        Lab
            This lab, running.

        Raises
        ------
        LabError
            A lab already runs in the state directory (stop it with :meth:`down`), nginx or docker-registry is
            missing (the hint names the Debian package), or a server did not start.
        PortInUse
            A fixed port of ``ports`` is taken, or fresh ports were taken ``START_TRIES`` times.
        RegkitError
            Pushing the sample images failed.
        """
        self._prepare(SETTINGS_FILE)  # a dialect lab's, should one have run here before
        make_key_pair(self.state_dir / "keys", "regkit lab token signer")
        make_key_pair(self.state_dir / "tls", "regkit lab registry", ip="127.0.0.1")
        password, secret = secrets.token_urlsafe(12), secrets.token_urlsafe(24)
        try:
            for attempt in range(1, START_TRIES + 1):
                try:
                    self._start_servers(password, secret)
                    break
                except PortInUse as exc:
                    self.stop_servers()
                    if exc.port in self.fixed_ports.values() or attempt == START_TRIES:
                        raise
            if self.push_images:
                self.seed()
        except BaseException:
            self.down()
            raise
        return self

    def _start_servers(self, password: str, secret: str) -> None:
        """One attempt at starting the service, the registry and nginx, on fresh ports."""
        told = {name: self.fixed_ports.get(name) or pick_port() for name in TOLD_PORTS}
        if not self.pull_through:
            told["cache"] = 0
        self._write_service_config(told, password, secret)
        self._service().start()
        bound = json.loads((self.state_dir / "service" / "ports.json").read_text())
        self._settings = LabSettings(
            mode=self.mode,
            password=password,
            secret=secret,
            proxy_delay=self.proxy_delay,
            cdn_rate=self.cdn_rate,
            images=(),
            **told,
            **bound,
        )
        settings_path = self.state_dir / "lab.json"
        settings_path.write_text(json.dumps(asdict(self._settings), indent=2))
        settings_path.chmod(0o600)
        registry = self._registry()
        registry.start()
        s = self.settings
        ports = NginxPorts(s.front, s.cdn, s.proxy, s.registry, s.token, s.edge, s.forward, s.tls, s.gateway)
        config = lab_config(
            self.state_dir / "nginx", ports, registry.storage_dir, s.secret, self.state_dir / "tls", s.cdn_rate
        )
        write_config(self.state_dir / "nginx", config)
        nginx_process(self.state_dir / "nginx", [s.front, s.cdn, s.proxy, s.forward, s.tls, s.gateway]).start()
        if self.pull_through:
            # After nginx: the cache asks the gateway for the token realm as it starts.
            cache = pull_through_cache(
                self.state_dir / PULL_THROUGH_DIR, self.gateway_url, port=s.cache, credentials=self.credentials
            )
            cache.start()

    def seed(self) -> None:
        """Push the sample images through the real protocol, as the lab user, with token auth."""
        self.samples = sample_images(
            busybox_binary(self.state_dir / "cache"),
            large_layers=self.large_layers,
            large_layer_size=self.large_layer_size,
        )
        s = self.settings
        # Straight to the registry; the realm it advertises may be unreachable (hub mode), so the
        # client's own auth rewrite points at the token service: the same fix users apply.
        endpoints = Endpoints.create(auth=self.token_url, insecure=True)
        with Client(endpoints=endpoints, insecure=True, auth=self.credentials) as client:
            for sample in self.samples:
                push_image(client, resolve(f"127.0.0.1:{s.registry}/{sample.repository}:{sample.tag}"), sample.image)
            push_repository(client, f"127.0.0.1:{s.registry}")
        self._settings = replace(s, images=tuple(f"{sample.repository}:{sample.tag}" for sample in self.samples))
        (self.state_dir / "lab.json").write_text(json.dumps(asdict(self._settings), indent=2))

    def stop_servers(self) -> None:
        """Stop the servers (registry, service, nginx) by PID, and nothing else."""
        for process in self._recorded().values():
            process.stop()

    @classmethod
    def for_kernel(cls, mode: str = "hub", **options: Any) -> Lab:
        """The lab of this kernel (or process): started once, gone when the kernel dies (see :mod:`regkit.lab.kernel`).

        Running the cell again returns the same lab; a watchdog process stops it and removes its temporary
        directory when the kernel exits, restarts or is killed.

        Parameters
        ----------
        mode : {"hub", "open"}, default "hub"
            As for :class:`Lab`.
        **options
            The other keywords of :class:`Lab` (``cdn_rate``, ``proxy_delay``, …).

        Returns
        -------
        Lab
            The running lab.

        Raises
        ------
        LabError
            A server could not be started.
        """
        return kernel_lab(
            lambda state_dir: cls(state_dir, mode=mode, **options), (mode, tuple(sorted(options.items())))
        )

    @classmethod
    def dialects_for_kernel(cls, *names: str) -> dict[str, DialectLab]:
        """This kernel's lab of each dialect (default: every one but ``hub``), all sharing the first one's registry.

        One registry is started and seeded instead of one per dialect; each lab goes when the kernel does,
        as :meth:`for_kernel`'s. Running the cell again returns the same labs.

        Parameters
        ----------
        *names : str
            Dialects of :data:`regkit.lab.dialects.DIALECTS`; the first one's lab runs the shared registry.

        Returns
        -------
        dict of str to DialectLab
            Each dialect's running lab, in the order given.

        Raises
        ------
        LabError
            A name is not a known dialect (the hint lists them), or a lab could not be started.
        """
        first, *others = names or [name for name in DIALECTS if name != "hub"]
        if unknown := sorted({first, *others} - DIALECTS.keys()):
            raise LabError(f"lab dialect {unknown[0]!r} is unknown", hint=f"one of: {', '.join(DIALECTS)}")
        owner = kernel_lab(partial(DialectLab, dialect=first), ("dialect", first))
        server = owner.registry_server
        shared = {
            name: kernel_lab(partial(DialectLab, dialect=name, registry=server), (name, server)) for name in others
        }
        return {first: owner, **shared}

    def describe(self) -> str:
        """What runs where, and what to try: printed by ``regkit lab up`` and ``regkit lab status``.

        Returns
        -------
        str
            Lines naming each process's PID, each server's address, the lab user and :meth:`commands`.

        Raises
        ------
        LabError
            No lab was started in the state directory (no ``lab.json``); start one with :meth:`up`.
        """
        s = self.settings
        pids = self.running()
        state = ", ".join(f"{name} {'pid ' + str(pid) if pid else 'stopped'}" for name, pid in pids.items())
        unreachable = "  (unreachable)" if s.mode == "hub" else ""
        lines = [
            f"regkit lab ({s.mode} mode) in {self.state_dir}: {state}",
            f"  registry (like registry-1.docker.io)  http://{self.front_host}",
            f"  token service  {self.token_url}   advertised realm: {self.advertised_realm}{unreachable}",
            f"  blob CDN       {self.cdn_url}   advertised: {self.advertised_cdn}{unreachable}"
            + (f", at most {s.cdn_rate} bytes/s per connection" if s.cdn_rate else ""),
            f"  seed proxy     {self.proxy_url}  (/docker-auth/, /docker-registry/, /docker-blob/)"
            + (f", every request {s.proxy_delay * 1000:g} ms late" if s.proxy_delay else ""),
            f"  gateway        {self.gateway_url}  (regkit proxy-config nginx: rewrites realm and Location; a mirror)",
            *([f"  pull-through   {self.cache_url}  ({CACHE_NOTE})"] if s.cache else []),
            f"  HTTP_PROXY     {self.forward_proxy_url}  (a forward proxy to loopback, for proxy lessons)",
            f"  TLS registry   https://{self.tls_host}  (self-signed: {self.state_dir / 'tls' / 'cert.pem'})",
            f"  faults         {self.fault_url('<fault>')}  (use as --mirror; the list is at that URL)",
            *(
                [f"  referrers API  http://{self.referrers_host}  (the registry, and the OCI referrers API)"]
                if s.referrers
                else []
            ),
            f"  lab user       {LAB_USER} / {s.password}  (for {PRIVATE_NAMESPACE}/*)",
            "Try:",
            *(f"  {line}" for line in self.commands()),
        ]
        return "\n".join(lines)


# A notebook's lab in one call, for its first cell: ``regkit.notebook_lab()`` (see :meth:`Lab.for_kernel`).
notebook_lab = Lab.for_kernel
