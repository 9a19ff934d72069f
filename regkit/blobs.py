"""Step 4, ``fetch_blob``: download one blob, following CDN redirects without the registry's token."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .auth import Token, get_token, send_authorized
from .client import AuthArg, Client, as_reference
from .errors import DigestMismatch, SizeMismatch, TransportError, UnexpectedResponse
from .exchange import Exchange
from .httperrors import error_for
from .manifest import Descriptor
from .reference import Reference
from .store import BlobStore
from .transport import HttpResponse

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class BlobResult:
    """A verified blob on disk, with the exchanges (registry and redirect hops) that fetched it."""

    descriptor: Descriptor
    path: Path
    exchanges: tuple[Exchange, ...]
    seconds: float
    cached: bool = False

    @property
    def size(self) -> int:
        """Size in bytes (verified)."""
        return self.descriptor.size

    def _repr_html_(self) -> str:
        from .display.html import blob_html

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
    exchanges: list[Exchange] = []
    response = _follow(client, ref, descriptor, token, exchanges)
    _download(response, descriptor, store, progress)
    return BlobResult(descriptor, store.path(descriptor.digest), tuple(exchanges), time.perf_counter() - start)


def _follow(
    client: Client, ref: Reference, descriptor: Descriptor, token: Token, exchanges: list[Exchange]
) -> HttpResponse:
    """GET the blob and follow redirects; redirect hops never carry ``Authorization``."""
    url, meant = client.registry_url(ref, f"blobs/{descriptor.digest}")
    response, _ = send_authorized(client, "blob", ref, token, "GET", url, meant, {}, exchanges)
    for hop in range(1, MAX_REDIRECTS + 1):
        if response.status not in _REDIRECTS:
            break
        location = response.headers.get("Location")
        response.close()
        if not location:
            raise UnexpectedResponse(f"blob redirect {response.status} without a Location", exchange=response.exchange)
        target = urljoin(response.raw.url, location)
        sent = client.endpoints.blob_location(target)
        try:
            # A fresh header set: the registry's token is for the registry, not for a CDN (S3 answers
            # 400 "Only one auth mechanism allowed"), even when both sit behind the same proxy host.
            response = client.send("blob", "GET", sent, original_url=target, note=f"redirect {hop}, no Authorization")
        except TransportError as exc:
            raise TransportError(
                f"the blob redirect to {urlsplit(sent).netloc} failed: {exc.message}",
                exchange=exc.exchange,
                hint="if the CDN is only reachable through a reverse proxy, set DOCKER_BLOB_REVERSE_PROXY",
            ) from None
        exchanges.append(response.exchange)
    else:
        response.close()
        raise UnexpectedResponse(
            f"more than {MAX_REDIRECTS} redirects for blob {descriptor.digest}", exchange=response.exchange
        )
    if response.status != 200:
        raise error_for(response, f"blob {descriptor.digest}")
    return response


def _download(response: HttpResponse, descriptor: Descriptor, store: BlobStore, progress: Progress | None) -> None:
    """Stream the body into the store, verifying size and digest as the bytes arrive."""
    declared = response.exchange.content_length
    if declared is not None and declared != descriptor.size:
        response.close()
        raise SizeMismatch(
            f"blob {descriptor.digest}: the server announces {declared} bytes, the manifest says {descriptor.size}",
            exchange=response.exchange,
        )
    try:
        with store.writer(descriptor.digest, descriptor.size) as (handle, verifier):
            for chunk in response.iter_bytes():
                verifier.update(chunk)
                handle.write(chunk)
                if progress:
                    progress(len(chunk))
    except (DigestMismatch, SizeMismatch) as exc:
        exc.exchange = response.exchange
        encoding = response.exchange.header("content-encoding")
        if encoding and encoding != "identity":
            exc.hint = f"the response has Content-Encoding {encoding}: a proxy re-encoded the blob"
        raise
    finally:
        response.close()
