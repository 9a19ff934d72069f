"""``analyze``: every layer of an image streamed once, the merged tree, its waste and its history."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._repr import HtmlRepr
from ..errors import InvalidOption, VerificationError
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..oci.budgets import Budgets, Meter
from ..oci.digest import Digest, Verifier
from ..oci.manifest import Descriptor, check_config_size, config_diff_ids, parse_config
from ..oci.platform import Platform
from ..oci.reference import Reference
from ..steps.auth import Token
from ..steps.fetcher import Fetcher
from ..steps.manifest_fetch import ManifestResult, fetch_platform_manifest, wanted_platform
from ..storage.cache import cached_blob, cached_chunks, explicit_cache
from . import listings, merged
from .ahead import listed_ahead
from .entries import Entries
from .filesystem import Filesystem, LayerChange, Unsafe, Waste
from .layers import LayerReport, duplicates, frame_of, read_layer
from .merged import LayerCost, Merged

if TYPE_CHECKING:
    import pandas as pd
    from typing_extensions import Unpack  # ~5 ms of start-up for what only the type checker reads

# Reports of layers already read, by digest: the same blob lists the same entries in any image.
LayerCache = dict[Digest, LayerReport]


@dataclass(frozen=True)
class HistoryStep:
    """One entry of the image config's history: a build step, with the layer it made (if any).

    Attributes
    ----------
    created : str
        When the step ran (RFC 3339), if recorded.
    created_by : str
        The command (``RUN …``, ``COPY …``).
    comment : str
        The step's comment.
    empty_layer : bool
        True when the step made no layer (``ENV``, ``CMD``, …).
    layer : int or None
        The index of the layer it made.
    """

    created: str
    created_by: str
    comment: str
    empty_layer: bool
    layer: int | None


@dataclass(frozen=True)
class ImageAnalysis(HtmlRepr):
    """Everything :func:`analyze` learned about one image, without storing a layer.

    Attributes
    ----------
    reference : Reference
        The image.
    manifest : ManifestResult
        The manifest step's result.
    config : dict
        The image config.
    history : tuple of HistoryStep
        The build steps.
    layers : tuple of LayerReport
        Each layer's listing.
    merged : Merged
        What merging the layers gave: each layer's changes, the waste, unsafe entries, duplicates.
    seconds : float
        The time it took.
    exchanges : tuple of Exchange
        The HTTP exchanges that produced it, redacted, in order.
    """

    reference: Reference
    manifest: ManifestResult
    config: dict[str, Any]
    history: tuple[HistoryStep, ...]
    layers: tuple[LayerReport, ...]
    merged: Merged
    seconds: float
    exchanges: tuple[Exchange, ...]

    @cached_property
    def filesystem(self) -> Filesystem:
        """The merged tree, made from the layers' listings when first asked for (not kept by :func:`analyze`).

        A tree of 600,000 paths takes more memory than the listings themselves, and the results above
        (changes, waste, duplicates) do not need it: only :meth:`files`, :meth:`directories`, export
        and compare do.
        """
        tree = Filesystem()
        for layer in self.layers:
            tree.apply(layer.index, layer.entries)
        return tree

    @property
    def changes(self) -> tuple[LayerChange, ...]:
        """Per layer, what it added, modified and deleted in the tree beneath it."""
        return self.merged.changes

    @property
    def waste(self) -> tuple[Waste, ...]:
        """Every file whose bytes a higher layer overwrote or deleted, largest first."""
        return tuple(sorted(self.merged.waste, key=lambda w: (-w.size, w.path)))

    @property
    def unsafe(self) -> tuple[Unsafe, ...]:
        """Entries with absolute paths, ``..`` or NUL: listed, left out of the tree, refused by export."""
        return self.merged.unsafe

    @property
    def compressed_size(self) -> int:
        """Bytes of the layers as stored in the registry."""
        return sum(layer.compressed_size for layer in self.layers)

    @property
    def uncompressed_size(self) -> int:
        """Bytes of the layer tars."""
        return sum(layer.uncompressed_size for layer in self.layers)

    @property
    def written_bytes(self) -> int:
        """Regular-file bytes of all layers (see :mod:`regkit.analysis.filesystem`)."""
        return self.merged.written_bytes

    @property
    def wasted_bytes(self) -> int:
        """Bytes of files overwritten or deleted by a higher layer."""
        return sum(w.size for w in self.merged.waste)

    @property
    def final_bytes(self) -> int:
        """Regular-file bytes of the merged tree."""
        return self.written_bytes - self.wasted_bytes

    @property
    def efficiency(self) -> float:
        """``1 - wasted / written``: the share of written bytes the final image shows (1.0 if none)."""
        return 1.0 - self.wasted_bytes / self.written_bytes if self.written_bytes else 1.0

    def duplicates(self) -> list[tuple[str, int, list[tuple[int, str]]]]:
        """Contents stored more than once across all layers, largest saving first.

        Returns
        -------
        list of tuple
            ``(sha256, size, [(layer, path), …])`` per content, its places in layer and tar order.
        """
        return self.merged.duplicates

    def files(self) -> pd.DataFrame:
        """The merged tree as a DataFrame; ``layer`` is where each path comes from.

        Returns
        -------
        pandas.DataFrame
            One row per path (``COLUMNS`` of :mod:`regkit.analysis.layers`), parents before children.
        """
        return frame_of(self.filesystem.rows())

    def all_files(self) -> pd.DataFrame:
        """Every entry of every layer (whiteouts and overwritten files included).

        Returns
        -------
        pandas.DataFrame
            One row per tar member, layer by layer, made from the listings' columns.
        """
        import pandas as pd

        frames = [layer.frame() for layer in self.layers]
        return pd.concat(frames, ignore_index=True) if frames else frame_of([])

    def directories(self) -> pd.DataFrame:
        """Content bytes and regular files below each directory of the merged tree, largest first.

        Returns
        -------
        pandas.DataFrame
            Columns ``path``, ``size`` and ``files``; the root is ``/``.
        """
        import pandas as pd

        rows = [(path, size, count) for path, (size, count) in self.filesystem.directory_sizes().items()]
        frame = pd.DataFrame.from_records(rows, columns=["path", "size", "files"])
        return frame.sort_values(["size", "path"], ascending=[False, True], ignore_index=True)

    def layer_frame(self) -> pd.DataFrame:
        """One row per layer: sizes, entry counts, changes to the tree, the step that made it.

        Returns
        -------
        pandas.DataFrame
            The layers bottom first.
        """
        import pandas as pd

        return pd.DataFrame.from_records(list(self._layer_rows()))

    def waste_frame(self) -> pd.DataFrame:
        """The wasted files (path, size, layer, removed_in, how), largest first.

        Returns
        -------
        pandas.DataFrame
            One row per :class:`~regkit.analysis.filesystem.Waste`.
        """
        import pandas as pd

        return pd.DataFrame.from_records(list(self.waste), columns=list(Waste._fields))

    def history_frame(self) -> pd.DataFrame:
        """The config's history, empty-layer steps included, with the layer each step made.

        Returns
        -------
        pandas.DataFrame
            One row per :class:`HistoryStep`.
        """
        import pandas as pd

        return pd.DataFrame.from_records([vars(step) for step in self.history])

    def _layer_rows(self) -> Iterator[dict[str, Any]]:
        for layer, change in zip(self.layers, self.merged.changes, strict=True):
            row = layer.summary()
            row.update({k: v for k, v in vars(change).items() if k != "layer"})
            yield row

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: sizes, efficiency, layers with their changes, waste, duplicates, unsafe entries.

        Returns
        -------
        dict
            Plain values only (what ``regkit analyze --json`` prints, without the checks).
        """
        return {
            "reference": str(self.reference),
            "manifest": str(self.manifest.digest),
            "platform": str(self.manifest.platform) if self.manifest.platform else None,
            "config": str(self.manifest.config.digest),
            "compressed_size": self.compressed_size,
            "uncompressed_size": self.uncompressed_size,
            "written_bytes": self.written_bytes,
            "final_bytes": self.final_bytes,
            "wasted_bytes": self.wasted_bytes,
            "efficiency": self.efficiency,
            "layers": list(self._layer_rows()),
            "history": [vars(step) for step in self.history],
            "waste": [w._asdict() for w in self.waste],
            "duplicates": [
                {"sha256": sha, "size": size, "places": [{"layer": i, "path": p} for i, p in where]}
                for sha, size, where in self.duplicates()
            ],
            "unsafe": [u._asdict() for u in self.unsafe],
        }


def read_config(
    client: Client,
    ref: Reference,
    config: Descriptor,
    token: Token,
    exchanges: list[Exchange],
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """The image config fetched into memory (or read from the blob cache), verified against its digest, parsed."""
    check_config_size(config)
    cached = cached_blob(config, cache_dir)
    if cached is None:
        fetcher = Fetcher(client, ref, token=token)
        try:
            body = fetcher.read_blob(config, "image config")
        finally:
            exchanges.extend(fetcher.exchanges)
    else:
        body = b"".join(cached_chunks(cached, config.size))
        verifier = Verifier(config.digest, config.size, "image config")
        verifier.update(body)
        verifier.check()
    return parse_config(body, config)


def history_steps(config: Mapping[str, Any], layer_count: int) -> tuple[HistoryStep, ...]:
    """The config's history, each step matched to its layer: steps marked ``empty_layer`` have none.

    Only the boolean ``true`` Docker writes marks an empty layer; any other value counts as a layer.
    """
    raw = config.get("history")
    steps = []
    next_layer = 0
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        empty = item.get("empty_layer") is True
        layer = None if empty or next_layer >= layer_count else next_layer
        next_layer += 0 if empty else 1
        text = {key: str(item.get(key) or "") for key in ("created", "created_by", "comment")}
        steps.append(HistoryStep(text["created"], text["created_by"], text["comment"], empty, layer))
    return tuple(steps)


def layer_steps(history: tuple[HistoryStep, ...]) -> dict[int, str]:
    """``{layer index: created_by}`` for the steps that made a layer."""
    return {step.layer: step.created_by for step in history if step.layer is not None}


def fetch_image(
    client: Client,
    ref: Reference,
    platform: Platform | str | None,
    exchanges: list[Exchange],
    cache_dir: Path | None = None,
) -> tuple[ManifestResult, dict[str, Any], tuple[HistoryStep, ...]]:
    """The manifest (for ``platform`` when ``ref`` is an index), its config, and the history matched to layers."""
    fetcher = Fetcher(client, ref)
    try:
        manifest = fetch_platform_manifest(fetcher, wanted_platform(platform))
    finally:
        exchanges.extend(fetcher.exchanges)
    config = read_config(client, ref, manifest.config, manifest.token, exchanges, cache_dir)
    return manifest, config, history_steps(config, len(manifest.layers))


def analyze(
    ref: Reference | str,
    *,
    platform: Platform | str | None = None,
    cache: LayerCache | None = None,
    budgets: Budgets | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> ImageAnalysis:
    """Stream every layer of ``ref`` once (none is stored) and build the merged tree and its waste.

    Layers a pull put in the blob cache are read from there. Each layer's listing is kept in the
    cache by the layer's digest, and the merged results by the chain of layers, so an image sharing
    layers with one analysed before reads them back instead of decompressing them again.

    Parameters
    ----------
    ref : Reference or str
        The image.
    platform : Platform or str, optional
        The platform to pick from an index; default the host's.
    cache : dict, optional
        Layer digest -> report already read, to skip layers shared with an image analysed before; filled
        as layers are read.
    budgets : Budgets, optional
        Bounds what the layers may cost when read (the defaults are far above any real image).
    cache_dir : str or os.PathLike, optional
        The blob cache to read blobs from and keep listings in; default
        :func:`~regkit.storage.cache.default_cache_dir`. One given that cannot be used is refused.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (see :class:`~regkit.Client`); not
        together with ``client``.

    Returns
    -------
    ImageAnalysis
        Per-layer file lists and changes, the merged tree with whiteouts applied, wasted bytes, efficiency.

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
    ref = as_reference(ref)
    root = explicit_cache(cache_dir)
    with client_for(client, options) as session:
        return analyze_with(session, ref, platform, cache, budgets, root)


def analyze_with(
    client: Client,
    ref: Reference,
    platform: Platform | str | None,
    cache: LayerCache | None,
    budgets: Budgets | None = None,
    cache_dir: Path | None = None,
) -> ImageAnalysis:
    """:func:`analyze` with a client."""
    started = time.perf_counter()
    exchanges: list[Exchange] = []
    manifest, config, history = fetch_image(client, ref, platform, exchanges, cache_dir)
    diff_ids = config_diff_ids(config, len(manifest.layers))
    steps = layer_steps(history)
    layers = list(zip(manifest.layers, diff_ids, strict=True))
    meter = Meter(budgets)
    key = merged.chain_key([(layer.digest, diff_id) for layer, diff_id in layers])
    kept = merged.load(key, cache_dir)
    if kept is not None and len(kept.layers) == len(layers):
        read_back = _kept_reports(layers, kept, meter, cache_dir)
        if read_back is not None:
            meter.paths(kept.path_bytes)
            named = tuple(replace(report, created_by=steps.get(report.index, "")) for report in read_back)
            seconds = time.perf_counter() - started
            return ImageAnalysis(ref, manifest, config, history, named, kept, seconds, tuple(exchanges))
    cache = {} if cache is None else cache
    filesystem = Filesystem(meter)
    reports: list[LayerReport] = []
    costs: list[LayerCost] = []
    unread = [(i, layer, diff_id) for i, (layer, diff_id) in enumerate(layers) if not _known(cache, layer, diff_id)]
    with listed_ahead(unread, budgets, cache_dir) as wait:
        for index, (layer, diff_id) in enumerate(layers):
            known = cache.get(layer.digest)
            if known is None or known.diff_id != diff_id:
                wait(index)
                known = listed_layer(client, ref, layer, manifest.token, index, diff_id, meter, cache_dir)
                cache[layer.digest] = known
                exchanges.extend(known.exchanges)
            else:  # read for another image: its cost still counts for this one
                meter.layer(f"layer {index} ({layer.digest})")
                meter.bytes(known.uncompressed_size)
                meter.entries(known.file_count)
            report = replace(known, index=index, created_by=steps.get(index, ""))
            filesystem.apply(index, report.entries)
            lazy = _kept(report, cache_dir)
            if lazy is not None:  # the columns go back to the cache until something asks for them
                filesystem.hold(index, lazy.entries)
                report = cache[layer.digest] = lazy
            reports.append(report)
            sizes = (report.uncompressed_size, meter.layer_bytes, report.file_count, report.regular_files)
            costs.append(LayerCost(*sizes, report.content_size))
    changes, waste, unsafe = tuple(filesystem.changes), tuple(filesystem.waste), tuple(filesystem.unsafe)
    written = filesystem.written_bytes
    del filesystem  # before the duplicates are grouped: the tree is the larger part of the peak
    results = Merged(changes, waste, unsafe, written, duplicates(reports), tuple(costs), meter.path_bytes)
    merged.save(key, results, cache_dir)
    seconds = time.perf_counter() - started
    return ImageAnalysis(ref, manifest, config, history, tuple(reports), results, seconds, tuple(exchanges))


def _kept(report: LayerReport, cache_dir: Path | None) -> LayerReport | None:
    """``report`` with its entries loaded again from the kept listing on demand; None if none is kept whole."""
    layer, diff_id, entries = report.descriptor, report.diff_id, report.entries
    if not listings.whole(layer, diff_id, cache_dir):
        return None
    counts = (len(entries), report.regular_files, report.content_size)
    return replace(report, entries=_on_demand(layer, diff_id, cache_dir, *counts))


def _kept_reports(
    layers: list[tuple[Descriptor, Digest]], kept: Merged, meter: Meter, cache_dir: Path | None
) -> tuple[LayerReport, ...] | None:
    """Reports of layers whose listings are kept, charged as reading them was; None if one is gone."""
    reports = []
    for index, ((layer, diff_id), cost) in enumerate(zip(layers, kept.layers, strict=True)):
        if not listings.whole(layer, diff_id, cache_dir):
            return None
        meter.layer(f"layer {index} ({layer.digest})")
        meter.bytes(cost.charged)
        meter.entries(cost.entries)
        entries = _on_demand(layer, diff_id, cache_dir, cost.entries, cost.files, cost.content)
        reports.append(LayerReport(index, layer, cost.uncompressed, diff_id, entries))
    return tuple(reports)


def _on_demand(
    layer: Descriptor, diff_id: Digest, cache_dir: Path | None, count: int, files: int, content: int
) -> Entries:
    """The entries of the kept listing of ``layer``, read when first needed (their counts known before)."""

    def load() -> Entries:
        listing = listings.load(layer, diff_id, cache_dir)
        if listing is None:
            path = listings.listing_path(layer.digest, cache_dir)
            raise VerificationError(
                f"the listing of layer {layer.digest} kept in {path} is gone or damaged since this analysis "
                "began: analyse the image again (the layer is read again)"
            )
        return listing.entries

    return Entries.kept(load, count, files, content)


def _known(cache: LayerCache, layer: Descriptor, diff_id: Digest) -> bool:
    known = cache.get(layer.digest)
    return known is not None and known.diff_id == diff_id


def listed_layer(
    client: Client,
    ref: Reference,
    layer: Descriptor,
    token: Token,
    index: int,
    diff_id: Digest,
    meter: Meter,
    cache_dir: Path | None = None,
) -> LayerReport:
    """Layer ``index`` listed: read back from the blob cache's listings when kept there, else streamed and kept.

    A listing read back still charges ``meter`` what reading the layer did.
    """
    kept = listings.load(layer, diff_id, cache_dir)
    if kept is not None:
        meter.layer(f"layer {index} ({layer.digest})")
        meter.bytes(kept.charged)
        meter.entries(len(kept.entries))
        return LayerReport(index, layer, kept.uncompressed, diff_id, kept.entries)
    report = read_layer(client, ref, layer, token, index=index, diff_id=diff_id, meter=meter, cache_dir=cache_dir)
    listing = listings.Listing(report.uncompressed_size, meter.layer_bytes, report.entries)
    listings.save(layer, diff_id, listing, cache_dir)
    return report


def analyze_layer(
    ref: Reference | str,
    index: int,
    *,
    platform: Platform | str | None = None,
    client: Client | None = None,
    budgets: Budgets | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    **options: Unpack[ClientOptions],
) -> LayerReport:
    """Stream only layer ``index`` (from 0, bottom first) of ``ref`` and list it, within ``budgets``.

    Parameters
    ----------
    ref : Reference or str
        The image.
    index : int
        The layer, from 0 (the bottom one).
    platform : Platform or str, optional
        The platform to pick from an index; default the host's.
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    budgets : Budgets, optional
        Bounds what the layers may cost when read (the defaults are far above any real image).
    cache_dir : str or os.PathLike, optional
        The blob cache to read blobs from and keep listings in; default
        :func:`~regkit.storage.cache.default_cache_dir`. One given that cannot be used is refused.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (see :class:`~regkit.Client`); not
        together with ``client``.

    Returns
    -------
    LayerReport
        The layer's entries, its uncompressed size and ``diff_id``.

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
    ref = as_reference(ref)
    root = explicit_cache(cache_dir)
    with client_for(client, options) as session:
        manifest, config, history = fetch_image(session, ref, platform, [], root)
        return _layer_of(session, ref, manifest, config, history, index, budgets, root)


def _layer_of(
    client: Client,
    ref: Reference,
    manifest: ManifestResult,
    config: dict[str, Any],
    history: tuple[HistoryStep, ...],
    index: int,
    budgets: Budgets | None,
    cache_dir: Path | None = None,
) -> LayerReport:
    if not 0 <= index < len(manifest.layers):
        raise InvalidOption(f"layer {index} does not exist: {ref} has {len(manifest.layers)} layers, from 0")
    diff_id = config_diff_ids(config, len(manifest.layers))[index]
    created_by = layer_steps(history).get(index, "")
    layer = manifest.layers[index]
    report = listed_layer(client, ref, layer, manifest.token, index, diff_id, Meter(budgets), cache_dir)
    return replace(report, created_by=created_by)
