"""Step 4, ``fetch_blob``: download one blob, following CDN redirects without the registry's token."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ..errors import SizeMismatch, TransportError, UnexpectedResponse, VerificationError
from ..http.client import AuthArg, Client, as_reference
from ..http.exchange import Exchange
from ..http.httperrors import error_for
from ..http.transport import HttpResponse
from ..oci.digest import Verifier
from ..oci.manifest import Descriptor
from ..oci.reference import Reference
from .auth import Token, get_token, send_authorized
from .places import Writable
from .store import BlobStore

MAX_REDIRECTS = 5
MAX_RESUMES = 3
_REDIRECTS = (301, 302, 303, 307, 308)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class BlobResult:
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

    def _repr_html_(self) -> str:
        from ..display.html import blob_html

        return blob_html(self)


def fetch_blob(
    ref: Reference | str,
    descriptor: Descriptor,
    dest: BlobStore | str | os.PathLike[str] = "blobs",
    *,
    token: Token | None = None,
    client: Client | None = None,
    auth: AuthArg = None,
    progress: Progress | None = None,
) -> BlobResult:
    """Download ``descriptor``'s blob into ``dest`` (a :class:`BlobStore` or its directory), verified."""
    ref = as_reference(ref)
    client = client or Client(auth=auth)
    store = dest if isinstance(dest, BlobStore) else BlobStore(dest)
    if store.has(descriptor.digest, descriptor.size):
        return BlobResult(descriptor, store.path(descriptor.digest), (), 0.0, cached=True)
    token = token or get_token(ref, client=client)
    start = time.perf_counter()
    with store.writer(descriptor.digest, descriptor.size) as (handle, verifier):
        exchanges = download_into(client, ref, descriptor, token, handle, verifier, progress)
    return BlobResult(descriptor, store.path(descriptor.digest), exchanges, time.perf_counter() - start)


def download_into(
    client: Client,
    ref: Reference,
    descriptor: Descriptor,
    token: Token,
    handle: Writable,
    verifier: Verifier,
    progress: Progress | None = None,
) -> tuple[Exchange, ...]:
    """Stream the blob into ``handle`` (resuming with ``Range`` after a break) and check its digest and size."""
    exchanges: list[Exchange] = []
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

    Returns the final 200 or 206 response with its body unread.
    """
    headers = {"Range": f"bytes={byte_range}"} if byte_range else {}
    url, meant = client.registry_url(ref, f"blobs/{descriptor.digest}")
    response, _ = send_authorized(client, "blob", ref, token, "GET", url, meant, headers, exchanges)
    for hop in range(1, MAX_REDIRECTS + 1):
        if response.status not in _REDIRECTS:
            break
        location = response.headers.get("Location")
        response.close()
        if not location:
            raise UnexpectedResponse(f"blob redirect {response.status} without a Location", exchange=response.exchange)
        try:
            target = urljoin(response.raw.url, location)
        except ValueError:
            raise UnexpectedResponse("blob redirect with a malformed Location", exchange=response.exchange) from None
        sent = client.endpoints.blob_location(target, ref)
        try:
            # A fresh header set: the registry's token is for the registry, not for a CDN (S3 answers
            # 400 "Only one auth mechanism allowed"), even when both sit behind the same proxy host.
            response = client.send(
                "blob", "GET", sent, headers=headers, original_url=target, note=f"redirect {hop}, no Authorization"
            )
        except TransportError as exc:
            raise TransportError(
                f"the blob redirect to {urlsplit(sent).netloc} failed: {exc.message}",
                exchange=exc.exchange,
                kind=exc.kind,
                hint="if the CDN is only reachable through a reverse proxy, set DOCKER_BLOB_REVERSE_PROXY",
            ) from None
        exchanges.append(response.exchange)
    else:
        response.close()
        raise UnexpectedResponse(
            f"more than {MAX_REDIRECTS} redirects for blob {descriptor.digest}", exchange=response.exchange
        )
    if response.status not in (200, 206):
        raise error_for(response, f"blob {descriptor.digest}")
    return response


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
            _stream(response, handle, verifier, progress)
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


def _stream(response: HttpResponse, handle: Writable, verifier: Verifier, progress: Progress) -> None:
    for chunk in response.iter_bytes():
        verifier.update(chunk)
        handle.write(chunk)
        progress(len(chunk))
