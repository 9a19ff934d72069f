"""Step 3, ``get_manifest``: fetch, verify and (for an index) choose the platform's manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._repr import HtmlRepr
from ..errors import DigestMismatch, InvalidReference, ManifestError, SizeMismatch, VerificationError
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..http.httperrors import error_for
from ..oci import mediatypes as mt
from ..oci.digest import Digest
from ..oci.manifest import Descriptor, ImageManifest, Index, parse_manifest
from ..oci.platform import Platform
from ..oci.reference import Reference
from .auth import Token, probe_token, send_authorized
from .redirects import follow_redirects

if TYPE_CHECKING:  # typing_extensions: ~5 ms of start-up for what only the type checker reads
    from typing_extensions import Unpack

# Registries must accept at least 4 MiB manifests (distribution spec); more is not a manifest.
MAX_MANIFEST_SIZE = 4 << 20
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ManifestResult(HtmlRepr):
    """The image manifest to pull, the index it was chosen from (if any), and the exchanges."""

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
    """Fetch ``ref``'s manifest with every Accept type; for an index, pick the ``platform`` (default: host)."""
    ref, wanted = as_reference(ref), wanted_platform(platform)  # both checked before the first request
    with client_for(client, options) as session:
        return manifest_of(session, ref, token or probe_token(session, ref, []), wanted, [])


def wanted_platform(platform: Platform | str | None) -> Platform:
    """The platform to choose from an index: the one given (parsed), else the host's."""
    return Platform.parse(platform) if isinstance(platform, str) else platform or Platform.host()


def manifest_of(client: Client, ref: Reference, token: Token, wanted: Platform, log: list[Exchange]) -> ManifestResult:
    """:func:`get_manifest` with a client and a token; its exchanges are the result's, and are appended to ``log``."""
    exchanges: list[Exchange] = []
    try:
        top, token = fetch_manifest(client, ref, ref.identifier, ref.digest, token, exchanges)
        if isinstance(top, ImageManifest):
            return ManifestResult(ref, top, None, None, token, tuple(exchanges))
        chosen = top.select(wanted)
        manifest, token = fetch_image_manifest(client, ref, chosen, token, exchanges)
        return ManifestResult(ref, manifest, top, chosen.platform, token, tuple(exchanges))
    finally:
        log.extend(exchanges)


def fetch_image_manifest(
    client: Client, ref: Reference, entry: Descriptor, token: Token, exchanges: list[Exchange]
) -> tuple[ImageManifest, Token]:
    """The image manifest an index entry points to, verified against the entry."""
    manifest, token = fetch_manifest(client, ref, str(entry.digest), entry.digest, token, exchanges, entry)
    if not isinstance(manifest, ImageManifest):
        raise ManifestError(f"index entry {entry.digest} is itself an index; nested indexes are not supported")
    return manifest, token


def fetch_manifest(
    client: Client,
    ref: Reference,
    identifier: str,
    expected: Digest | None,
    token: Token,
    exchanges: list[Exchange],
    descriptor: Descriptor | None = None,
) -> tuple[ImageManifest | Index, Token]:
    """GET one manifest, verify it against ``expected`` and ``Docker-Content-Digest``, and parse it."""
    url, meant = client.registry_url(ref, f"manifests/{identifier}")
    accept = {"Accept": ", ".join(mt.ACCEPT_MANIFESTS)}
    response, token = send_authorized(client, "manifest", ref, token, "GET", url, meant, accept, exchanges)
    what = f"manifest {ref.repository}:{identifier}"
    # Registries and mirrors may redirect a manifest GET (to storage); followed like blobs, no token.
    registry_answer = response
    response = follow_redirects(client, "manifest", what, ref, response, accept, exchanges)
    if response.status != 200:
        sent = token.credentials_sent if response is registry_answer else None
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
    return parsed, token


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
