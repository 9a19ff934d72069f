"""A fault-injecting reverse proxy: the failures real networks and proxies produce, on demand.

The first path component picks the fault, the rest is forwarded to the registry itself (so blob
bytes flow through here, not through the CDN): ``--mirror http://127.0.0.1:PORT/cut-blob``.
"First" faults hit the first matching request per path and then let requests through, as a
flaky network would; the others hit every time. Each fault is a small object in :data:`TABLE`
changing one thing about forwarding (a :class:`Fault` forwards and relays unchanged).
"""

from __future__ import annotations

import gzip
import json
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
# One answer made up here: status, body, headers.
Answer = tuple[int, bytes, dict[str, str]]
# What a fault relays: the upstream response (maybe another one, fetched with a Refetch), or an Answer.
Refetch = Callable[[str], requests.Response]
Upstream = requests.Response | Answer


@dataclass(frozen=True)
class Seen:
    """One request as a fault sees it."""

    method: str
    kind: str  # "blob", "manifest" or "other"
    path: str  # after the fault's name: "v2/…"
    count: int  # requests with this fault, method and path so far, this one included

    @property
    def first(self) -> bool:
        """The first such request: "first" faults hit it and let the later ones through."""
        return self.count == 1

    @property
    def manifest_get(self) -> bool:
        """A manifest GET (a HEAD is left alone by the faults that spend or refuse a pull)."""
        return self.kind == "manifest" and self.method == "GET"


class State:
    """What the handler's faults share across requests: the requests seen, the stashed manifests."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str, str]] = Counter()
        self.lock = threading.Lock()
        # redirect-manifest: bodies fetched with the client's token, served once from /stash/<key>
        # like a CDN's signed URL, which must not be sent the registry's Authorization.
        self.stash: dict[str, tuple[bytes, dict[str, str]]] = {}

    def count(self, fault: str, method: str, path: str) -> int:
        """Count one more request; how many there were."""
        with self.lock:
            self.seen[(fault, method, path)] += 1
            return self.seen[(fault, method, path)]

    def gets(self, fault: str) -> int:
        """The GETs made with ``fault`` so far."""
        with self.lock:
            return sum(n for (f, method, _), n in self.seen.items() if f == fault and method == "GET")


class Fault:
    """No fault: the request is forwarded and the answer relayed. Each fault below changes one thing."""

    description = "no fault"
    delay = 0.0  # seconds before anything is done
    via_front = False  # forwarded to the registry's front, where blob GETs are redirected to the CDN

    def answer(self, seen: Seen) -> Answer | None:
        """An answer made up here instead of forwarding the request, or None."""
        return None

    def forward(self, seen: Seen, headers: dict[str, str]) -> None:
        """Change the request headers sent upstream."""

    def upstream(self, seen: Seen, response: requests.Response, again: Refetch, state: State) -> Upstream:
        """What to relay instead of ``response`` (``again`` fetches another URL), or an answer to send."""
        return response

    def wants_whole_body(self, seen: Seen, blob_body: bool) -> bool:
        """Whether the body is read whole and passed through :meth:`rewrite`, instead of streamed."""
        return False

    def rewrite(self, seen: Seen, blob_body: bool, data: bytes) -> tuple[bytes, dict[str, str]]:
        """The whole body changed, and headers to add."""
        return data, {}

    def relay_headers(self, seen: Seen, headers: CaseInsensitiveDict[str], state: State, name: str) -> None:
        """Change the response headers relayed back."""

    def cut(self, seen: Seen, length: int) -> int | None:
        """Where a blob body breaks off, if it does."""
        return None

    def stream(self, handler: BaseHTTPRequestHandler, upstream: requests.Response) -> bool:
        """Send a blob body its own way; True when sent."""
        return False


class Canned(Fault):
    """An answer made up here for the requests ``when`` picks; the rest forwarded."""

    def __init__(self, description: str, when: Callable[[Seen], bool], answer: Answer) -> None:
        self.description = description
        self._when = when
        self._answer = answer

    def answer(self, seen: Seen) -> Answer | None:
        return self._answer if self._when(seen) else None


class Slow(Fault):
    description = f"every answer waits {SLOW_SECONDS} s before its headers (a mirror on a congested link)"
    delay = SLOW_SECONDS


class CutBlob(Fault):
    """A blob body that breaks off halfway: the first GET only (then, maybe, Range ignored), or every one."""

    def __init__(self, description: str, *, every: bool = False, ignore_range: bool = False) -> None:
        self.description = description
        self._every = every
        self._ignore_range = ignore_range

    def forward(self, seen: Seen, headers: dict[str, str]) -> None:
        if self._ignore_range and not seen.first:
            headers.pop("Range", None)

    def cut(self, seen: Seen, length: int) -> int | None:
        return length // 2 if self._every or seen.first else None


class FlipBlob(Fault):
    description = "one byte in the middle of every blob is flipped"

    def wants_whole_body(self, seen: Seen, blob_body: bool) -> bool:
        return blob_body

    def rewrite(self, seen: Seen, blob_body: bool, data: bytes) -> tuple[bytes, dict[str, str]]:
        flipped = bytearray(data)
        flipped[len(flipped) // 2] ^= 0xFF
        return bytes(flipped), {}


class Gzipped(Fault):
    """Bodies gzip-encoded in transit (``Content-Encoding: gzip``): blobs', or manifests'."""

    def __init__(self, description: str, kind: str) -> None:
        self.description = description
        self._kind = kind

    def wants_whole_body(self, seen: Seen, blob_body: bool) -> bool:
        return blob_body if self._kind == "blob" else seen.manifest_get

    def rewrite(self, seen: Seen, blob_body: bool, data: bytes) -> tuple[bytes, dict[str, str]]:
        return gzip.compress(data), {"Content-Encoding": "gzip"}


class Stall(Fault):
    description = "blobs send 1 KiB, then nothing"

    def stream(self, handler: BaseHTTPRequestHandler, upstream: requests.Response) -> bool:
        sent = 0
        for chunk in upstream.raw.stream(16 * 1024, decode_content=False):
            if sent >= 1024:  # a body under 1 KiB (or in one chunk) gets through whole
                time.sleep(STALL_SECONDS)
                handler.close_connection = True
                break
            handler.wfile.write(chunk)
            sent += len(chunk)
        return True


class Trickle(Fault):
    description = f"blobs send one byte every {TRICKLE_SECONDS} s (for at most {STALL_SECONDS} s)"

    def stream(self, handler: BaseHTTPRequestHandler, upstream: requests.Response) -> bool:
        """One byte at a time: never silent long enough for a read timeout, never done either."""
        data = upstream.raw.read(decode_content=False)
        deadline = time.monotonic() + STALL_SECONDS
        for i in range(len(data)):
            if time.monotonic() > deadline:
                break
            handler.wfile.write(data[i : i + 1])
            handler.wfile.flush()
            time.sleep(TRICKLE_SECONDS)
        handler.close_connection = True
        return True


class ExpireToken(Fault):
    description = "the first blob GET is sent on without Authorization (the registry answers 401)"

    def forward(self, seen: Seen, headers: dict[str, str]) -> None:
        if seen.kind == "blob" and seen.first:
            headers.pop("Authorization", None)


class WrongDigestHeader(Fault):
    description = "manifests carry a Docker-Content-Digest of other bytes (a cache ignoring Accept)"

    def relay_headers(self, seen: Seen, headers: CaseInsensitiveDict[str], state: State, name: str) -> None:
        if seen.kind == "manifest" and "Docker-Content-Digest" in headers:
            headers["Docker-Content-Digest"] = "sha256:" + "0" * 64


class BadChallenge(Fault):
    description = "Bearer challenges lose their service and scope (a bad WWW-Authenticate rewrite)"

    def relay_headers(self, seen: Seen, headers: CaseInsensitiveDict[str], state: State, name: str) -> None:
        challenge = headers.get("WWW-Authenticate", "")
        if challenge.startswith("Bearer "):
            headers["WWW-Authenticate"] = challenge.split(",")[0]  # only the realm survives


class HubRateLimit(Fault):
    description = "manifests carry Docker Hub's rate-limit headers; each GET spends one pull"

    def relay_headers(self, seen: Seen, headers: CaseInsensitiveDict[str], state: State, name: str) -> None:
        if seen.kind == "manifest":
            headers["ratelimit-limit"] = f"{HUB_LIMIT};w=21600"
            headers["ratelimit-remaining"] = f"{max(HUB_LIMIT - state.gets(name), 0)};w=21600"
            headers["docker-ratelimit-source"] = "127.0.0.1"


class RedirectManifest(Fault):
    description = "manifest GETs are redirected (307) to a one-time URL here that refuses Authorization"

    def upstream(self, seen: Seen, response: requests.Response, again: Refetch, state: State) -> Upstream:
        if not (seen.manifest_get and response.ok):
            return response
        key = secrets.token_hex(8)
        with state.lock:
            state.stash[key] = (response.content, dict(_headers(response)))
        return 307, b"", {"Location": f"/stash/{key}"}


class AuthToCdn(Fault):
    description = "blob redirects are followed here, Authorization included (S3 answers 400)"
    via_front = True

    def upstream(self, seen: Seen, response: requests.Response, again: Refetch, state: State) -> Upstream:
        if not response.is_redirect:
            return response
        # A naive proxy following the redirect itself, every header kept (requests would drop it).
        location = response.headers["Location"]
        response.close()
        return again(location)


def _library_only(seen: Seen) -> bool:
    return seen.path.startswith("v2/") and not seen.path.startswith("v2/library/") and seen.path != "v2/"


def _errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


_JSON = {"Content-Type": "application/json"}
_TEXT = {"Content-Type": "text/plain"}
_HUB_LIMITED = {
    "ratelimit-limit": "100;w=21600",
    "ratelimit-remaining": "0;w=21600",
    "docker-ratelimit-source": "127.0.0.1",
}
_PAGE_502 = b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"
_SCHEMA1 = b'{"schemaVersion":1,"name":"x","tag":"latest","fsLayers":[],"history":[]}'
_DEEP_MANIFEST = b'{"schemaVersion":2,"layers":' + b"[" * NESTING + b"]" * NESTING + b"}"
_DEEP_ERROR = b'{"errors":' + b"[" * NESTING + b"]" * NESTING + b"}"
_TOO_MANY = b"Too Many Requests\n"

# Every fault by the name its URL starts with.
TABLE: dict[str, Fault] = {
    "ok": Fault(),
    "html-manifest": Canned(
        "manifests answer an HTML 502 page (a proxy's error page)",
        lambda seen: seen.kind == "manifest",
        (502, _PAGE_502, {"Content-Type": "text/html", "Via": "1.1 faulty-proxy"}),
    ),
    "cut-blob": CutBlob("the first GET of each blob breaks off halfway"),
    "cut-norange": CutBlob(
        "like cut-blob, and Range is ignored afterwards (200 with the whole blob)", ignore_range=True
    ),
    "flip-blob": FlipBlob(),
    "stall": Stall(),
    "ratelimit": Canned(
        "the first manifest GET gets 429 TOOMANYREQUESTS with Retry-After: 1",
        lambda seen: seen.manifest_get and seen.first,
        (
            429,
            _errors("TOOMANYREQUESTS", "You have reached your pull rate limit."),
            {**_JSON, "Retry-After": "1", **_HUB_LIMITED},
        ),
    ),
    "proxy-429": Canned(
        "every manifest GET gets the proxy's own HTML 429 page",
        lambda seen: seen.kind == "manifest",
        (429, b"<html><body><h1>429 Too Many Requests</h1></body></html>", {"Content-Type": "text/html"}),
    ),
    "expire-token": ExpireToken(),
    "content-encoding": Gzipped("blobs are gzip-encoded in transit with Content-Encoding: gzip", "blob"),
    "wrong-digest-header": WrongDigestHeader(),
    "truncate-blob": CutBlob("every blob body breaks off halfway (a proxy's temp-file cap)", every=True),
    "hub-429": Canned(
        "manifest GETs get a plain-text 429 (a registry's overall request limit, not the pull quota)",
        lambda seen: seen.manifest_get,
        (429, _TOO_MANY, _TEXT),
    ),
    "hub-ratelimit": HubRateLimit(),
    "unknown-manifest": Canned(
        "every manifest is answered 404 MANIFEST_UNKNOWN (a broken proxy)",
        lambda seen: seen.kind == "manifest",
        (404, _errors("MANIFEST_UNKNOWN", "manifest unknown"), _JSON),
    ),
    "schema1": Canned(
        "manifests come back as a schema 1 document (the Accept header was ignored)",
        lambda seen: seen.kind == "manifest",
        (200, _SCHEMA1, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}),
    ),
    "auth-to-cdn": AuthToCdn(),
    "bad-challenge": BadChallenge(),
    "nested-json": Canned(
        f"manifests are JSON nested {NESTING} levels deep",
        lambda seen: seen.kind == "manifest",
        (200, _DEEP_MANIFEST, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}),
    ),
    "nested-error": Canned(
        f"manifest GETs get a 500 whose JSON error body is nested {NESTING} levels deep",
        lambda seen: seen.manifest_get,
        (500, _DEEP_ERROR, _JSON),
    ),
    "trickle": Trickle(),
    "ratelimit-each": Canned(
        "every other manifest GET (the 1st, 3rd, …) gets 429 with Retry-After: 1",
        lambda seen: seen.manifest_get and seen.count % 2 == 1,
        (429, _TOO_MANY, {**_TEXT, "Retry-After": "1"}),
    ),
    "retry-forever": Canned(
        "every manifest request gets 429 with Retry-After: 3600",
        lambda seen: seen.kind == "manifest",
        (429, _TOO_MANY, {**_TEXT, "Retry-After": "3600"}),
    ),
    "redirect-manifest": RedirectManifest(),
    "gzip-manifest": Gzipped("manifests are gzip-encoded in transit with Content-Encoding: gzip", "manifest"),
    "slow": Slow(),
    "library-only": Canned(
        "names outside library/ get 404 NAME_UNKNOWN (a mirror of official images only)",
        _library_only,
        (404, _errors("NAME_UNKNOWN", "repository name not known to registry"), _JSON),
    ),
}
FAULTS = {name: fault.description for name, fault in TABLE.items()}
HUB_LIMIT = 100


def make_fault_handler(registry_url: str, front_url: str) -> type[BaseHTTPRequestHandler]:
    """A handler forwarding ``/<fault>/v2/…`` to ``registry_url`` with that fault (from :data:`TABLE`) applied.

    Faults with ``via_front`` go to ``front_url`` instead, where blob GETs are redirected to the CDN.
    """
    session = requests.Session()
    session.trust_env = False
    state = State()

    class Handler(LoggedHandler):
        served_as = FAULT_PROXY
        server_version = "regkit-lab-faults/1"
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            name, _, rest = self.path.lstrip("/").partition("/")
            if name == "stash":
                self._unstash(rest)
                return
            fault = TABLE.get(name)
            if fault is None or not rest.startswith("v2"):
                self._send(404, json.dumps({"faults": FAULTS}).encode(), _JSON)
                return
            kind = "blob" if "/blobs/" in rest else "manifest" if "/manifests/" in rest else "other"
            seen = Seen(self.command, kind, rest, state.count(name, self.command, rest))
            time.sleep(fault.delay)
            canned = fault.answer(seen)
            if canned is not None:
                self._send(*canned)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
            fault.forward(seen, headers)
            base = front_url if fault.via_front else registry_url

            def again(url: str) -> requests.Response:
                return session.get(url, headers=headers, stream=True, timeout=60, allow_redirects=False)

            response = session.request(
                self.command, f"{base}/{rest}", headers=headers, stream=True, timeout=60, allow_redirects=False
            )
            upstream = fault.upstream(seen, response, again, state)
            if isinstance(upstream, tuple):
                self._send(*upstream)
                return
            self._relay(upstream, fault, name, seen)

        def _relay(self, upstream: requests.Response, fault: Fault, name: str, seen: Seen) -> None:
            blob_body = seen.kind == "blob" and self.command == "GET" and upstream.status_code in (200, 206)
            if fault.wants_whole_body(seen, blob_body):
                data, extra = fault.rewrite(seen, blob_body, upstream.raw.read(decode_content=False))
                self._send(upstream.status_code, data, {**_headers(upstream), **extra})
                return
            headers = _headers(upstream)
            fault.relay_headers(seen, headers, state, name)
            self.send_response(upstream.status_code)
            for header, value in headers.items():
                self.send_header(header, value)
            self.end_headers()
            if self.command == "HEAD" or (blob_body and fault.stream(self, upstream)):
                return
            length = int(upstream.headers.get("Content-Length", "0") or 0)
            cut = fault.cut(seen, length) if blob_body else None
            sent = 0
            for chunk in upstream.raw.stream(16 * 1024, decode_content=False):
                if cut is not None and sent + len(chunk) >= cut:
                    self.wfile.write(chunk[: cut - sent])
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                sent += len(chunk)

        def _unstash(self, key: str) -> None:
            """Serve a redirected manifest once; like S3, refuse a request that carries Authorization."""
            with state.lock:
                found = state.stash.pop(key, None)
            if found is None:
                self._send(404, b"unknown or used URL\n", _TEXT)
            elif "Authorization" in self.headers:
                stash_error = b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message>"
                self._send(400, stash_error + b"</Error>", {"Content-Type": "application/xml"})
            else:
                self._send(200, found[0], found[1])

        def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
            self.send_response(status)
            for header, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(header, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"faults {self.address_string()} {format % args}\n")

    return Handler


def _headers(upstream: requests.Response) -> CaseInsensitiveDict[str]:
    """The upstream's end-to-end headers."""
    return CaseInsensitiveDict({k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP})
