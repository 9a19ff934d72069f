"""Charts of an analysis as matplotlib Figures: imported on use, never shown (Jupyter displays a returned Figure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..analysis.image import ImageAnalysis

LABEL_WIDTH = 60
_SERIES = (
    ("added", "added_bytes", "#2a9d55"),
    ("modified", "modified_bytes", "#e0a526"),
    ("deleted", "deleted_bytes", "#c8374a"),
)


def _label(path: str) -> str:
    """A path as a tick label: shortened from the left, and ``$`` escaped (matplotlib reads ``$…$`` as math)."""
    short = path if len(path) <= LABEL_WIDTH else "…" + path[-(LABEL_WIDTH - 1) :]
    return short.replace("$", r"\$")


def changes_chart(analysis: ImageAnalysis) -> Figure:
    """Bytes each layer added, modified and deleted, as grouped bars."""
    from matplotlib.figure import Figure

    from .charts import human_axis

    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(_SERIES)
    positions = range(len(analysis.changes))
    for offset, (label, field, color) in enumerate(_SERIES):
        values = [getattr(change, field) for change in analysis.changes]
        axes.bar([i + (offset - 1) * width for i in positions], values, width, label=label, color=color)
    axes.set_xticks(list(positions), [str(i) for i in positions])
    axes.set_xlabel("layer")
    human_axis(axes)
    axes.set_title(_label(f"What each layer of {analysis.reference} changes"))
    axes.legend()
    return figure


def largest_chart(analysis: ImageAnalysis, *, top: int = 15, directories: bool = False) -> Figure:
    """The ``top`` largest files of the merged tree, or directories (everything below them), as bars."""
    from matplotlib.figure import Figure

    from .charts import human_axis

    if directories:
        # The root holds everything: it would dwarf the directories worth seeing.
        sizes = [(path, size) for path, (size, _) in analysis.filesystem.directory_sizes().items() if path != "/"]
        largest = sorted(sizes, key=lambda item: (-item[1], item[0]))[:top]
    else:
        largest = [(path, node.entry.size) for path, node in analysis.filesystem.largest(top)]
    figure = Figure(figsize=(8, 0.6 + 0.3 * max(len(largest), 1)), layout="constrained")
    axes = figure.subplots()
    axes.barh([_label(path) for path, _ in reversed(largest)], [size for _, size in reversed(largest)])
    human_axis(axes, "x")
    axes.set_title(f"Largest {'directories' if directories else 'files'} of the final image")
    return figure
