"""Layer analysis straight from the registry, no engine: what each layer holds, what it costs, what is wasted.

- :func:`analyze` streams every layer once (nothing stored) into an :class:`ImageAnalysis`: per
  layer sizes and file lists, the merged tree with whiteouts applied, per-layer changes, wasted
  bytes and an efficiency score (defined in :mod:`regkit.analysis.filesystem`);
- :func:`layer_sizes` and :func:`manifest_sizes` size layers, platforms and tags without
  downloading a layer; :func:`compare_images` puts two images side by side;
- :func:`compare_pulls`, :func:`proxy_latency` and :func:`upstream_costs` (:mod:`.costs`) put what
  pulls cost side by side: time and throughput, a proxy's added wait, what a mirror sent upstream;
- :func:`compare_dialects` (:mod:`.dialects`) puts the same pull from several registries side by side;
- :func:`export` writes the merged tree into a directory and refuses anything that could leave it;
- :mod:`regkit.display.analysis_charts` draws the changes and the largest files as matplotlib Figures.

pandas and matplotlib are imported only by the methods that return their objects; the HTML and the
charts are in :mod:`regkit.display` (``analysis_html``, ``analysis_charts``).

May import :mod:`regkit.steps`, :mod:`regkit.http`, :mod:`regkit.oci` and :mod:`regkit.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._public import public

if TYPE_CHECKING:
    from .compare import FileDifference, ImageComparison, compare, compare_images
    from .costs import ProxyLatency, PullComparison, UpstreamCosts, compare_pulls, proxy_latency, upstream_costs
    from .dialects import DialectComparison, DialectRow, compare_dialects
    from .entries import FileEntry
    from .export import ExportResult, export, problems
    from .filesystem import Filesystem, LayerChange, Unsafe, Waste
    from .image import HistoryStep, ImageAnalysis, analyze, analyze_layer
    from .layers import LayerReport
    from .sizes import ImageSize, LayerSize, LayerSizes, SizeReport, layer_sizes, manifest_sizes

# Loaded at once, not lazily: ``compare`` and ``export`` are also submodules' names, and a submodule
# imported first (by the display layer, say) would otherwise stand where the function belongs.
_EXPORTS = {
    "FileDifference": ".compare",
    "ImageComparison": ".compare",
    "compare": ".compare",
    "compare_images": ".compare",
    "ProxyLatency": ".costs",
    "PullComparison": ".costs",
    "UpstreamCosts": ".costs",
    "compare_pulls": ".costs",
    "proxy_latency": ".costs",
    "upstream_costs": ".costs",
    "DialectComparison": ".dialects",
    "DialectRow": ".dialects",
    "compare_dialects": ".dialects",
    "ExportResult": ".export",
    "export": ".export",
    "problems": ".export",
    "Filesystem": ".filesystem",
    "LayerChange": ".filesystem",
    "Unsafe": ".filesystem",
    "Waste": ".filesystem",
    "HistoryStep": ".image",
    "ImageAnalysis": ".image",
    "analyze": ".image",
    "analyze_layer": ".image",
    "FileEntry": ".entries",
    "LayerReport": ".layers",
    "ImageSize": ".sizes",
    "LayerSize": ".sizes",
    "LayerSizes": ".sizes",
    "SizeReport": ".sizes",
    "layer_sizes": ".sizes",
    "manifest_sizes": ".sizes",
}
__all__, __getattr__, __dir__ = public(__name__, _EXPORTS, eager=_EXPORTS)
