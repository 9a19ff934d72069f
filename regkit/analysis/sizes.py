"""Sizes without downloading a layer: manifests for compressed sizes, a few bytes for uncompressed ones.

- Compressed sizes are the manifest's descriptor sizes: per layer, per image, per platform of an
  index, per tag.
- Uncompressed sizes are estimated with one ``Range`` request per layer: a gzip stream ends with
  ISIZE, its uncompressed length **modulo 2³²** (wrong for layers of 4 GiB or more, and only the
  last member's for a multi-member gzip); a zstd frame header may declare its content size (only
  the first frame's); a plain tar is its own size. A registry that ignores ``Range`` (200 instead
  of 206) gives no estimate, and the body is not read.
- Sharing: a blob (by digest) used by several tags or platforms is stored once by the registry
  and downloaded once by an engine; :class:`SizeReport` tells how many bytes are shared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zstandard

from .._repr import HtmlRepr
from ..errors import UnexpectedResponse
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..oci import mediatypes as mt
from ..oci.digest import Digest
from ..oci.manifest import Descriptor, ImageManifest
from ..oci.platform import Platform
from ..oci.reference import Reference
from ..steps.fetcher import Fetcher
from .image import HistoryStep, fetch_image, layer_steps

if TYPE_CHECKING:
    import pandas as pd
    from typing_extensions import Unpack  # ~5 ms of start-up for what only the type checker reads

GZIP_TRAILER = 4  # ISIZE: the last 4 bytes of a gzip member, little-endian
GZIP_MINIMUM = 18  # header and trailer of an empty gzip member
ZSTD_HEADER = 18  # the largest zstd frame header


@dataclass(frozen=True)
class LayerSize:
    """One layer's sizes, found without downloading it.

    Attributes
    ----------
    index : int
        The layer's index.
    descriptor : Descriptor
        The layer blob (its compressed size).
    uncompressed : int or None
        Its uncompressed size, when it could be found.
    exact : bool
        True when ``uncompressed`` is exact, not an estimate.
    source : str
        How ``uncompressed`` was found, or why it is unknown.
    """

    index: int
    descriptor: Descriptor
    uncompressed: int | None
    exact: bool
    source: str  # how ``uncompressed`` was found, or why it is unknown

    @property
    def compressed(self) -> int:
        """Bytes stored in the registry."""
        return self.descriptor.size


@dataclass(frozen=True)
class LayerSizes(HtmlRepr):
    """Per-layer sizes and build steps of one image, from the manifest, the config and Range requests.

    Attributes
    ----------
    reference : Reference
        The image.
    manifest_digest : Digest
        Its manifest's digest.
    platform : Platform or None
        The platform chosen from an index.
    layers : tuple of LayerSize
        Each layer's sizes.
    history : tuple of HistoryStep
        The build steps.
    exchanges : tuple of Exchange
        The HTTP exchanges that produced it, redacted, in order.
    """

    reference: Reference
    manifest_digest: Digest
    platform: Platform | None
    layers: tuple[LayerSize, ...]
    history: tuple[HistoryStep, ...]
    exchanges: tuple[Exchange, ...]

    @property
    def compressed_size(self) -> int:
        """Bytes of the layers in the registry."""
        return sum(layer.compressed for layer in self.layers)

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready row per layer.

        Returns
        -------
        list of dict
            Bottom layer first: ``index``, ``digest``, ``compression`` (``unknown`` for a media type regkit
            does not know), ``compressed_size``, ``uncompressed_size`` (None when unknown), ``exact``,
            ``source`` and ``created_by`` (the build step, empty when the history does not say).
        """
        steps = layer_steps(self.history)
        return [
            {
                "index": layer.index,
                "digest": str(layer.descriptor.digest),
                "compression": mt.layer_compression(layer.descriptor.media_type) or "unknown",
                "compressed_size": layer.compressed,
                "uncompressed_size": layer.uncompressed,
                "exact": layer.exact,
                "source": layer.source,
                "created_by": steps.get(layer.index, ""),
            }
            for layer in self.layers
        ]

    def frame(self) -> pd.DataFrame:
        """The layers as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per layer, the columns of :meth:`rows`.
        """
        import pandas as pd

        return pd.DataFrame.from_records(self.rows())


def byte_range(fetcher: Fetcher, blob: Descriptor, start: int, length: int) -> bytes | None:
    """``length`` bytes of a blob from ``start`` with a ``Range`` request; None if the server ignores Range."""
    last = start + length - 1
    response = fetcher.open_blob(blob, f"{start}-{last}")
    try:
        if response.status != 206:
            response.exchange.note = f"{response.exchange.note} Range ignored: body not read".strip()
            return None
        expected = f"bytes {start}-{last}/{blob.size}"
        sent = (response.exchange.header("content-range") or "").strip()
        data = response.read(length, "a byte range")
        if sent != expected or len(data) != length:
            raise UnexpectedResponse(
                f"asked blob {blob.digest} for {expected} and got Content-Range {sent!r} with {len(data)} bytes",
                exchange=response.exchange,
            )
        return data
    finally:
        response.close()


def estimate_layer(fetcher: Fetcher, layer: Descriptor, index: int = 0) -> LayerSize:
    """A layer's uncompressed size from at most one small ``Range`` request (see the module docstring)."""
    compression = mt.layer_compression(layer.media_type)
    if compression == mt.TAR:
        return LayerSize(index, layer, layer.size, True, "the blob is the tar")
    if compression == mt.GZIP and layer.size >= GZIP_MINIMUM:
        tail = byte_range(fetcher, layer, layer.size - GZIP_TRAILER, GZIP_TRAILER)
        if tail is None:
            return LayerSize(index, layer, None, False, "the registry ignored Range")
        return LayerSize(index, layer, int.from_bytes(tail, "little"), False, "gzip ISIZE (modulo 4 GiB)")
    if compression == mt.ZSTD:
        head = byte_range(fetcher, layer, 0, min(ZSTD_HEADER, layer.size))
        if head is None:
            return LayerSize(index, layer, None, False, "the registry ignored Range")
        try:
            declared = zstandard.frame_content_size(head)
        except zstandard.ZstdError:
            declared = -1
        if declared < 0:
            return LayerSize(index, layer, None, False, "the zstd frame does not declare its size")
        return LayerSize(index, layer, declared, False, "zstd frame header (first frame)")
    return LayerSize(index, layer, None, False, f"cannot estimate a {layer.media_type} layer")


def layer_sizes(
    ref: Reference | str,
    *,
    platform: Platform | str | None = None,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> LayerSizes:
    """Per-layer sizes and build steps of ``ref`` without downloading a layer: manifest, config, Range.

    Parameters
    ----------
    ref : Reference or str
        The image.
    platform : Platform or str, optional
        The platform to pick from an index; default the host's.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (see :class:`~regkit.Client`); not
        together with ``client``.

    Returns
    -------
    LayerSizes
        Each layer's compressed size and, where a Range request could read it, its uncompressed size.

    Raises
    ------
    RegistryError
        The registry answered, but not as the protocol promises (``AuthError``, ``NotFound``, …).
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    ref = as_reference(ref)
    exchanges: list[Exchange] = []
    with client_for(client, options) as session:
        manifest, _, history = fetch_image(session, ref, platform, exchanges)
        fetcher = Fetcher(session, ref, token=manifest.token)
        layers = tuple(estimate_layer(fetcher, layer, i) for i, layer in enumerate(manifest.layers))
    exchanges.extend(fetcher.exchanges)
    return LayerSizes(ref, manifest.digest, manifest.platform, layers, history, tuple(exchanges))


@dataclass(frozen=True)
class ImageSize:
    """The compressed size of one image (one platform of a reference).

    Attributes
    ----------
    reference : Reference
        The image.
    platform : Platform or None
        Its platform, for an entry of an index.
    manifest : ImageManifest
        Its manifest (config and layer sizes).
    """

    reference: Reference
    platform: Platform | None
    manifest: ImageManifest

    @property
    def compressed_size(self) -> int:
        """Config and layers as stored in the registry."""
        return self.manifest.total_size

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        """The config and the layers."""
        return (self.manifest.config, *self.manifest.layers)

    @property
    def label(self) -> str:
        """``reference`` or ``reference platform``."""
        return f"{self.reference} {self.platform}" if self.platform else str(self.reference)


@dataclass(frozen=True)
class SizeReport(HtmlRepr):
    """Compressed sizes of several references and every platform they hold.

    Attributes
    ----------
    images : tuple of ImageSize
        One per reference and platform.
    exchanges : tuple of Exchange
        The HTTP exchanges that produced it, redacted, in order.
    """

    images: tuple[ImageSize, ...]
    exchanges: tuple[Exchange, ...]

    def users(self) -> dict[Digest, tuple[Descriptor, list[ImageSize]]]:
        """Each distinct blob (configs and layers) and the images that use it.

        Returns
        -------
        dict of Digest to (Descriptor, list of ImageSize)
            Per digest, the blob and each image using it (once, even if it uses the blob twice).
        """
        found: dict[Digest, tuple[Descriptor, list[ImageSize]]] = {}
        for image in self.images:
            for blob in {b.digest: b for b in image.blobs}.values():  # a layer used twice counts once
                found.setdefault(blob.digest, (blob, []))[1].append(image)
        return found

    @property
    def total_bytes(self) -> int:
        """Every image's compressed size added up, as if nothing were shared."""
        return sum(image.compressed_size for image in self.images)

    @property
    def distinct_bytes(self) -> int:
        """Bytes of the distinct blobs: what the registry stores and a pull of everything downloads."""
        return sum(blob.size for blob, _ in self.users().values())

    @property
    def shared_bytes(self) -> int:
        """What sharing saves: total minus distinct."""
        return self.total_bytes - self.distinct_bytes

    def rows(self) -> list[dict[str, Any]]:
        """Per image: layers, compressed size, and the bytes of blobs no other image here uses.

        Returns
        -------
        list of dict
            In :attr:`images`' order: ``reference``, ``platform`` (None for a single image), ``manifest``,
            ``layers``, ``compressed_size`` and ``unique_size``.
        """
        users = self.users()
        unique: dict[str, int] = defaultdict(int)
        for blob, images in users.values():
            if len(images) == 1:
                unique[images[0].label] += blob.size
        return [
            {
                "reference": str(image.reference),
                "platform": str(image.platform) if image.platform else None,
                "manifest": str(image.manifest.digest),
                "layers": len(image.manifest.layers),
                "compressed_size": image.compressed_size,
                "unique_size": unique[image.label],
            }
            for image in self.images
        ]

    def blob_rows(self) -> list[dict[str, Any]]:
        """Per distinct blob: size, media type and the images using it, most used first.

        Returns
        -------
        list of dict
            ``digest``, ``media_type``, ``size``, ``users`` (how many images) and ``images`` (their labels);
            ties by size, largest first.
        """
        rows = [
            {
                "digest": str(blob.digest),
                "media_type": blob.media_type,
                "size": blob.size,
                "users": len(images),
                "images": [image.label for image in images],
            }
            for blob, images in self.users().values()
        ]
        return sorted(rows, key=lambda r: (-r["users"], -r["size"]))

    def frame(self) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per image and platform.
        """
        import pandas as pd

        return pd.DataFrame.from_records(self.rows())

    def blob_frame(self) -> pd.DataFrame:
        """:meth:`blob_rows` as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per distinct blob, most used first.
        """
        import pandas as pd

        return pd.DataFrame.from_records(self.blob_rows())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary.

        Returns
        -------
        dict
            ``total_bytes``, ``distinct_bytes``, ``shared_bytes``, ``images`` (:meth:`rows`) and ``blobs``
            (:meth:`blob_rows`).
        """
        totals = {"total_bytes": self.total_bytes, "distinct_bytes": self.distinct_bytes}
        return {**totals, "shared_bytes": self.shared_bytes, "images": self.rows(), "blobs": self.blob_rows()}


def _images_of(fetcher: Fetcher) -> Iterator[ImageSize]:
    """The image of a tag, or each platform's image of an index (attestations left out)."""
    ref = fetcher.reference
    top = fetcher.fetch_manifest(ref.identifier, ref.digest)
    if isinstance(top, ImageManifest):
        yield ImageSize(ref, None, top)
        return
    for entry in top.images:
        yield ImageSize(ref, entry.platform, fetcher.fetch_image_manifest(entry))


def manifest_sizes(
    refs: Sequence[Reference | str],
    *,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> SizeReport:
    """Compressed sizes of each reference and every platform it holds, from manifests only.

    Parameters
    ----------
    refs : sequence of Reference or str
        The images.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (see :class:`~regkit.Client`); not
        together with ``client``.

    Returns
    -------
    SizeReport
        One row per image and platform.

    Raises
    ------
    RegistryError
        The registry answered, but not as the protocol promises (``AuthError``, ``NotFound``, …).
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    with client_for(client, options) as session:
        fetchers = [Fetcher(session, as_reference(ref)) for ref in refs]
        images = [image for fetcher in fetchers for image in _images_of(fetcher)]
    return SizeReport(tuple(images), tuple(exchange for fetcher in fetchers for exchange in fetcher.exchanges))
