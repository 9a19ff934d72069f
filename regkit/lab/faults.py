"""A fault-injecting reverse proxy: the failures real networks and proxies produce, on demand.

The first path component picks the fault, the rest is forwarded to the registry itself (so blob
bytes flow through here, not through the CDN): ``--mirror http://127.0.0.1:PORT/cut-blob``.
"First" faults hit the first matching request per path and then let requests through, as a
flaky network would; the others hit every time.
"""

from __future__ import annotations

import gzip
import json
import secrets
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

from .traffic import FAULT_PROXY, LoggedHandler

STALL_SECONDS = 20  # longer than the timeouts tests use, short enough to end on its own
TRICKLE_SECONDS = 0.2
NESTING = 100_000  # deep enough for RecursionError in any recursive parser
SLOW_SECONDS = 1.5  # each answer of the slow mirror; diagnose compares it with the engine's patience
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
    "truncate-blob": "every blob body breaks off halfway (a proxy's temp-file cap)",
    "hub-429": "manifest GETs get a plain-text 429 (a registry's overall request limit, not the pull quota)",
    "hub-ratelimit": "manifests carry Docker Hub's rate-limit headers; each GET spends one pull",
    "unknown-manifest": "every manifest is answered 404 MANIFEST_UNKNOWN (a broken proxy)",
    "schema1": "manifests come back as a schema 1 document (the Accept header was ignored)",
    "auth-to-cdn": "blob redirects are followed here, Authorization included (S3 answers 400)",
    "bad-challenge": "Bearer challenges lose their service and scope (a bad WWW-Authenticate rewrite)",
    "nested-json": f"manifests are JSON nested {NESTING} levels deep",
    "nested-error": f"manifest GETs get a 500 whose JSON error body is nested {NESTING} levels deep",
    "trickle": f"blobs send one byte every {TRICKLE_SECONDS} s (for at most {STALL_SECONDS} s)",
    "ratelimit-each": "every other manifest GET (the 1st, 3rd, …) gets 429 with Retry-After: 1",
    "retry-forever": "every manifest request gets 429 with Retry-After: 3600",
    "redirect-manifest": "manifest GETs are redirected (307) to a one-time URL here that refuses Authorization",
    "gzip-manifest": "manifests are gzip-encoded in transit with Content-Encoding: gzip",
    "slow": f"every answer waits {SLOW_SECONDS} s before its headers (a mirror on a congested link)",
    "library-only": "names outside library/ get 404 NAME_UNKNOWN (a mirror of official images only)",
}
HUB_LIMIT = 100


def make_fault_handler(registry_url: str, front_url: str) -> type[BaseHTTPRequestHandler]:
    """A handler forwarding ``/<fault>/v2/…`` to ``registry_url`` with that fault applied.

    ``auth-to-cdn`` goes to ``front_url`` instead, where blob GETs are redirected to the CDN.
    """
    session = requests.Session()
    session.trust_env = False
    seen: Counter[tuple[str, str, str]] = Counter()
    lock = threading.Lock()
    # redirect-manifest: bodies fetched with the client's token, served once from /stash/<key>
    # like a CDN's signed URL, which must not be sent the registry's Authorization.
    stash: dict[str, tuple[bytes, dict[str, str]]] = {}

    class Handler(LoggedHandler):
        served_as = FAULT_PROXY
        server_version = "regkit-lab-faults/1"
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            fault, _, rest = self.path.lstrip("/").partition("/")
            if fault == "stash":
                self._unstash(rest)
                return
            if fault not in FAULTS or not rest.startswith("v2"):
                self._send(404, json.dumps({"faults": FAULTS}).encode(), {"Content-Type": "application/json"})
                return
            kind = "blob" if "/blobs/" in rest else "manifest" if "/manifests/" in rest else "other"
            with lock:
                seen[(fault, self.command, rest)] += 1
                first = seen[(fault, self.command, rest)] == 1
            if fault == "slow":
                time.sleep(SLOW_SECONDS)
            if self._canned(fault, kind, first, seen[(fault, self.command, rest)] % 2 == 1, rest):
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
            if fault == "expire-token" and kind == "blob" and first:
                headers.pop("Authorization", None)
            if fault == "cut-norange" and not first:
                headers.pop("Range", None)
            base = front_url if fault == "auth-to-cdn" else registry_url
            upstream = session.request(
                self.command, f"{base}/{rest}", headers=headers, stream=True, timeout=60, allow_redirects=False
            )
            if fault == "redirect-manifest" and kind == "manifest" and self.command == "GET" and upstream.ok:
                key = secrets.token_hex(8)
                with lock:
                    stash[key] = (upstream.content, dict(_headers(upstream)))
                self._send(307, b"", {"Location": f"/stash/{key}"})
                return
            if fault == "auth-to-cdn" and upstream.is_redirect:
                # A naive proxy following the redirect itself, every header kept (requests would drop it).
                location = upstream.headers["Location"]
                upstream.close()
                upstream = session.get(location, headers=headers, stream=True, timeout=60, allow_redirects=False)
            self._relay(upstream, fault, kind, first)

        def _canned(self, fault: str, kind: str, first: bool, odd: bool, rest: str) -> bool:
            """Answers made up here instead of forwarded; True when one was sent."""
            if (
                fault == "library-only"
                and rest.startswith("v2/")
                and not rest.startswith("v2/library/")
                and rest != "v2/"
            ):
                unknown = b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}'
                self._send(404, unknown, {"Content-Type": "application/json"})
            elif fault == "html-manifest" and kind == "manifest":
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
            elif fault == "hub-429" and kind == "manifest" and self.command == "GET":
                self._send(429, b"Too Many Requests\n", {"Content-Type": "text/plain"})
            elif fault == "unknown-manifest" and kind == "manifest":
                unknown = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
                self._send(404, unknown, {"Content-Type": "application/json"})
            elif fault == "schema1" and kind == "manifest":
                schema1 = b'{"schemaVersion":1,"name":"x","tag":"latest","fsLayers":[],"history":[]}'
                ctype = "application/vnd.docker.distribution.manifest.v1+prettyjws"
                self._send(200, schema1, {"Content-Type": ctype})
            elif fault == "nested-json" and kind == "manifest":
                deep = b'{"schemaVersion":2,"layers":' + b"[" * NESTING + b"]" * NESTING + b"}"
                self._send(200, deep, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            elif fault == "nested-error" and kind == "manifest" and self.command == "GET":
                deep = b'{"errors":' + b"[" * NESTING + b"]" * NESTING + b"}"
                self._send(500, deep, {"Content-Type": "application/json"})
            elif fault == "ratelimit-each" and kind == "manifest" and self.command == "GET" and odd:
                self._send(429, b"Too Many Requests\n", {"Content-Type": "text/plain", "Retry-After": "1"})
            elif fault == "retry-forever" and kind == "manifest":
                self._send(429, b"Too Many Requests\n", {"Content-Type": "text/plain", "Retry-After": "3600"})
            elif fault == "proxy-429" and kind == "manifest":
                self._send(
                    429, b"<html><body><h1>429 Too Many Requests</h1></body></html>", {"Content-Type": "text/html"}
                )
            else:
                return False
            return True

        def _relay(self, upstream: requests.Response, fault: str, kind: str, first: bool) -> None:
            body_faults = kind == "blob" and self.command == "GET" and upstream.status_code in (200, 206)
            manifest_gzip = kind == "manifest" and fault == "gzip-manifest" and self.command == "GET"
            if manifest_gzip or (body_faults and fault in ("flip-blob", "content-encoding")):
                data = upstream.raw.read(decode_content=False)
                if fault == "flip-blob":
                    flipped = bytearray(data)
                    flipped[len(flipped) // 2] ^= 0xFF
                    data = bytes(flipped)
                extra = {"Content-Encoding": "gzip"} if fault in ("content-encoding", "gzip-manifest") else {}
                self._send(
                    upstream.status_code, gzip.compress(data) if extra else data, {**_headers(upstream), **extra}
                )
                return
            headers = _headers(upstream)
            if kind == "manifest" and fault == "wrong-digest-header" and "Docker-Content-Digest" in headers:
                headers["Docker-Content-Digest"] = "sha256:" + "0" * 64
            challenge = headers.get("WWW-Authenticate", "")
            if fault == "bad-challenge" and challenge.startswith("Bearer "):
                headers["WWW-Authenticate"] = challenge.split(",")[0]  # only the realm survives
            if kind == "manifest" and fault == "hub-ratelimit":
                with lock:
                    spent = sum(n for (f, method, _), n in seen.items() if f == fault and method == "GET")
                headers["ratelimit-limit"] = f"{HUB_LIMIT};w=21600"
                headers["ratelimit-remaining"] = f"{max(HUB_LIMIT - spent, 0)};w=21600"
                headers["docker-ratelimit-source"] = "127.0.0.1"
            self.send_response(upstream.status_code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                return
            length = int(upstream.headers.get("Content-Length", "0") or 0)
            cuts = fault == "truncate-blob" or (first and fault in ("cut-blob", "cut-norange"))
            cut = length // 2 if body_faults and cuts else None
            stall = body_faults and fault == "stall"
            if body_faults and fault == "trickle":
                self._trickle(upstream)
                return
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

        def _trickle(self, upstream: requests.Response) -> None:
            """One byte at a time: never silent long enough for a read timeout, never done either."""
            data = upstream.raw.read(decode_content=False)
            deadline = time.monotonic() + STALL_SECONDS
            for i in range(len(data)):
                if time.monotonic() > deadline:
                    break
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(TRICKLE_SECONDS)
            self.close_connection = True

        def _unstash(self, key: str) -> None:
            """Serve a redirected manifest once; like S3, refuse a request that carries Authorization."""
            with lock:
                found = stash.pop(key, None)
            if found is None:
                self._send(404, b"unknown or used URL\n", {"Content-Type": "text/plain"})
            elif "Authorization" in self.headers:
                stash_error = b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message>"
                self._send(400, stash_error + b"</Error>", {"Content-Type": "application/xml"})
            else:
                self._send(200, found[0], found[1])

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


def _headers(upstream: requests.Response) -> CaseInsensitiveDict[str]:
    """The upstream's end-to-end headers."""
    return CaseInsensitiveDict({k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP})
