"""Docker-Hub-style blob redirects: an authorised blob GET answers 307 to a signed, expiring CDN URL.

The edge checks the caller's token by asking the registry (``HEAD`` on the same blob with the same
``Authorization``), then redirects to the CDN, an nginx server block that verifies the signature
with ``secure_link`` and serves the blob file straight from the registry's storage directory.
"""

from __future__ import annotations

import base64
import hashlib
import re
import sys
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import requests

from .traffic import EDGE, LoggedHandler

# The CDN path of a blob mirrors the registry's storage layout, as Docker Hub's CDN URLs do.
CDN_PREFIX = "/registry-v2"
_BLOB_PATH = re.compile(r"/v2/(?P<name>[a-z0-9._/-]+)/blobs/sha256:(?P<hex>[a-f0-9]{64})")
# Registry headers worth relaying when the edge does not redirect (a 401 needs its challenge).
_RELAYED = ("WWW-Authenticate", "Content-Type", "Docker-Distribution-API-Version")


def cdn_path(hex_digest: str) -> str:
    """The CDN path of a sha256 blob: the registry's own storage path under :data:`CDN_PREFIX`."""
    return f"{CDN_PREFIX}/docker/registry/v2/blobs/sha256/{hex_digest[:2]}/{hex_digest}/data"


def signature(path: str, expires: int, secret: str) -> str:
    """nginx ``secure_link_md5 "$secure_link_expires$uri <secret>"``: base64url MD5 without padding."""
    digest = hashlib.md5(f"{expires}{path} {secret}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_url(base: str, hex_digest: str, secret: str, ttl: int, now: float | None = None) -> str:
    """A CDN URL for the blob that nginx accepts for ``ttl`` seconds."""
    expires = int(time.time() if now is None else now) + ttl
    path = cdn_path(hex_digest)
    return f"{base}{path}?md5={signature(path, expires, secret)}&expires={expires}"


def make_edge_handler(registry_url: str, cdn_base: str, secret: str, ttl: int) -> type[BaseHTTPRequestHandler]:
    """A handler for blob GETs that nginx routes here; ``cdn_base`` is the CDN address advertised."""
    session = requests.Session()
    session.trust_env = False  # the registry is on loopback; never through a proxy

    class Handler(LoggedHandler):
        served_as = EDGE
        server_version = "regkit-lab-edge/1"

        def do_GET(self) -> None:
            match = _BLOB_PATH.fullmatch(self.path.split("?", 1)[0])
            headers = {"Authorization": self.headers["Authorization"]} if self.headers.get("Authorization") else {}
            if match is None:
                self._send(
                    404,
                    b'{"errors":[{"code":"NOT_FOUND","message":"not a blob path"}]}',
                    {"Content-Type": "application/json"},
                )
                return
            url = f"{registry_url}{self.path}"
            head = session.head(url, headers=headers, timeout=30)
            if head.status_code == 200:
                location = signed_url(cdn_base, match["hex"], secret, ttl)
                self._send(307, b"", {"Location": location, "Docker-Distribution-API-Version": "registry/2.0"})
                return
            # Not authorised or unknown: relay the registry's own answer, body included.
            answer = session.get(url, headers=headers, timeout=30, stream=True)
            body = answer.raw.read(64 * 1024) if answer.status_code != 200 else b""
            answer.close()
            self._send(head.status_code, body, {k: head.headers[k] for k in _RELAYED if k in head.headers})

        def _send(self, status: int, body: bytes, headers: dict[str, Any]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"edge {self.address_string()} {format % args}\n")

    return Handler
