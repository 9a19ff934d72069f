"""A repository handle: one client, one reference and its token, bound once, with its own log.

``repo = Repository(client, "busybox")``, then ``repo.token()``, ``repo.manifest(platform=…)`` and
``repo.blob(descriptor, dest)``, in the spirit of go-containerregistry's ``remote`` fetcher. The
five step functions are thin wrappers over the same code for one-cell-at-a-time use.
"""

from __future__ import annotations

import os
import threading

from ..http import client as http
from ..http.exchange import Exchange
from ..oci.digest import Verifier
from ..oci.manifest import Descriptor
from ..oci.platform import Platform
from ..oci.reference import Reference
from .auth import Token, probe_token
from .blobs import BlobResult, Progress, blob_of, download_into
from .manifest_fetch import ManifestResult, manifest_of, wanted_platform
from .places import Writable
from .store import BlobStore


class Repository:
    """One repository through one client: its token (obtained once, renewed when it expires), manifests,
    blobs, and :attr:`exchanges`, every exchange it made, in order. Safe to share between threads.

    Parameters
    ----------
    client : Client
        The client requests go through (kept open).
    ref : Reference or str
        The image whose repository this is.
    token : Token, optional
        A token obtained already; default one is asked for on first use.

    Raises
    ------
    InvalidReference
        ``ref`` does not parse.
    """

    def __init__(self, client: http.Client, ref: Reference | str, *, token: Token | None = None) -> None:
        self.client = client
        self.reference = http.as_reference(ref)
        self._token = token
        self._log: list[Exchange] = []
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()  # concurrent first calls make one probe, not several

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        """Every exchange this handle made (token, manifests, blobs), in the order they started.

        Concurrent downloads log theirs when they end; sorting by start time gives the transcript's order.
        """
        with self._lock:
            return tuple(sorted(self._log, key=lambda exchange: exchange.started))

    def _record(self, exchanges: list[Exchange]) -> None:
        with self._lock:
            self._log.extend(exchanges)

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
        with self._token_lock:
            if self._token is None:
                made: list[Exchange] = []
                try:
                    self._token = probe_token(self.client, self.reference, made)
                finally:
                    self._record(made)
            return self._token

    def drop_token(self) -> None:
        """Forget the token: the next request asks for a new one (after the client changed its route)."""
        with self._token_lock:
            self._token = None

    def manifest(self, platform: Platform | str | None = None) -> ManifestResult:
        """The image manifest (from an index: the one for ``platform``, default the host's), verified.

        Parameters
        ----------
        platform : Platform or str, optional
            The platform to pick from an index; default the host's.

        Returns
        -------
        ManifestResult
            The image manifest, the index it came from if any, and the token (renewed if it had to be).

        Raises
        ------
        NoMatchingPlatform
            An index without an image for ``platform``.
        ManifestError
            A manifest that does not match its digest, or cannot be used.
        RegistryError
            The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
            ``UnexpectedResponse``.
        TransportError
            No HTTP answer: DNS, refused, TLS, timeout, too slow.
        """
        wanted = wanted_platform(platform)
        made: list[Exchange] = []
        try:
            result = manifest_of(self.client, self.reference, self.token(), wanted, made)
        finally:
            self._record(made)
        self._token = result.token  # renewed if the registry asked for it
        return result

    def blob(
        self,
        descriptor: Descriptor,
        dest: BlobStore | str | os.PathLike[str] = "blobs",
        *,
        progress: Progress | None = None,
    ) -> BlobResult:
        """The blob verified into ``dest`` (a :class:`BlobStore` or its directory); a stored one is not fetched.

        Parameters
        ----------
        descriptor : Descriptor
            The blob, from a manifest.
        dest : BlobStore or str or os.PathLike, default "blobs"
            Where it is stored, by digest.
        progress : Progress, optional
            Told of its bytes.

        Returns
        -------
        BlobResult
            Where the blob is, whether it was downloaded, and its exchanges.

        Raises
        ------
        VerificationError
            The bytes do not match the digest or size; nothing is left in ``dest``.
        OutputError
            ``dest`` cannot be written.
        RegistryError
            The registry answered, but not as the protocol promises: ``AuthError``, ``NotFound``,
            ``UnexpectedResponse``.
        TransportError
            No HTTP answer: DNS, refused, TLS, timeout, too slow.
        """
        made: list[Exchange] = []
        try:
            return blob_of(self.client, self.reference, descriptor, dest, self.token, progress, made)
        finally:
            self._record(made)

    def download(
        self, descriptor: Descriptor, handle: Writable, verifier: Verifier, progress: Progress | None = None
    ) -> tuple[Exchange, ...]:
        """Stream the blob into ``handle`` (a place in an output, not a store), verified; logged like the rest.

        Parameters
        ----------
        descriptor : Descriptor
            The blob, from a manifest.
        handle : Writable
            Where its bytes go, from the start.
        verifier : Verifier
            Checks the bytes against the digest and size as they pass.
        progress : Progress, optional
            Told of its bytes.

        Returns
        -------
        tuple of Exchange
            The exchanges the download made (redirects and retries included).

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
        made: list[Exchange] = []
        try:
            return download_into(
                self.client, self.reference, descriptor, self.token(), handle, verifier, progress, made
            )
        finally:
            self._record(made)

    def __repr__(self) -> str:
        return f"Repository({str(self.reference)!r}, exchanges={len(self._log)})"
