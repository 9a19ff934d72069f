"""Step 4, ``fetch_blob``: download one blob, following CDN redirects without the registry's token."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .._repr import HtmlRepr
from ..errors import SizeMismatch, TransportError, VerificationError
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..http.httperrors import error_for
from ..http.speed import SpeedWatch, TooSlow
from ..http.transport import HttpResponse
from ..oci.digest import Verifier
from ..oci.manifest import Descriptor
from ..oci.redact import host_of
from ..oci.reference import Reference
from .auth import Token, probe_token, send_authorized
from .places import Writable
from .redirects import follow_redirects
from .store import BlobStore

if TYPE_CHECKING:  # typing_extensions: ~5 ms of start-up for what only the type checker reads
    from typing_extensions import Unpack

MAX_RESUMES = 3
# The registry is asked for a blob's signed URL at most this often per request (the second after a refusal).
SIGNED_URL_ASKS = 2

Progress = Callable[[int], None]


@dataclass(frozen=True)
class BlobResult(HtmlRepr):
    """A verified blob on disk, with the exchanges (registry and redirect hops) that fetched it."""

    descriptor: Descriptor
    path: Path
    exchanges: tuple[Exchange, ...] = field(repr=False)
    seconds: float
    cached: bool = False

    @property
    def size(self) -> int:
        """Size in bytes (verified)."""
        return self.descriptor.size


def fetch_blob(
    ref: Reference | str,
    descriptor: Descriptor,
    dest: BlobStore | str | os.PathLike[str] = "blobs",
    *,
    token: Token | None = None,
    progress: Progress | None = None,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> BlobResult:
    """Download ``descriptor``'s blob into ``dest`` (a :class:`BlobStore` or its directory), verified."""
    ref = as_reference(ref)
    with client_for(client, options) as session:
        return blob_of(session, ref, descriptor, dest, lambda: token or probe_token(session, ref, []), progress, [])


def blob_of(
    client: Client,
    ref: Reference,
    descriptor: Descriptor,
    dest: BlobStore | str | os.PathLike[str],
    token: Callable[[], Token],
    progress: Progress | None,
    log: list[Exchange],
) -> BlobResult:
    """:func:`fetch_blob` with a client; ``token`` is asked only when the blob is not stored yet.

    The exchanges are the result's, and are appended to ``log``.
    """
    store = dest if isinstance(dest, BlobStore) else BlobStore(dest)
    if store.has(descriptor.digest, descriptor.size):
        return BlobResult(descriptor, store.path(descriptor.digest), (), 0.0, cached=True)
    authorization = token()
    start = time.perf_counter()
    exchanges: list[Exchange] = []
    try:
        with store.writer(descriptor.digest, descriptor.size) as (handle, verifier):
            download_into(client, ref, descriptor, authorization, handle, verifier, progress, exchanges)
    finally:
        log.extend(exchanges)
    return BlobResult(descriptor, store.path(descriptor.digest), tuple(exchanges), time.perf_counter() - start)


def download_into(
    client: Client,
    ref: Reference,
    descriptor: Descriptor,
    token: Token,
    handle: Writable,
    verifier: Verifier,
    progress: Progress | None = None,
    exchanges: list[Exchange] | None = None,
) -> tuple[Exchange, ...]:
    """Stream the blob into ``handle`` (resuming with ``Range`` after a break) and check its digest and size.

    The exchanges are returned, and appended to ``exchanges`` as they happen when it is given.
    """
    exchanges = [] if exchanges is None else exchanges
    try:
        _download(client, ref, descriptor, token, exchanges, handle, verifier, progress or (lambda count: None))
        verifier.check()
    except VerificationError as exc:
        # Name the response that delivered the bytes.
        exc.exchange = exc.exchange or exchanges[-1]
        encoding = exc.exchange.header("content-encoding")
        if encoding and encoding != "identity":
            exc.hint = f"the response has Content-Encoding {encoding}: a proxy re-encoded the blob"
        raise
    return tuple(exchanges)


def follow_blob(
    client: Client,
    ref: Reference,
    descriptor: Descriptor,
    token: Token,
    exchanges: list[Exchange],
    byte_range: str | None = None,
) -> HttpResponse:
    """GET the blob (optionally ``Range: bytes=…``) and follow redirects, which never carry ``Authorization``.

    A storage host refusing the signed URL it was sent to (expired: a slow start, a resume late in a
    long pull, clock skew) gets the registry asked once more for a fresh one, with a renewed token if
    the old one expired meanwhile. Returns the final 200 or 206 response with its body unread.
    """
    headers = {"Range": f"bytes={byte_range}"} if byte_range else {}
    url, meant = client.registry_url(ref, f"blobs/{descriptor.digest}")
    what = f"blob {descriptor.digest}"
    hint = "if the CDN is only reachable through a reverse proxy, set DOCKER_BLOB_REVERSE_PROXY"
    asked = 0
    while True:
        asked += 1
        response, token = send_authorized(client, "blob", ref, token, "GET", url, meant, headers, exchanges)
        registry_answer = response
        response = follow_redirects(client, "blob", what, ref, response, headers, exchanges, cdn_hint=hint)
        if response.status in (200, 206):
            return response
        if response is registry_answer:
            raise error_for(response, what, credentials_sent=token.credentials_sent, registry=ref.registry)
        error = error_for(response, what)
        if asked < SIGNED_URL_ASKS and signed_url_refused(response):
            response.exchange.note = "; ".join(
                filter(None, (response.exchange.note, "the storage refused the signed URL: asking the registry again"))
            )
            continue
        if response.status in (401, 403):
            error.hint = (
                f"the storage host {host_of(response.raw.url)} refused the signed URL the registry sent "
                "(expired, or a proxy or network policy in between); the registry's credentials are not the problem"
            )
        raise error


def signed_url_refused(response: HttpResponse) -> bool:
    """True when a storage host refused a signed URL: 403, or S3's XML ``AccessDenied``/``Request has expired``."""
    body = response.exchange.body_preview or ""
    return response.status == 403 or "<Code>AccessDenied</Code>" in body or "Request has expired" in body


def _download(
    client: Client,
    ref: Reference,
    descriptor: Descriptor,
    token: Token,
    exchanges: list[Exchange],
    handle: Writable,
    verifier: Verifier,
    progress: Progress,
) -> None:
    """Stream the blob into ``handle``; after a broken connection resume with ``Range`` where it stopped.

    The verifier has hashed every byte written so far, so a resumed download still checks the
    whole digest; a server that ignores ``Range`` (200 instead of 206) makes it start over.
    """
    response = follow_blob(client, ref, descriptor, token, exchanges)
    for resume in range(MAX_RESUMES + 1):
        offset = verifier.count
        if response.status == 200 and offset:
            handle.seek(0)
            handle.truncate()
            verifier.reset()
            progress(-offset)
            offset = 0
        try:
            check_length(response, descriptor, offset)
            _stream(response, handle, verifier, progress, client.speed_limit.watch())
            return
        except TransportError as exc:
            if not exc.transient or resume == MAX_RESUMES:
                raise
        except VerificationError as exc:
            exc.exchange = response.exchange
            raise
        finally:
            response.close()
        progress(0)  # lets a cancelled pull stop here instead of resuming
        response = follow_blob(client, ref, descriptor, token, exchanges, f"{verifier.count}-")
        response.exchange.note = f"resume at byte {verifier.count} {response.exchange.note}".strip()


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


def _stream(
    response: HttpResponse, handle: Writable, verifier: Verifier, progress: Progress, watch: SpeedWatch
) -> None:
    for chunk in response.iter_bytes():
        verifier.update(chunk)
        handle.write(chunk)
        progress(len(chunk))
        try:
            watch.update(len(chunk))
        except TooSlow as exc:
            response.exchange.error = f"too slow: {exc}"
            raise TransportError(
                f"the blob from {urlsplit(response.raw.url).netloc} arrives too slowly: {exc}",
                exchange=response.exchange,
                kind="slow",
                hint="a stalled server or link; change the rule with --min-speed/--speed-time (0 turns it off)",
            ) from None
