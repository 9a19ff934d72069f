"""A repository's tags by layers as a matplotlib Figure: which tag reaches which layer, and how large it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..analysis.usage import RepositoryUsage

MAX_TAGS, MAX_LAYERS = 60, 60  # more is unreadable: the most shared layers and the first tags are drawn
LABEL_WIDTH = 40


def usage_matrix_chart(usage: RepositoryUsage) -> Figure:
    """Tags (rows) by layers (columns, most shared first): a filled cell is a layer the tag keeps alive,
    its shade the layer's size; the column's label says how many tags share it."""
    from matplotlib.figure import Figure

    from .html import human_size

    matrix = usage.matrix().iloc[:MAX_TAGS, :MAX_LAYERS]
    layers = usage.layer_rows()[: matrix.shape[1]]
    # Room for the rotated layer labels below and the tag names on the left, however few rows there are.
    size = (4.5 + 0.35 * max(matrix.shape[1], 1), 3.0 + 0.3 * max(matrix.shape[0], 1))
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(matrix.to_numpy(), aspect="auto", cmap="Blues", interpolation="nearest")
    axes.set_yticks(range(matrix.shape[0]), [_short(str(tag)) for tag in matrix.index], fontsize=8)
    labels = [f"{row['digest'][7:15]} ({row['users']} tags)" for row in layers]
    axes.set_xticks(range(matrix.shape[1]), labels, rotation=90, fontsize=7)
    axes.set_xlabel("layer (and how many tags share it)")
    colour = figure.colorbar(image, ax=axes)
    colour.set_label("layer size")
    colour.ax.yaxis.set_major_formatter(lambda value, _: human_size(value))
    axes.set_title(f"Which tag of {usage.reference.repository} keeps which layer".replace("$", r"\$"))
    return figure


def _short(text: str) -> str:
    """A label cut to LABEL_WIDTH, ``$`` escaped (matplotlib reads ``$…$`` as math)."""
    short = text if len(text) <= LABEL_WIDTH else text[: LABEL_WIDTH - 1] + "…"
    return short.replace("$", r"\$")
