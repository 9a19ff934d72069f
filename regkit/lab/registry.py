"""A local registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1, storing into its state directory."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import requests

from ..errors import LabError, PortInUse
from ..oci.mediatypes import ACCEPT_MANIFESTS
from .process import ManagedProcess, Service, http_probe, pick_port, require_binary

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
REGISTRY_PACKAGE = "docker-registry"
GC_TIMEOUT = 120  # seconds for garbage-collect on a lab-sized store
# Keys that YAML reads back as the same string without quotes.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
# How often a registry whose port was chosen here starts again on a fresh port when it was taken.
START_TRIES = 5


class RegistryServer(Service):
    """A registry at http://127.0.0.1:PORT with filesystem storage and deletes enabled; no auth unless given.

    Without a ``port`` it picks one outside the ephemeral range, and picks again if that one is taken.
    """

    def __init__(
        self,
        state_dir: Path,
        port: int | None = None,
        auth: Mapping[str, Any] | None = None,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.fixed_port = port is not None
        self.port = port if port is not None else pick_port()
        self.storage_dir = self.state_dir / "storage"
        self.config_path = self.state_dir / "config.yml"
        self.auth = auth
        self.extra_config = extra_config
        self.process = self._process()

    @property
    def config(self) -> dict[str, Any]:
        """The configuration written for the current port."""
        return registry_config(self.storage_dir, self.port, self.auth, self.extra_config)

    def _process(self) -> ManagedProcess:
        """The docker-registry process for the current port."""
        return ManagedProcess(
            "registry",
            [str(REGISTRY_BINARY), "serve", str(self.config_path)],
            self.state_dir,
            ready=http_probe(f"{self.url}/v2/"),
            ports=[self.port],
        )

    @property
    def host(self) -> str:
        """The registry's address as image references spell it: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The registry's base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    @property
    def log_path(self) -> Path:
        """The registry's log (its stdout and stderr)."""
        return self.process.log_path

    @property
    def pid(self) -> int | None:
        """The registry's PID while it runs, else None."""
        return self.process.pid

    def start(self) -> None:
        """Write the config and start the registry; returns once ``GET /v2/`` answers."""
        # Checked before the config of a registry that is already running gets overwritten.
        if (running := self.process.pid) is not None:
            raise LabError(f"a registry already runs in {self.state_dir} (PID {running})")
        require_binary(REGISTRY_BINARY, REGISTRY_PACKAGE)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, START_TRIES + 1):
            # Private before anything is written: a pull-through cache's upstream password goes in it.
            self.config_path.touch(mode=0o600)
            self.config_path.chmod(0o600)
            self.config_path.write_text(to_yaml(self.config))
            try:
                self.process.start()
                return
            except PortInUse:
                if self.fixed_port or attempt == START_TRIES:
                    raise
            self.port = pick_port()
            self.process = self._process()

    def stop(self) -> None:
        """Stop the registry; its storage stays in ``storage_dir``."""
        self.process.stop()

    @property
    def blobs_dir(self) -> Path:
        """Where distribution's filesystem driver keeps blobs (each in a ``data`` file; manifests are blobs too)."""
        return self.storage_dir / "docker" / "registry" / "v2" / "blobs"

    def stored_bytes(self) -> int:
        """Bytes in the blob store, as ``du`` of the ``data`` files would count them."""
        return sum(path.stat().st_size for path in self.blobs_dir.rglob("data"))

    def delete_manifest(self, repository: str, digest: str) -> None:
        """``DELETE /v2/<repository>/manifests/<digest>`` (distribution deletes by digest: every tag on it goes)."""
        with _direct() as session:
            deleted = session.delete(f"{self.url}/v2/{repository}/manifests/{digest}", timeout=30)
        if deleted.status_code != 202:
            raise LabError(f"deleting {repository}@{digest} answered {deleted.status_code}: {deleted.text[:200]}")

    def delete_tag(self, repository: str, tag: str) -> str:
        """Delete the manifest ``tag`` names through the registry API (with every tag on it); returns its digest."""
        with _direct() as session:
            head = session.head(
                f"{self.url}/v2/{repository}/manifests/{tag}",
                headers={"Accept": ", ".join(ACCEPT_MANIFESTS)},
                timeout=30,
            )
        digest = head.headers.get("Docker-Content-Digest")
        if head.status_code != 200 or not digest:
            raise LabError(f"{repository}:{tag} answered {head.status_code} without a digest", hint="is it pushed?")
        self.delete_manifest(repository, digest)
        return digest

    def garbage_collect(self, *, delete_untagged: bool = True) -> int:
        """Run ``docker-registry garbage-collect`` on this registry's config; returns the bytes it freed.

        A running registry is stopped first (collection on a live store races with pushes) and started again
        on its port after.
        """
        running = self.pid is not None
        before = self.stored_bytes()
        if running:
            self.stop()
        options = ["--delete-untagged"] if delete_untagged else []
        done = subprocess.run(
            [str(REGISTRY_BINARY), "garbage-collect", *options, str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=GC_TIMEOUT,
        )
        if running:
            self.start()
        if done.returncode != 0:
            raise LabError(f"garbage-collect failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return before - self.stored_bytes()


def _direct() -> requests.Session:
    """A session that goes straight to the loopback registry, whatever proxy the environment names."""
    session = requests.Session()
    session.trust_env = False
    return session


def registry_config(
    storage_dir: Path,
    port: int,
    auth: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The docker-registry configuration; ``auth`` becomes its ``auth`` section, ``extra`` is merged in last."""
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text"},
        "storage": {
            "filesystem": {"rootdirectory": str(storage_dir)},
            "delete": {"enabled": True},
        },
        "http": {
            "addr": f"127.0.0.1:{port}",
            # Signs upload state; without one the registry warns at every start and picks its own.
            "secret": secrets.token_hex(16),
        },
    }
    if auth:
        config["auth"] = dict(auth)
    return _merged(config, extra or {})


def to_yaml(data: Mapping[str, Any]) -> str:
    """Block-style YAML for nested mappings and lists; scalars are written as JSON, which YAML reads alike."""
    return "\n".join(_yaml_lines(data, 0)) + "\n"


def _yaml_lines(value: Mapping[str, Any] | list[Any] | tuple[Any, ...], indent: int) -> Iterator[str]:
    """The lines of one mapping or list, indented by ``indent`` spaces."""
    pad = " " * indent
    if isinstance(value, Mapping):
        for key, item in value.items():
            head = f"{pad}{_yaml_key(key)}:"
            if _is_block(item):
                yield head
                yield from _yaml_lines(item, indent + 2)
            else:
                yield f"{head} {json.dumps(item)}"
        return
    for item in value:
        if _is_block(item):
            # The item's first line goes after the dash; the rest stays aligned under it.
            first, *rest = _yaml_lines(item, indent + 2)
            yield f"{pad}- {first.lstrip()}"
            yield from rest
        else:
            yield f"{pad}- {json.dumps(item)}"


def _is_block(value: object) -> bool:
    """True for a non-empty mapping or list, which is written over several lines."""
    return isinstance(value, (Mapping, list, tuple)) and len(value) > 0


def _yaml_key(key: object) -> str:
    """The key bare when that is unambiguous, else quoted."""
    text = str(key)
    return text if _PLAIN_KEY.fullmatch(text) else json.dumps(text)


def _merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in: nested mappings are merged, anything else is replaced."""
    result = dict(base)
    for key, value in extra.items():
        current = result.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = _merged(current, value)
        else:
            result[key] = value
    return result
