"""Two images side by side: the layers they share (by digest) and the files their merged trees differ in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .._repr import HtmlRepr
from ..http.client import Client, ClientOptions, client_for
from ..oci.budgets import Budgets
from ..oci.manifest import Descriptor
from ..oci.platform import Platform
from ..oci.reference import Reference
from ..steps.manifest_fetch import ManifestResult, get_manifest
from .entries import FileEntry
from .image import ImageAnalysis, LayerCache, analyze

if TYPE_CHECKING:
    import pandas as pd
    from typing_extensions import Unpack  # ~5 ms of start-up for what only the type checker reads

# Rebuilding an image changes every mtime; comparing them by default would hide the real changes.
DEFAULT_IGNORE = ("mtime",)


class FileDifference(NamedTuple):
    """One path that differs between two images.

    Attributes
    ----------
    path : str
        The path in the merged trees.
    change : str
        ``added``, ``removed`` or ``changed`` (from left to right).
    fields : tuple of str
        For a change: what differs (``size``, ``mode``, ``content``, …).
    left, right : FileEntry or None
        The entry in each image, None where there is none.
    left_layer, right_layer : int or None
        The layer each entry comes from.
    """

    path: str
    change: str
    fields: tuple[str, ...]
    left: FileEntry | None
    right: FileEntry | None
    left_layer: int | None
    right_layer: int | None


@dataclass(frozen=True)
class ImageComparison(HtmlRepr):
    """Two images side by side: their manifests and, when files were compared, each path that differs.

    Attributes
    ----------
    left, right : ManifestResult
        The two images' manifests.
    differences : tuple of FileDifference or None
        Each path that differs; None when only the manifests were compared.
    """

    left: ManifestResult
    right: ManifestResult
    differences: tuple[FileDifference, ...] | None  # None: manifests only, files not compared

    @property
    def shared_layers(self) -> tuple[Descriptor, ...]:
        """Left's layers that right has too (same digest: same bytes)."""
        right = {layer.digest for layer in self.right.layers}
        return tuple(layer for layer in self.left.layers if layer.digest in right)

    @property
    def shared_bytes(self) -> int:
        """Compressed bytes of the shared layers (counted once)."""
        return sum({layer.digest: layer.size for layer in self.shared_layers}.values())

    def layer_rows(self) -> list[dict[str, Any]]:
        """Every distinct layer of both images with its position in each (None where absent).

        Returns
        -------
        list of dict
            Left's layers in order, then right's own: ``digest``, ``size``, ``left`` and ``right`` (the first
            index of the layer in each image, from 0 at the bottom).
        """
        rows: dict[str, dict[str, Any]] = {}
        for side, manifest in (("left", self.left), ("right", self.right)):
            for index, layer in enumerate(manifest.layers):
                row = rows.setdefault(
                    str(layer.digest), {"digest": str(layer.digest), "size": layer.size, "left": None, "right": None}
                )
                if row[side] is None:
                    row[side] = index
        return list(rows.values())

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready row per differing path.

        Returns
        -------
        list of dict
            In path order: ``path``, ``change`` (``added``, ``removed`` or ``changed``), ``fields`` (those that
            differ), ``left_size``, ``right_size``, ``left_layer`` and ``right_layer`` (None on the side without
            it); empty when the files were not compared.
        """
        return [
            {
                "path": d.path,
                "change": d.change,
                "fields": list(d.fields),
                "left_size": d.left.size if d.left else None,
                "right_size": d.right.size if d.right else None,
                "left_layer": d.left_layer,
                "right_layer": d.right_layer,
            }
            for d in self.differences or ()
        ]

    def frame(self) -> pd.DataFrame:
        """The differing paths as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            The columns of :meth:`rows`, even when no path differs.
        """
        import pandas as pd

        columns = ["path", "change", "fields", "left_size", "right_size", "left_layer", "right_layer"]
        return pd.DataFrame.from_records(self.rows(), columns=columns)

    def layer_frame(self) -> pd.DataFrame:
        """The layers of both images side by side.

        Returns
        -------
        pandas.DataFrame
            One row per distinct layer, the columns of :meth:`layer_rows`.
        """
        import pandas as pd

        return pd.DataFrame.from_records(self.layer_rows())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary.

        Returns
        -------
        dict
            Each side's reference and manifest digest, ``shared_layers``, ``shared_bytes``, ``layers``
            (:meth:`layer_rows`) and ``differences`` (:meth:`rows`; None when the files were not compared).
        """
        return {
            "left": {"reference": str(self.left.reference), "manifest": str(self.left.digest)},
            "right": {"reference": str(self.right.reference), "manifest": str(self.right.digest)},
            "shared_layers": len(self.shared_layers),
            "shared_bytes": self.shared_bytes,
            "layers": self.layer_rows(),
            "differences": self.rows() if self.differences is not None else None,
        }


def _tree(analysis: ImageAnalysis) -> dict[str, tuple[FileEntry, int]]:
    return {path: (node.entry, node.layer) for path, node in analysis.filesystem.walk()}


def compare(left: ImageAnalysis, right: ImageAnalysis, *, ignore: Iterable[str] = DEFAULT_IGNORE) -> ImageComparison:
    """The layers two analysed images share and the paths whose entries differ (fields in ``ignore`` aside).

    Parameters
    ----------
    left, right : ImageAnalysis
        The two analyses.
    ignore : iterable of str, optional
        :class:`FileEntry` fields not to compare (default: the modification time).

    Returns
    -------
    ImageComparison
        Both manifests and every path that differs.

    Raises
    ------
    RegkitError
        Never for analyses :func:`analyze` made (no I/O); listed for completeness.
    """
    skipped = set(ignore) | {"path"}
    fields = [name for name in FileEntry._fields if name not in skipped]
    a, b = _tree(left), _tree(right)
    differences = []
    differing: tuple[str, ...]
    for path in sorted(a.keys() | b.keys()):
        (old, old_layer), (new, new_layer) = a.get(path, (None, None)), b.get(path, (None, None))
        if old is None or new is None:
            change, differing = ("added" if old is None else "removed"), ()
        else:
            change, differing = "changed", tuple(f for f in fields if getattr(old, f) != getattr(new, f))
            if not differing:
                continue
        differences.append(FileDifference(path, change, differing, old, new, old_layer, new_layer))
    return ImageComparison(left.manifest, right.manifest, tuple(differences))


def compare_images(
    left: Reference | str,
    right: Reference | str,
    *,
    platform: Platform | str | None = None,
    files: bool = True,
    client: Client | None = None,
    budgets: Budgets | None = None,
    **options: Unpack[ClientOptions],
) -> ImageComparison:
    """Compare two images; with ``files`` their layers are streamed (shared ones once, within ``budgets``).

    Parameters
    ----------
    left, right : Reference or str
        The two images.
    platform : Platform or str, optional
        The platform to pick from an index; default the host's.
    files : bool, default True
        Compare the files too; False compares manifests and configs only (no layer is read).
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    budgets : Budgets, optional
        Bounds what the layers may cost when read (the defaults are far above any real image).
    **options : ClientOptions
        Settings for a client made for this call and closed after it (see :class:`~regkit.Client`); not
        together with ``client``.

    Returns
    -------
    ImageComparison
        Both manifests and, with ``files``, every file that differs.

    Raises
    ------
    VerificationError
        A layer's bytes do not match its digest, or a budget is exceeded (``BudgetExceeded``).
    RegistryError
        The registry answered, but not as the protocol promises (``AuthError``, ``NotFound``, …).
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    with client_for(client, options) as session:
        if not files:
            return ImageComparison(
                get_manifest(left, platform=platform, client=session),
                get_manifest(right, platform=platform, client=session),
                None,
            )
        cache: LayerCache = {}
        return compare(
            analyze(left, platform=platform, client=session, cache=cache, budgets=budgets),
            analyze(right, platform=platform, client=session, cache=cache, budgets=budgets),
        )
