"""A front of the lab registry that answers the OCI 1.1 referrers API, which distribution 2.8 lacks.

``GET /v2/<name>/referrers/<digest>[?artifactType=T]`` is answered here by scanning the repository's
manifests in the registry's storage for a ``subject`` of that digest; every other request is forwarded to
the registry as it came (``Authorization`` included). Access is the registry's decision: the subject is
asked for with the client's own ``Authorization`` first, and a 401 (with its challenge) is passed back.
"""

from __future__ import annotations

import json
import re
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from ..oci import mediatypes as mt

_REFERRERS = re.compile(r"/v2/(?P<name>[a-z0-9._/-]+)/referrers/(?P<digest>sha256:[a-f0-9]{64})")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer", "host"}
MAX_SCANNED = 10_000  # manifests of one repository read for one answer


def referring(storage: Path, name: str, digest: str, artifact_type: str) -> list[dict[str, Any]]:
    """Descriptors of the manifests in ``name`` whose subject is ``digest`` (of ``artifact_type`` when given)."""
    v2 = storage / "docker" / "registry" / "v2"
    revisions = v2 / "repositories" / name / "_manifests" / "revisions" / "sha256"
    found = []
    for entry in sorted(revisions.iterdir())[:MAX_SCANNED] if revisions.is_dir() else []:
        data = v2 / "blobs" / "sha256" / entry.name[:2] / entry.name / "data"
        try:
            raw = data.read_bytes()
            doc = json.loads(raw)
        except (OSError, ValueError):
            continue
        subject = doc.get("subject") if isinstance(doc, dict) else None
        if not isinstance(subject, dict) or subject.get("digest") != digest:
            continue
        kind = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType", "")
        if artifact_type and kind != artifact_type:
            continue
        descriptor = {"mediaType": doc.get("mediaType", mt.OCI_MANIFEST), "digest": f"sha256:{entry.name}"}
        descriptor |= {"size": len(raw), "artifactType": kind}
        if isinstance(doc.get("annotations"), dict):
            descriptor["annotations"] = doc["annotations"]
        found.append(descriptor)
    return found


def make_referrers_handler(registry_url: str, storage: Path) -> type[BaseHTTPRequestHandler]:
    """A handler answering referrers from ``storage`` and forwarding the rest to ``registry_url``."""
    session = requests.Session()
    session.trust_env = False

    class Handler(BaseHTTPRequestHandler):
        server_version = "regkit-lab-referrers/1"
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            match = _REFERRERS.fullmatch(url.path)
            if match is None:
                self._relay(session.request(self.command, f"{registry_url}{self.path}", headers=headers, timeout=60))
                return
            # The registry decides who may see the subject's repository.
            check = session.head(
                f"{registry_url}/v2/{match['name']}/manifests/{match['digest']}",
                headers={**headers, "Accept": ", ".join(mt.ACCEPT_MANIFESTS)},
                timeout=60,
            )
            if check.status_code == 401:
                self._relay(session.request(self.command, f"{registry_url}{self.path}", headers=headers, timeout=60))
                return
            wanted = (parse_qs(url.query).get("artifactType") or [""])[0]
            manifests = referring(storage, match["name"], match["digest"], wanted)
            body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}).encode()
            extra = {"OCI-Filters-Applied": "artifactType"} if wanted else {}
            self._send(200, body, {"Content-Type": mt.OCI_INDEX, **extra})

        def _relay(self, upstream: requests.Response) -> None:
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP | {"content-length"}}
            self._send(upstream.status_code, upstream.content, kept, upstream.headers.get("Content-Length"))

        def _send(self, status: int, body: bytes, headers: dict[str, str], length: str | None = None) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} referrers {format % args}\n")

    return Handler
