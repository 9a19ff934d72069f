"""A repository handle: one client, one reference and its token, bound once, with its own log.

``repo = Repository(client, "busybox")``, then ``repo.token()``, ``repo.manifest(platform=…)`` and
``repo.blob(descriptor, dest)``: a :class:`~regkit.steps.fetcher.Fetcher` (in the spirit of
go-containerregistry's ``remote`` fetcher) with the steps' results. The five step functions are thin
wrappers over the same code for one-cell-at-a-time use.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..oci.manifest import Descriptor
from ..oci.platform import Platform
from ..storage.store import BlobStore
from .blobs import BlobResult, fetch_blob_into
from .fetcher import Fetcher
from .manifest_fetch import ManifestResult, fetch_platform_manifest, wanted_platform


class Repository(Fetcher):
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
        return fetch_platform_manifest(self, wanted_platform(platform))

    def blob(
        self,
        descriptor: Descriptor,
        dest: BlobStore | str | os.PathLike[str] = "blobs",
        *,
        progress: Callable[[int], None] | None = None,
    ) -> BlobResult:
        """The blob verified into ``dest`` (a :class:`BlobStore` or its directory); a stored one is not fetched.

        Parameters
        ----------
        descriptor : Descriptor
            The blob, from a manifest.
        dest : BlobStore or str or os.PathLike, default "blobs"
            Where it is stored, by digest.
        progress : callable, optional
            Called with the number of bytes each time more arrive.

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
        return fetch_blob_into(self, descriptor, dest, progress)
