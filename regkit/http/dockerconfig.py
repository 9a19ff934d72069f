"""Credentials from ``~/.docker/config.json``: ``auths`` entries and credential helpers.

Docker keys Docker Hub's entry as ``https://index.docker.io/v1/`` and other registries by host
(sometimes with a scheme or path); ``credHelpers`` names a helper per host and ``credsStore`` one
for all, each run as ``docker-credential-<name> get`` with the server address on stdin.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import InvalidOption
from ..oci import jsonsafe
from ..oci.reference import DOCKER_HUB_REGISTRY
from .credentials import NULL_USER, TOKEN_USER, Credentials

HUB_CONFIG_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 30


def config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    base = os.environ.get("DOCKER_CONFIG")
    return (Path(base) if base else Path.home() / ".docker") / "config.json"


def _server_keys(registry: str) -> list[str]:
    """The keys Docker may have used for ``registry`` in ``auths``."""
    if registry == DOCKER_HUB_REGISTRY:
        return [HUB_CONFIG_KEY, "index.docker.io", "docker.io", "https://index.docker.io/v1", "registry-1.docker.io"]
    return [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/", f"https://{registry}/v2/"]


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = jsonsafe.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidOption(f"cannot read {path}: {exc}", hint="fix or move the Docker config file") from None
    return doc if isinstance(doc, dict) else {}


def _from_auths(auths: dict[str, Any], keys: list[str], path: Path) -> Credentials | None:
    for key in keys:
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            # Docker uses the identity token instead of the 'auth' next to it (the null GUID and no password).
            user = _decode_auth(entry["auth"], key, path)[0] if entry.get("auth") else entry.get("username")
            return Credentials(str(user or NULL_USER), str(entry["identitytoken"]), identity_token=True)
        if entry.get("auth"):
            return Credentials(*_decode_auth(entry["auth"], key, path))
        if entry.get("username") and entry.get("password"):
            return Credentials(str(entry["username"]), str(entry["password"]))
    return None


def _decode_auth(auth: Any, key: str, path: Path) -> tuple[str, str]:
    """``(user, password)`` of an entry's base64 ``auth``."""
    try:
        user, _, password = base64.b64decode(auth, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError):
        raise InvalidOption(f"the 'auth' of {key!r} in {path} is not base64 user:password") from None
    return user, password


def run_helper(helper: str, server: str) -> Credentials | None:
    """``docker-credential-<helper> get``; None when it knows no credentials for ``server``."""
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise InvalidOption(
            f"the Docker config names credential helper {helper!r}, but docker-credential-{helper} is not on PATH"
        )
    try:
        done = subprocess.run([program, "get"], input=server, capture_output=True, text=True, timeout=HELPER_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise InvalidOption(f"docker-credential-{helper} did not answer within {HELPER_TIMEOUT} s") from None
    if done.returncode != 0:
        if "credentials not found" in done.stdout + done.stderr:
            return None
        raise InvalidOption(f"docker-credential-{helper} get failed: {done.stderr.strip()[:200]}")
    try:
        doc = jsonsafe.loads(done.stdout)
        user, secret = str(doc["Username"]), str(doc["Secret"])
    except (ValueError, KeyError, TypeError):
        raise InvalidOption(f"docker-credential-{helper} answered something other than Username/Secret JSON") from None
    # Docker's convention: the user "<token>" says the secret is an identity token, not a password.
    return Credentials(user, secret, identity_token=user == TOKEN_USER)


def credentials_for(registry: str, path: Path | None = None) -> Credentials | None:
    """The credentials Docker would use for ``registry`` (a host[:port]), or None."""
    path = path or config_path()
    doc = _load(path)
    keys = _server_keys(registry)
    # Docker's order: a per-registry helper, then the default store, then the file itself.
    helpers = _section(doc, "credHelpers")
    for key in keys:
        if key in helpers:
            return run_helper(str(helpers[key]), key)
    store = doc.get("credsStore")
    if isinstance(store, str) and store:
        return run_helper(store, keys[0])
    return _from_auths(_section(doc, "auths"), keys, path)


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """A mapping section of the config, or empty when absent or malformed."""
    value = doc.get(name)
    return value if isinstance(value, dict) else {}
