"""A fault-injecting reverse proxy: the failures real networks and proxies produce, on demand.

The first path component picks the fault, the rest is forwarded to the registry itself (so blob
bytes flow through here, not through the CDN): ``--mirror http://127.0.0.1:PORT/cut-blob``.
"First" faults hit the first matching request per path and then let requests through, as a
flaky network would; the others hit every time.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any

import requests

STALL_SECONDS = 20  # longer than the timeouts tests use, short enough to end on its own
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"}
FAULTS = {
    "ok": "no fault",
    "html-manifest": "manifests answer an HTML 502 page (a proxy's error page)",
    "cut-blob": "the first GET of each blob breaks off halfway",
    "cut-norange": "like cut-blob, and Range is ignored afterwards (200 with the whole blob)",
    "flip-blob": "one byte in the middle of every blob is flipped",
    "stall": "blobs send 1 KiB, then nothing",
    "ratelimit": "the first manifest GET gets 429 TOOMANYREQUESTS with Retry-After: 1",
    "proxy-429": "every manifest GET gets the proxy's own HTML 429 page",
    "expire-token": "the first blob GET is sent on without Authorization (the registry answers 401)",
    "content-encoding": "blobs are gzip-encoded in transit with Content-Encoding: gzip",
    "wrong-digest-header": "manifests carry a Docker-Content-Digest of other bytes (a cache ignoring Accept)",
}


def make_fault_handler(registry_url: str) -> type[BaseHTTPRequestHandler]:
    """A handler forwarding ``/<fault>/v2/…`` to ``registry_url`` with that fault applied."""
    session = requests.Session()
    session.trust_env = False
    seen: Counter[tuple[str, str, str]] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = "regkit-lab-faults/1"
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            fault, _, rest = self.path.lstrip("/").partition("/")
            if fault not in FAULTS or not rest.startswith("v2"):
                self._send(404, json.dumps({"faults": FAULTS}).encode(), {"Content-Type": "application/json"})
                return
            kind = "blob" if "/blobs/" in rest else "manifest" if "/manifests/" in rest else "other"
            with lock:
                seen[(fault, self.command, rest)] += 1
                first = seen[(fault, self.command, rest)] == 1
            if self._canned(fault, kind, first):
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
            if fault == "expire-token" and kind == "blob" and first:
                headers.pop("Authorization", None)
            if fault == "cut-norange" and not first:
                headers.pop("Range", None)
            upstream = session.request(self.command, f"{registry_url}/{rest}", headers=headers, stream=True, timeout=60)
            self._relay(upstream, fault, kind, first)

        def _canned(self, fault: str, kind: str, first: bool) -> bool:
            """Answers made up here instead of forwarded; True when one was sent."""
            if fault == "html-manifest" and kind == "manifest":
                page = b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"
                self._send(502, page, {"Content-Type": "text/html", "Via": "1.1 faulty-proxy"})
            elif fault == "ratelimit" and kind == "manifest" and first and self.command == "GET":
                body = {"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate limit."}]}
                headers = {
                    "Content-Type": "application/json",
                    "Retry-After": "1",
                    "ratelimit-limit": "100;w=21600",
                    "ratelimit-remaining": "0;w=21600",
                    "docker-ratelimit-source": "127.0.0.1",
                }
                self._send(429, json.dumps(body).encode(), headers)
            elif fault == "proxy-429" and kind == "manifest":
                self._send(
                    429, b"<html><body><h1>429 Too Many Requests</h1></body></html>", {"Content-Type": "text/html"}
                )
            else:
                return False
            return True

        def _relay(self, upstream: requests.Response, fault: str, kind: str, first: bool) -> None:
            body_faults = kind == "blob" and self.command == "GET" and upstream.status_code in (200, 206)
            if body_faults and fault in ("flip-blob", "content-encoding"):
                data = upstream.raw.read(decode_content=False)
                if fault == "flip-blob":
                    flipped = bytearray(data)
                    flipped[len(flipped) // 2] ^= 0xFF
                    data = bytes(flipped)
                extra = {"Content-Encoding": "gzip"} if fault == "content-encoding" else {}
                self._send(
                    upstream.status_code, gzip.compress(data) if extra else data, {**_headers(upstream), **extra}
                )
                return
            headers = _headers(upstream)
            if kind == "manifest" and fault == "wrong-digest-header" and "Docker-Content-Digest" in headers:
                headers["Docker-Content-Digest"] = "sha256:" + "0" * 64
            self.send_response(upstream.status_code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                return
            length = int(upstream.headers.get("Content-Length", "0") or 0)
            cut = length // 2 if body_faults and first and fault in ("cut-blob", "cut-norange") else None
            stall = body_faults and fault == "stall"
            sent = 0
            for chunk in upstream.raw.stream(16 * 1024, decode_content=False):
                if cut is not None and sent + len(chunk) >= cut:
                    self.wfile.write(chunk[: cut - sent])
                    self.close_connection = True
                    return
                if stall and sent >= 1024:
                    time.sleep(STALL_SECONDS)
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                sent += len(chunk)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"faults {self.address_string()} {format % args}\n")

    return Handler


def _headers(upstream: requests.Response) -> dict[str, str]:
    """The upstream's end-to-end headers."""
    return {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
