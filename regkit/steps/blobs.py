"""Step 4, ``fetch_blob``: download one blob, following CDN redirects without the registry's token."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .._repr import HtmlRepr
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..oci.manifest import Descriptor
from ..oci.reference import Reference
from ..storage.store import BlobStore
from .auth import Token
from .fetcher import Advance, Fetcher

if TYPE_CHECKING:  # typing_extensions: ~5 ms of start-up for what only the type checker reads
    from typing_extensions import Unpack


@dataclass(frozen=True)
class BlobResult(HtmlRepr):
    """A verified blob on disk, with the exchanges (registry and redirect hops) that fetched it.

    Attributes
    ----------
    descriptor : Descriptor
        The blob asked for.
    path : Path
        Where its verified bytes are.
    exchanges : tuple of Exchange
        The HTTP exchanges that produced it, redacted, in order.
    seconds : float
        The time the download took (0 when it was stored already).
    cached : bool
        True when the blob was stored already and nothing was fetched.
    """

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
    progress: Callable[[int], None] | None = None,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> BlobResult:
    """Download ``descriptor``'s blob into ``dest`` (a :class:`BlobStore` or its directory), verified.

    Parameters
    ----------
    ref : Reference or str
        The image the blob belongs to (its repository is asked).
    descriptor : Descriptor
        The blob: digest, size and media type, from a manifest.
    dest : BlobStore or str or os.PathLike, default "blobs"
        Where verified blobs are kept; a blob already there is not fetched again.
    token : Token, optional
        A token from :func:`get_token`; asked for only when the blob is not stored yet.
    progress : callable, optional
        Called with the number of bytes each time more arrive.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (``endpoints``, ``insecure``, ``auth``,
        ``timeout``, ``docker_config``, ``retry``, ``transport``, ``speed_limit``, ``ca_cert``; see
        :class:`Client`). Not together with ``client``.

    Returns
    -------
    BlobResult
        The blob's path in the store, the exchanges, the time taken, and whether it was stored already.

    Raises
    ------
    VerificationError
        The bytes do not match the descriptor's digest or size; nothing is kept.
    RegistryError
        The registry (or a box in between) answered, but not as the protocol promises: ``AuthError``,
        ``NotFound``, ``ManifestError``, ``UnexpectedResponse``.
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    ref = as_reference(ref)
    with client_for(client, options) as session:
        return fetch_blob_into(Fetcher(session, ref, token=token), descriptor, dest, progress)


def fetch_blob_into(
    fetcher: Fetcher,
    descriptor: Descriptor,
    dest: BlobStore | str | os.PathLike[str],
    progress: Advance | None,
) -> BlobResult:
    """:func:`fetch_blob` through a fetcher; the token is asked for only when the blob is not stored yet.

    The result's exchanges are the download's (the token's are the fetcher's, as the token step's).
    """
    store = dest if isinstance(dest, BlobStore) else BlobStore(dest)
    if store.has(descriptor.digest, descriptor.size):
        return BlobResult(descriptor, store.path(descriptor.digest), (), 0.0, cached=True)
    fetcher.token()
    start = time.perf_counter()
    with store.writer(descriptor.digest, descriptor.size) as (handle, verifier):
        exchanges = fetcher.download(descriptor, handle, verifier, progress)
    return BlobResult(descriptor, store.path(descriptor.digest), exchanges, time.perf_counter() - start)
