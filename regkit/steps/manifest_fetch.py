"""Step 3, ``get_manifest``: fetch, verify and (for an index) choose the platform's manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._repr import HtmlRepr
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..oci.digest import Digest
from ..oci.manifest import Descriptor, ImageManifest, Index
from ..oci.platform import Platform
from ..oci.reference import Reference
from .auth import Token
from .fetcher import Fetcher

if TYPE_CHECKING:  # typing_extensions: ~5 ms of start-up for what only the type checker reads
    from typing_extensions import Unpack


@dataclass(frozen=True)
class ManifestResult(HtmlRepr):
    """The image manifest to pull, the index it was chosen from (if any), and the exchanges.

    Attributes
    ----------
    reference : Reference
        The image asked for.
    manifest : ImageManifest
        The image manifest, verified.
    index : Index or None
        The index the manifest was chosen from, for a multi-platform image.
    platform : Platform or None
        The platform chosen from the index.
    token : Token
        The token used (renewed if the registry asked for it).
    exchanges : tuple of Exchange
        The HTTP exchanges that produced it, redacted, in order.
    """

    reference: Reference
    manifest: ImageManifest
    index: Index | None
    platform: Platform | None
    token: Token
    exchanges: tuple[Exchange, ...] = field(repr=False)

    @property
    def digest(self) -> Digest:
        """Digest of the image manifest (not of the index)."""
        return self.manifest.digest

    @property
    def config(self) -> Descriptor:
        """The config blob's descriptor."""
        return self.manifest.config

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        """The layer descriptors, bottom first."""
        return self.manifest.layers


def get_manifest(
    ref: Reference | str,
    *,
    token: Token | None = None,
    platform: Platform | str | None = None,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> ManifestResult:
    """Fetch ``ref``'s manifest with every Accept type; for an index, pick the ``platform`` (default: host).

    Parameters
    ----------
    ref : Reference or str
        The image, by tag or digest.
    token : Token, optional
        A token from :func:`get_token`; without one, one is obtained first.
    platform : Platform or str, optional
        The platform to pick from an index (``"linux/arm64/v8"``); default the host's.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (``endpoints``, ``insecure``, ``auth``,
        ``timeout``, ``docker_config``, ``retry``, ``transport``, ``speed_limit``, ``ca_cert``; see
        :class:`Client`). Not together with ``client``.

    Returns
    -------
    ManifestResult
        The image manifest (and the index it was chosen from), verified against its digest.

    Raises
    ------
    NoMatchingPlatform
        An index without an image for ``platform``; ``available`` lists those it has.
    VerificationError
        The manifest's bytes do not match the digest asked for.
    RegistryError
        The registry (or a box in between) answered, but not as the protocol promises: ``AuthError``,
        ``NotFound``, ``ManifestError``, ``UnexpectedResponse``.
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    ref, wanted = as_reference(ref), wanted_platform(platform)  # both checked before the first request
    with client_for(client, options) as session:
        return fetch_platform_manifest(Fetcher(session, ref, token=token), wanted)


def wanted_platform(platform: Platform | str | None) -> Platform:
    """The platform to choose from an index: the one given (parsed), else the host's."""
    return Platform.parse(platform) if isinstance(platform, str) else platform or Platform.host()


def fetch_platform_manifest(fetcher: Fetcher, wanted: Platform) -> ManifestResult:
    """:func:`get_manifest` through a fetcher; the result's exchanges are the manifests' (the token's are the
    fetcher's, as the token step's), logged by the fetcher too."""
    fetcher.token()
    with fetcher.part() as part:
        top = part.fetch_manifest(fetcher.reference.identifier, fetcher.reference.digest)
        if isinstance(top, ImageManifest):
            return ManifestResult(fetcher.reference, top, None, None, part.last_token(), part.exchanges)
        chosen = top.select(wanted)
        manifest = part.fetch_image_manifest(chosen)
        return ManifestResult(fetcher.reference, manifest, top, chosen.platform, part.last_token(), part.exchanges)
