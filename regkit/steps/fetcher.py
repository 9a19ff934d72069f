"""One repository's fetcher: the client, the reference, the token and the exchanges, held together.

Like go-containerregistry's ``remote`` fetcher, every request for a repository goes through one object
that knows where to send it, which token to add (obtained on first use, renewed on a 401 or at expiry)
and where to log what happened; the steps (:mod:`.manifest_fetch`, :mod:`.blobs`, :mod:`.referrers`)
and :class:`~regkit.steps.repository.Repository` are built on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from ..errors import (
    SPEED,
    DigestMismatch,
    Hint,
    InvalidReference,
    ManifestError,
    SizeMismatch,
    TransportError,
    UnexpectedResponse,
    VerificationError,
)
from ..http import client as http
from ..http.exchange import Exchange
from ..http.httperrors import error_for
from ..http.speed import SpeedWatch, TooSlow
from ..http.transport import HttpResponse
from ..oci import mediatypes as mt
from ..oci.digest import Digest, Verifier
from ..oci.manifest import Descriptor, ImageManifest, Index, parse_manifest
from ..oci.redact import host_of
from ..oci.reference import Reference
from ..storage.places import Writable
from .auth import Token, probe_token, renew_token, token_from_challenge
from .redirects import MAX_REDIRECTS, REDIRECTS, redirect_target

# Registries must accept at least 4 MiB manifests (distribution spec); more is not a manifest.
MAX_MANIFEST_SIZE = 4 << 20
_GZIP_MAGIC = b"\x1f\x8b"
MAX_RESUMES = 3
# The registry is asked for a blob's signed URL at most this often per request (the second after a refusal).
SIGNED_URL_ASKS = 2

# Told how many more bytes of a blob arrived (negative: a restart took them back).
Advance = Callable[[int], None]


class _TokenSource:
    """The token a fetcher and its parts send, asked for once (a lock: concurrent first calls probe once)."""

    def __init__(self, token: Token | None) -> None:
        self.token = token
        self.lock = threading.Lock()


class Fetcher:
    """Requests for one repository through one client, with its token and its log of exchanges.

    Safe to share between threads: the token is asked for once, and each exchange is logged as it is made.
    """

    def __init__(self, client: http.Client, ref: Reference | str, *, token: Token | None = None) -> None:
        self.client = client
        self.reference = http.as_reference(ref)
        self._tokens = _TokenSource(token)
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        """Every exchange this fetcher made (token, manifests, blobs), in the order they started.

        Concurrent downloads log theirs as they go; sorting by start time gives the transcript's order.
        """
        with self._lock:
            return tuple(sorted(self._exchanges, key=lambda exchange: exchange.started))

    def _record(self, exchanges: list[Exchange] | tuple[Exchange, ...]) -> None:
        with self._lock:
            self._exchanges.extend(exchanges)

    @contextmanager
    def part(self) -> Iterator[Fetcher]:
        """A fetcher for one piece of work: same client, reference and token, its own exchanges (a result's),
        logged here too when the piece ends, however it ends.

        Yields
        ------
        Fetcher
            The part; its :attr:`exchanges` are the piece's only.
        """
        part = Fetcher(self.client, self.reference)
        part._tokens = self._tokens
        try:
            yield part
        finally:
            self._record(part._exchanges)

    def token(self) -> Token:
        """The token for pulling, from the 401 challenge the first time (renewed as requests need it).

        Returns
        -------
        Token
            The token the next request sends (``none`` for an open registry).

        Raises
        ------
        RegistryError
            The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
            ``UnexpectedResponse``.
        TransportError
            No HTTP answer: DNS, refused, TLS, timeout, too slow.
        """
        with self._tokens.lock:
            if self._tokens.token is None:
                made: list[Exchange] = []
                try:
                    self._tokens.token = probe_token(self.client, self.reference, made)
                finally:
                    self._record(made)
            return self._tokens.token

    def drop_token(self) -> None:
        """Forget the token: the next request asks for a new one (after the client changed its route)."""
        with self._tokens.lock:
            self._tokens.token = None

    def send(self, step: str, method: str, url: str, meant: str, headers: dict[str, str]) -> HttpResponse:
        """Send with the token; on a 401 (expired or revoked), get a fresh token once and retry.

        The exchanges made (token renewals included) are logged; a renewed token is kept for what follows.

        Parameters
        ----------
        step : str
            The pull step the request belongs to, for the transcript.
        method : str
            The HTTP method.
        url : str
            The URL to send.
        meant : str
            The URL meant before any rewriting (a mirror's, plain HTTP).
        headers : dict of str to str
            Headers besides ``Authorization``.

        Returns
        -------
        HttpResponse
            The answer, of whatever status, its body unread.

        Raises
        ------
        RegistryError
            The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
            ``UnexpectedResponse``.
        TransportError
            No HTTP answer: DNS, refused, TLS, timeout, too slow.
        """
        token = self.client.tokens.newest(self.token())
        if token.expired:
            token = renew_token(self.client, self.reference, token)
            self._record([token.exchanges[-1]])
            self._keep(token)
        response = self.client.send(step, method, url, headers={**headers, **token.headers()}, original_url=meant)
        self._record(response.attempts)
        if response.status != 401:
            return response
        response.preview()
        response.exchange.note = "401: token rejected or missing, getting a new one"
        renewed = token_from_challenge(self.client, self.reference, response.exchange, renew=True, rejected=token)
        if renewed.exchanges and renewed.exchanges[0] is response.exchange:
            self._record(renewed.exchanges[1:])  # the first is the 401 itself, already recorded
        self._keep(renewed)
        retry = self.client.send(
            step,
            method,
            url,
            headers={**headers, **renewed.headers()},
            original_url=meant,
            attempt=2,
            note="retry with renewed token",
        )
        self._record(retry.attempts)
        return retry

    def _keep(self, token: Token) -> None:
        with self._tokens.lock:
            self._tokens.token = token

    def last_token(self) -> Token:
        """The token the last request sent (without asking for one).

        Returns
        -------
        Token
            The token kept, or ``none`` when none was asked for yet.
        """
        return self._tokens.token or Token("none")

    def follow_redirects(
        self, step: str, what: str, response: HttpResponse, headers: dict[str, str], *, cdn_hint: str = ""
    ) -> HttpResponse:
        """The response at the end of ``response``'s redirects, each hop sent with ``headers`` only (no token).

        requests keeps ``Authorization`` on a redirect that stays on the same scheme, host and port, which
        hands the registry's token to a CDN served behind the same proxy; so every hop is a fresh request.

        Parameters
        ----------
        step : str
            The pull step (``blob`` redirects may be rewritten to a blob reverse proxy).
        what : str
            What is fetched, for messages (``blob sha256:…``).
        response : HttpResponse
            The registry's answer, a redirect or not.
        headers : dict of str to str
            The headers each hop is sent with (never ``Authorization``).
        cdn_hint : str, default ""
            The hint for a hop that fails to connect.

        Returns
        -------
        HttpResponse
            The first answer that is no redirect.

        Raises
        ------
        UnexpectedResponse
            A redirect without a usable http(s) ``Location``, or too many of them.
        TransportError
            A hop got no HTTP answer.
        """
        for hop in range(1, MAX_REDIRECTS + 1):
            if response.status not in REDIRECTS:
                return response
            response.close()
            target = redirect_target(response, what)
            sent = self.client.endpoints.blob_location(target, self.reference) if step == "blob" else target
            try:
                # A fresh header set: the registry's token is for the registry, not for a CDN (S3 answers
                # 400 "Only one auth mechanism allowed"), even when both sit behind the same proxy host.
                response = self.client.send(
                    step, "GET", sent, headers=headers, original_url=target, note=f"redirect {hop}, no Authorization"
                )
            except TransportError as exc:
                raise TransportError(
                    f"the {what} redirect to {host_of(sent)} failed: {exc.message}",
                    exchange=exc.exchange,
                    kind=exc.kind,
                    # A certificate problem has its own hint (which CA sources apply); a proxy does not fix it.
                    hint=exc.hint if exc.kind == "tls" else cdn_hint or None,
                ) from None
            self._record(response.attempts)
        response.close()
        raise UnexpectedResponse(f"more than {MAX_REDIRECTS} redirects for {what}", exchange=response.exchange)

    def open_blob(self, descriptor: Descriptor, byte_range: str | None = None) -> HttpResponse:
        """GET the blob (optionally ``Range: bytes=…``) and follow redirects, which never carry ``Authorization``.

        A storage host refusing the signed URL it was sent to (expired: a slow start, a resume late in a
        long pull, clock skew) gets the registry asked once more for a fresh one, with a renewed token if
        the old one expired meanwhile.

        Parameters
        ----------
        descriptor : Descriptor
            The blob.
        byte_range : str, optional
            ``first-`` or ``first-last``, for a resume or a part.

        Returns
        -------
        HttpResponse
            The final 200 or 206 response, its body unread.

        Raises
        ------
        RegistryError
            The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
            ``UnexpectedResponse``.
        TransportError
            No HTTP answer: DNS, refused, TLS, timeout, too slow.
        """
        headers = {"Range": f"bytes={byte_range}"} if byte_range else {}
        url, meant = self.client.registry_url(self.reference, f"blobs/{descriptor.digest}")
        what = f"blob {descriptor.digest}"
        hint = "if the CDN is only reachable through a reverse proxy, set DOCKER_BLOB_REVERSE_PROXY"
        asked = 0
        while True:
            asked += 1
            response = registry_answer = self.send("blob", "GET", url, meant, headers)
            response = self.follow_redirects("blob", what, response, headers, cdn_hint=hint)
            if response.status in (200, 206):
                return response
            if response is registry_answer:
                sent = self.last_token().credentials_sent
                raise error_for(response, what, credentials_sent=sent, registry=self.reference.registry)
            error = error_for(response, what)
            if asked < SIGNED_URL_ASKS and signed_url_refused(response):
                refused = "the storage refused the signed URL: asking the registry again"
                response.exchange.note = "; ".join(filter(None, (response.exchange.note, refused)))
                continue
            if response.status in (401, 403):
                error.hint = (
                    f"the storage host {host_of(response.raw.url)} refused the signed URL the registry sent "
                    "(expired, or a proxy or network policy in between); the registry's credentials are not the problem"
                )
            raise error

    def read_blob(self, descriptor: Descriptor, what: str) -> bytes:
        """A small blob (a config, an artifact's payload) into memory, checked against its digest and size.

        Parameters
        ----------
        descriptor : Descriptor
            The blob; no more than its size is read.
        what : str
            What the blob is, for messages (``image config``, ``payload``).

        Returns
        -------
        bytes
            The blob's bytes, verified.

        Raises
        ------
        VerificationError
            The bytes do not match the digest or size.
        RegistryError
            The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
            ``UnexpectedResponse``.
        TransportError
            No HTTP answer: DNS, refused, TLS, timeout, too slow, or a body longer than the size.
        """
        response = self.open_blob(descriptor)
        try:
            body = response.read(descriptor.size, f"{what} {descriptor.digest}")
        finally:
            response.close()
        verifier = Verifier(descriptor.digest, descriptor.size, what)
        try:
            verifier.update(body)
            verifier.check()
        except VerificationError as exc:
            exc.exchange = response.exchange
            raise
        return body

    def download(
        self, descriptor: Descriptor, handle: Writable, verifier: Verifier, progress: Advance | None = None
    ) -> tuple[Exchange, ...]:
        """Stream the blob into ``handle`` (resuming with ``Range`` after a break) and check its digest and size.

        Parameters
        ----------
        descriptor : Descriptor
            The blob.
        handle : Writable
            Where its bytes go, from the start.
        verifier : Verifier
            Checks the bytes against the digest and size as they pass.
        progress : callable, optional
            Called with the number of bytes each time more arrive.

        Returns
        -------
        tuple of Exchange
            The download's own exchanges (redirects and resumes included), logged here as well.

        Raises
        ------
        VerificationError
            The bytes do not match the digest or size.
        RegistryError
            The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
            ``UnexpectedResponse``.
        TransportError
            No HTTP answer: DNS, refused, TLS, timeout, too slow.
        """
        with self.part() as part:
            part._copy(descriptor, handle, verifier, progress or (lambda count: None))
        return tuple(part._exchanges)

    def _copy(self, descriptor: Descriptor, handle: Writable, verifier: Verifier, advance: Advance) -> None:
        """The blob's bytes into ``handle``; after a broken connection resume with ``Range`` where it stopped.

        The verifier has hashed every byte written so far, so a resumed download still checks the whole
        digest; a server that ignores ``Range`` (200 instead of 206) makes it start over.
        """
        response = self.open_blob(descriptor)
        try:
            for resume in range(MAX_RESUMES + 1):
                offset = verifier.count
                if response.status == 200 and offset:
                    handle.seek(0)
                    handle.truncate()
                    verifier.reset()
                    advance(-offset)
                    offset = 0
                try:
                    check_length(response, descriptor, offset)
                    stream(response, handle, verifier, advance, self.client.speed_limit.watch())
                    break
                except TransportError as exc:
                    if not exc.transient or resume == MAX_RESUMES:
                        raise
                finally:
                    response.close()
                advance(0)  # lets a cancelled pull stop here instead of resuming
                response = self.open_blob(descriptor, f"{verifier.count}-")
                response.exchange.note = f"resume at byte {verifier.count} {response.exchange.note}".strip()
            verifier.check()
        except VerificationError as exc:
            # Name the response that delivered the bytes.
            exc.exchange = exc.exchange or response.exchange
            encoding = exc.exchange.header("content-encoding")
            if encoding and encoding != "identity":
                exc.hint = f"the response has Content-Encoding {encoding}: a proxy re-encoded the blob"
            raise

    def fetch_manifest(
        self, identifier: str, expected: Digest | None, descriptor: Descriptor | None = None
    ) -> ImageManifest | Index:
        """GET one manifest, verify it against ``expected`` and ``Docker-Content-Digest``, and parse it.

        Parameters
        ----------
        identifier : str
            A tag or digest.
        expected : Digest or None
            The digest the body must have; None for a tag.
        descriptor : Descriptor, optional
            The index entry it was found by: its size and media type must match too.

        Returns
        -------
        ImageManifest or Index
            The manifest, parsed and verified.

        Raises
        ------
        VerificationError
            The body does not match ``expected``, ``Docker-Content-Digest`` or the entry's size.
        ManifestError
            A body that is no manifest, or not the entry's media type.
        RegistryError
            The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
            ``UnexpectedResponse``.
        TransportError
            No HTTP answer: DNS, refused, TLS, timeout, too slow.
        """
        ref = self.reference
        url, meant = self.client.registry_url(ref, f"manifests/{identifier}")
        accept = {"Accept": ", ".join(mt.ACCEPT_MANIFESTS)}
        response = registry_answer = self.send("manifest", "GET", url, meant, accept)
        what = f"manifest {ref.repository}:{identifier}"
        # Registries and mirrors may redirect a manifest GET (to storage); followed like blobs, no token.
        response = self.follow_redirects("manifest", what, response, accept)
        if response.status != 200:
            sent = self.last_token().credentials_sent if response is registry_answer else None
            raise error_for(response, what, credentials_sent=sent, registry=ref.registry)
        body = response.read(MAX_MANIFEST_SIZE, "the manifest")
        try:
            digest = _verify(body, expected, response.exchange, descriptor)
            parsed = parse_manifest(body, response.exchange.content_type, digest)
        except (ManifestError, VerificationError) as exc:
            exc.exchange = response.exchange
            encoding = response.exchange.header("content-encoding")
            if (encoding and encoding.strip().lower() != "identity") or body[:2] == _GZIP_MAGIC:
                exc.hint = (
                    f"the manifest came {encoding or 'gzip'}-encoded although regkit asked for identity: "
                    "a proxy compressed it (turn its compression off for /v2/)"
                )
            raise
        if descriptor is not None and parsed.media_type != descriptor.media_type:
            raise ManifestError(
                f"index says {descriptor.digest} is a {descriptor.media_type} but it is a {parsed.media_type}",
                exchange=response.exchange,
            )
        return parsed

    def fetch_image_manifest(self, entry: Descriptor) -> ImageManifest:
        """The image manifest an index entry points to, verified against the entry.

        Parameters
        ----------
        entry : Descriptor
            The index entry.

        Returns
        -------
        ImageManifest
            The image manifest, verified.

        Raises
        ------
        ManifestError
            The entry is itself an index, or no manifest.
        RegistryError
            The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
            ``UnexpectedResponse``.
        TransportError
            No HTTP answer: DNS, refused, TLS, timeout, too slow.
        """
        manifest = self.fetch_manifest(str(entry.digest), entry.digest, entry)
        if not isinstance(manifest, ImageManifest):
            raise ManifestError(f"index entry {entry.digest} is itself an index; nested indexes are not supported")
        return manifest

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.reference)!r}, exchanges={len(self._exchanges)})"


def signed_url_refused(response: HttpResponse) -> bool:
    """True when a storage host refused a signed URL: 403, or S3's XML ``AccessDenied``/``Request has expired``."""
    body = response.exchange.body_preview or ""
    return response.status == 403 or "<Code>AccessDenied</Code>" in body or "Request has expired" in body


def check_length(response: HttpResponse, descriptor: Descriptor, offset: int) -> None:
    """Refuse before reading when the announced length cannot be the blob's (or its rest's)."""
    declared = response.exchange.content_length
    if response.status == 206:
        expected = f"bytes {offset}-{descriptor.size - 1}/{descriptor.size}"
        if (response.exchange.header("content-range") or "").strip() != expected:
            raise SizeMismatch(
                f"blob {descriptor.digest}: resumed at byte {offset} but the server sent "
                f"Content-Range {response.exchange.header('content-range')!r}, not {expected!r}",
                exchange=response.exchange,
            )
    elif declared is not None and declared != descriptor.size:
        raise SizeMismatch(
            f"blob {descriptor.digest}: the server announces {declared} bytes, the manifest says {descriptor.size}",
            exchange=response.exchange,
        )


def stream(response: HttpResponse, handle: Writable, verifier: Verifier, advance: Advance, watch: SpeedWatch) -> None:
    """Copy the body into ``handle`` through the verifier, too slow a transfer being a transport error."""
    for chunk in response.iter_bytes():
        verifier.update(chunk)
        handle.write(chunk)
        advance(len(chunk))
        try:
            watch.update(len(chunk))
        except TooSlow as exc:
            response.exchange.error = f"too slow: {exc}"
            raise TransportError(
                f"the blob from {urlsplit(response.raw.url).netloc} arrives too slowly: {exc}",
                exchange=response.exchange,
                kind="slow",
                hint=Hint("a stalled server or link; change the rule with ", SPEED, " (0 turns it off)"),
            ) from None


def _verify(body: bytes, expected: Digest | None, exchange: Exchange, descriptor: Descriptor | None) -> Digest:
    """The body's digest after checking it against what was asked for and what the server claims."""
    if descriptor is not None and len(body) != descriptor.size:
        raise SizeMismatch(
            f"manifest {descriptor.digest} has {len(body)} bytes, the index says {descriptor.size}", exchange=exchange
        )
    if expected is not None and Digest.of(body, expected.algorithm) != expected:
        raise DigestMismatch(
            f"the registry sent a manifest whose digest is {Digest.of(body, expected.algorithm)}, not the "
            f"requested {expected}",
            exchange=exchange,
        )
    claimed = exchange.header("docker-content-digest")
    if claimed:
        try:
            header_digest = Digest.parse(claimed.strip())
        except InvalidReference as exc:
            raise ManifestError(f"Docker-Content-Digest header is invalid: {exc.message}", exchange=exchange) from None
        if Digest.of(body, header_digest.algorithm) != header_digest:
            raise DigestMismatch(
                f"Docker-Content-Digest says {header_digest} but the body's digest is "
                f"{Digest.of(body, header_digest.algorithm)} (a cache may have ignored Accept/Vary)",
                exchange=exchange,
            )
    return expected or Digest.of(body)
