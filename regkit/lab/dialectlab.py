"""A lab that speaks another registry's dialect: docker-registry behind nginx, the dialect's front, a storage host.

``Lab(state_dir, dialect="ghcr")`` builds one (see :class:`regkit.lab.lab.Lab`). Processes, each
recorded by a pidfile below the state directory and stopped by PID:

- ``registry``: Debian's docker-registry without auth, holding the sample images; or, shared, one
  that already runs (``registry=``), which the dialect lab neither seeds nor stops;
- ``service``: the dialect's front (:mod:`regkit.lab.dialectfront`): challenges, token service,
  denials, tag paging, redirects, and the storage host's rules;
- ``nginx``: the registry host, the storage host on a port of its own, and GitLab's token host,
  each passing requests to the front and serving what it names in ``X-Accel-Redirect``.

``dialect.json`` in the state directory records the ports and the lab's secrets (mode 0600).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import requests

from ..errors import LabError, PortInUse
from ..http.client import Client
from ..oci.reference import resolve
from . import dialectcreds as creds
from .busybox import busybox_binary
from .dialects import DIALECTS, Dialect
from .images import sample_images
from .labbase import PRIVATE_NAMESPACE, LabBase
from .nginx import DialectPorts, dialect_config, nginx_process, write_config
from .process import ManagedProcess, pick_port
from .registry import RegistryServer
from .upload import push_image

SETTINGS_FILE = "dialect.json"
STALE_URLS = "stale-urls"  # in the service directory: how many redirects are still to be expired ones
START_TRIES = 5
# What each storage adds to a blob it serves (never Docker-Content-Digest: that is the registry's header).
STORAGE_HEADERS = {
    "s3": {"x-amz-request-id": "REGKITLAB0000001"},
    "azure": {"x-ms-version": "2021-08-06", "x-ms-blob-type": "BlockBlob", "x-ms-request-id": "regkit-lab"},
    "gcs": {"x-goog-storage-class": "STANDARD", "x-goog-stored-content-encoding": "identity"},
    "relative": {},
}
PREFIXES = {"ghcr": "ghp_", "gitlab": "gldt-"}  # GitHub PATs and GitLab deploy tokens


@dataclass(frozen=True)
class DialectSettings:
    """What ``dialect.json`` records."""

    dialect: str
    front: int
    storage: int
    auth: int
    service: int
    registry: int
    storage_dir: str
    owns_registry: bool
    password: str
    secret: str
    json_key: str
    images: list[str]


def _json_key(secret_bytes: bytes) -> str:
    """A service account key file's shape, for Artifact Registry's ``_json_key`` user."""
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "regkit-lab",
            "private_key_id": secret_bytes[:20].hex(),
            "private_key": base64.b64encode(secret_bytes).decode(),
            "client_email": "puller@regkit-lab.iam.gserviceaccount.com",
        }
    )


class DialectLab(LabBase):
    """One dialect's registry on loopback; a context manager like :class:`regkit.lab.lab.Lab`."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        dialect: str,
        registry: RegistryServer | None = None,
    ) -> None:
        if dialect not in DIALECTS or dialect == "hub":
            raise LabError(f"lab dialect {dialect!r} is unknown", hint=f"one of: {', '.join(DIALECTS)}")
        self.state_dir = Path(state_dir)
        self.spec: Dialect = DIALECTS[dialect]
        self.shared_registry = registry
        self._settings: DialectSettings | None = None

    @classmethod
    def recorded(cls, state_dir: Path) -> DialectLab:
        """The dialect lab whose ``dialect.json`` is in ``state_dir``."""
        doc = json.loads((state_dir / SETTINGS_FILE).read_text())
        return cls(state_dir, dialect=doc["dialect"])

    # -- the public contract -----------------------------------------------------------------------

    @property
    def settings(self) -> DialectSettings:
        """The running lab's settings (read from ``dialect.json``)."""
        if self._settings is None:
            path = self.state_dir / SETTINGS_FILE
            if not path.exists():
                raise LabError(
                    f"no dialect lab in {self.state_dir}", hint="start one with: regkit lab up --dialect NAME"
                )
            self._settings = DialectSettings(**json.loads(path.read_text()))
        return self._settings

    @property
    def dialect(self) -> str:
        """The dialect's name (``ghcr``, ``ecr``, …)."""
        return self.spec.name

    @cached_property
    def registry_server(self) -> RegistryServer:
        """The docker-registry behind the front: give it to another dialect's lab as ``registry=`` to share it."""
        return self.shared_registry or RegistryServer(self.state_dir / "registry", self.settings.registry)

    @property
    def registry(self) -> str:
        """The registry host as image references spell it: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.settings.front}"

    front_host = registry

    @property
    def storage_host(self) -> str:
        """The storage host blob redirects point at (Artifact Registry's are relative: its own host)."""
        return self.registry if self.spec.redirect == "relative" else f"127.0.0.1:{self.settings.storage}"

    @property
    def auth_host(self) -> str:
        """The token service's host: GitLab's is a separate one; ECR has none (its realm is the registry)."""
        return f"127.0.0.1:{self.settings.auth}" if self.spec.auth_host else self.registry

    @property
    def realm(self) -> str:
        """The realm the challenges name."""
        path = "/" if self.spec.scheme == "Basic" else self.spec.realm_path
        return f"http://{self.auth_host}{path}"

    @property
    def service(self) -> str:
        """The ``service`` the challenges name."""
        return self.spec.service.format(host=self.registry)

    @property
    def username(self) -> str:
        """The user name in the dialect's shape (``AWS``, ``oauth2accesstoken``, the null GUID, ``robot$…``)."""
        return self.spec.user

    @property
    def identity_token(self) -> str:
        """ACR: the refresh token ``az acr login`` stores as ``identitytoken`` in config.json."""
        self._only("acr", "identity tokens")
        return self.password

    @property
    def aad_token(self) -> str:
        """ACR: an Azure AD access token, for ``POST /oauth2/exchange`` (valid 1 h)."""
        self._only("acr", "Azure AD tokens")
        return creds.mint("aad", self.settings.secret, time.time() + 3600)

    @property
    def json_key(self) -> str:
        """Artifact Registry: the service account key, the password of user ``_json_key``."""
        self._only("gar", "JSON keys")
        return self.settings.json_key

    def expired_password(self) -> str:
        """A password in this dialect's shape that expired a minute ago (ECR, Artifact Registry, ACR)."""
        if not self.spec.password_ttl:
            raise LabError(f"{self.dialect} passwords do not expire", hint="use the ecr, gar or acr dialect")
        return creds.mint(self.dialect, self.settings.secret, time.time() - 60)

    def expire_signed_urls(self, count: int = 1) -> None:
        """The next ``count`` blob redirects hand out URLs that expired a minute ago (0: none from now on).

        The storage then refuses them as it refuses any expired URL (S3 ``403 AccessDenied Request has
        expired``, Azure ``403 AuthenticationFailed``, Artifact Registry ``403 DENIED``).
        """
        if count < 0:
            raise LabError("the count of expired URLs must not be negative")
        path = self.state_dir / "service" / STALE_URLS
        partial = path.with_suffix(".partial")
        partial.write_text(str(count))
        partial.replace(path)

    def _only(self, dialect: str, what: str) -> None:
        if self.dialect != dialect:
            raise LabError(f"the {self.dialect} dialect has no {what}", hint=f"start the {dialect} dialect")

    @property
    def access_log(self) -> Path:
        """nginx's access log: ``PORT METHOD URI STATUS BYTES cookie=… auth=yes|no`` per request."""
        return self.state_dir / "nginx" / "access.log"

    def storage_requests(self) -> list[str]:
        """Access-log lines of requests that reached the storage (Artifact Registry's: downloads on its own host)."""
        lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
        if self.spec.redirect == "relative":
            # nginx logs the path the client asked for (regkit.lab.nginx), its opaque download token hidden.
            downloads = " /artifacts-downloads/"
            return [line for line in lines if line.startswith(f"{self.settings.front} ") and downloads in line]
        return [line for line in lines if line.startswith(f"{self.settings.storage} ")]

    def summary(self) -> dict[str, Any]:
        """What ``regkit lab up --dialect NAME --json`` prints (the lab's own secrets only)."""
        doc: dict[str, Any] = {
            **super().summary(),
            "realm": self.realm,
            "service": self.service,
            "storage": self.storage_host,
        }
        if self.dialect == "acr":
            doc["identity_token"] = self.identity_token
        if self.dialect == "gar":
            doc["json_key"] = self.json_key
        return doc

    def describe(self) -> str:
        """What runs where: printed by ``regkit lab up --dialect`` and ``regkit lab status``."""
        state = ", ".join(f"{name} {'pid ' + str(pid) if pid else 'stopped'}" for name, pid in self.running().items())
        lines = [
            f"regkit lab, {self.dialect} dialect, in {self.state_dir}: {state}",
            f"  {self.spec.about}",
            f"  (facts from {self.spec.source})",
            f"  registry   http://{self.registry}",
            f"  realm      {self.realm}  service {self.service}",
            f"  storage    http://{self.storage_host}",
            f"  login      {self.username} / {self.password}",
            "Try:",
            f"  regkit pull {self.images[0]} --insecure-registry" if self.spec.anonymous else "",
            f"  echo '{self.password}' | regkit pull {self.private[0]} --insecure-registry "
            f"-u '{self.username}' --password-stdin",
        ]
        return "\n".join(line for line in lines if line)

    # -- processes ---------------------------------------------------------------------------------

    def _processes(self) -> dict[str, ManagedProcess]:
        """Each process as its pidfile records it, in the order they are stopped."""
        return {name: ManagedProcess.recorded(name, self.state_dir / name) for name in ("nginx", "service", "registry")}

    def running(self) -> dict[str, int | None]:
        """Each process of this lab and its PID (None when not running)."""
        pids = {name: process.pid for name, process in self._processes().items()}
        if not self._owns_registry():
            del pids["registry"]
        return pids

    def _owns_registry(self) -> bool:
        try:
            return self.settings.owns_registry
        except LabError:
            return self.shared_registry is None

    def up(self) -> DialectLab:
        """Start the registry (unless shared), the front and nginx; push the sample images into an own registry."""
        self._prepare("lab.json")  # a hub lab's, should one have run here before
        try:
            registry = self.shared_registry or RegistryServer(self.state_dir / "registry")
            if self.shared_registry is None:
                registry.start()
                self._seed(registry)
            for attempt in range(1, START_TRIES + 1):
                try:
                    self._start_front(registry)
                    break
                except PortInUse:
                    self._stop_front()
                    if attempt == START_TRIES:
                        raise
        except BaseException:
            self.down()
            raise
        return self

    def _seed(self, registry: RegistryServer) -> None:
        """Push the sample images straight into the registry (it has no auth; the front does that)."""
        with Client(insecure=True) as client:
            for sample in sample_images(busybox_binary(self.state_dir / "cache")):
                push_image(client, resolve(f"{registry.host}/{sample.repository}:{sample.tag}"), sample.image)

    def _catalog(self, registry: RegistryServer) -> list[str]:
        """``repository:tag`` of everything in the registry, asked the registry itself."""
        with requests.Session() as session:
            session.trust_env = False
            names = session.get(f"{registry.url}/v2/_catalog?n=1000", timeout=30).json()["repositories"]
            return [
                f"{name}:{tag}"
                for name in names
                for tag in session.get(f"{registry.url}/v2/{name}/tags/list", timeout=30).json().get("tags") or []
            ]

    def _start_front(self, registry: RegistryServer) -> None:
        """The front process, then nginx on fresh ports; records ``dialect.json``."""
        spec, secret = self.spec, secrets.token_urlsafe(24)
        ttl = spec.password_ttl
        password = (
            creds.mint(spec.name, secret, time.time() + ttl)
            if ttl
            else PREFIXES.get(spec.name, "") + secrets.token_urlsafe(18)
        )
        ports = {"front": pick_port(), "storage": pick_port(), "auth": pick_port() if spec.auth_host else 0}
        self._settings = settings = DialectSettings(
            dialect=spec.name,
            service=0,
            registry=registry.port,
            storage_dir=str(registry.storage_dir),
            owns_registry=self.shared_registry is None,
            password=password,
            secret=secret,
            json_key=_json_key(secrets.token_bytes(48)) if spec.name == "gar" else "",
            images=self._catalog(registry),
            **ports,
        )
        service_dir = self.state_dir / "service"
        service_dir.mkdir(parents=True, exist_ok=True)
        config_path, ports_path = service_dir / "front.json", service_dir / "ports.json"
        ports_path.unlink(missing_ok=True)
        config_path.touch(mode=0o600)
        config_path.write_text(
            json.dumps(
                {
                    "dialect": spec.name,
                    "secret": secret,
                    "password": password,
                    "json_key": settings.json_key,
                    "front": self.registry,
                    "storage": f"127.0.0.1:{settings.storage}",
                    "auth": self.auth_host,
                    "registry": registry.url,
                    "private": [PRIVATE_NAMESPACE],
                    "stale_urls": str(service_dir / STALE_URLS),
                }
            )
        )
        argv = [sys.executable, "-m", "regkit.lab.dialectfront", str(config_path), str(ports_path)]
        ManagedProcess("service", argv, service_dir, ready=ports_path.exists).start()
        service_port = int(json.loads(ports_path.read_text())["service"])
        self._settings = settings = DialectSettings(**{**asdict(settings), "service": service_port})
        path = self.state_dir / SETTINGS_FILE
        path.touch(mode=0o600)
        path.write_text(json.dumps(asdict(settings), indent=2))
        nginx_ports = DialectPorts(settings.front, settings.storage, settings.auth, service_port, registry.port)
        headers = STORAGE_HEADERS[spec.redirect]
        nginx_dir = self.state_dir / "nginx"
        write_config(nginx_dir, dialect_config(nginx_dir, spec, nginx_ports, Path(settings.storage_dir), headers))
        told = [p for p in (settings.front, settings.storage, settings.auth) if p]
        nginx_process(nginx_dir, told).start()

    def _stop_front(self) -> None:
        for name in ("nginx", "service"):
            self._processes()[name].stop()

    def stop_servers(self) -> None:
        """Stop this lab's servers by PID (a shared registry stays), and nothing else."""
        self._stop_front()
        if self._owns_registry():
            self._processes()["registry"].stop()
