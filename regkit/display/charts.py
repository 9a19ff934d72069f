"""matplotlib charts: layer sizes, the download waterfall and throughput, a repository's tags by layers
(:mod:`.usage_charts`); each returns a Figure.

Figures are built without pyplot, so nothing is shown or kept behind the caller's back: a notebook
displays the returned Figure (``%matplotlib inline``), a script saves it with ``savefig``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from .html import human_size
from .timeline import Timeline, end_of
from .usage_charts import usage_matrix_chart as usage_matrix_chart  # one place for lessons: regkit.charts

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..http.exchange import Exchange
    from ..oci.manifest import Descriptor

# One colour per pull step, as a browser's network panel colours by resource type.
STEP_COLOURS = {"token": "#8e44ad", "manifest": "#2471a3", "blob": "#239b56"}
OTHER_COLOUR = "#7f8c8d"
_SAMPLES = 400  # points of the throughput curve
_UNITS = ("B", "KiB", "MiB", "GiB")
_LABEL_GAP = 0.04  # share of the time axis a status label needs


def _colour(step: str) -> str:
    return STEP_COLOURS.get(step, OTHER_COLOUR)


def lanes(exchanges: Sequence[Exchange]) -> list[int]:
    """A lane for each exchange: requests that overlap in time get different lanes, reused once free."""
    free_at: list[float] = []  # per lane, when its last exchange ended
    assigned = [0] * len(exchanges)
    for i in sorted(range(len(exchanges)), key=lambda i: exchanges[i].started):
        start = exchanges[i].started
        lane = next((n for n, end in enumerate(free_at) if end <= start), len(free_at))
        if lane == len(free_at):
            free_at.append(0.0)
        free_at[lane] = end_of(exchanges[i])
        assigned[i] = lane
    return assigned


def _unit(largest: float) -> tuple[float, str]:
    """The binary unit to show values up to ``largest`` bytes in, and its size in bytes."""
    power = 0
    while power < len(_UNITS) - 1 and largest >= 1024 ** (power + 1):
        power += 1
    return 1024.0**power, _UNITS[power]


def human_axis(axes: Axes, axis: str = "y", suffix: str = "") -> None:
    """Ticks of a byte axis at round numbers of one binary unit (``0, 2, 4 MiB``); call it after plotting."""
    target = axes.yaxis if axis == "y" else axes.xaxis
    low, high = axes.get_ylim() if axis == "y" else axes.get_xlim()
    scale, unit = _unit(max(abs(low), abs(high)))
    ticks = MaxNLocator(nbins=6).tick_values(low / scale, high / scale)
    target.set_major_locator(FixedLocator([tick * scale for tick in ticks]))
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value / scale:g} {unit}{suffix}"))


def size_bars(labels: Sequence[str], sizes: Sequence[int], title: str = "Sizes") -> Figure:
    """A bar per label, heights in human units (KiB, MiB) and written on each bar."""
    figure = Figure(figsize=(max(4.0, 0.9 * len(labels) + 2), 3.2), layout="constrained")
    axes = figure.subplots()
    bars = axes.bar(range(len(sizes)), sizes, color=STEP_COLOURS["blob"])
    axes.bar_label(bars, labels=[human_size(s) for s in sizes], fontsize=8)
    axes.set_xticks(range(len(labels)), labels, fontsize=8)
    axes.set_title(title)
    axes.margins(y=0.15)
    human_axis(axes)
    return figure


def layer_sizes(layers: Sequence[Descriptor], title: str = "Compressed layer sizes") -> Figure:
    """The compressed size of each layer, bottom layer first."""
    labels = [f"{i}\n{layer.digest.short[:8]}" for i, layer in enumerate(layers)]
    return size_bars(labels, [layer.size for layer in layers], title)


def _time_axis(axes: Axes, timeline: Timeline) -> None:
    """Label the x axis in protocol milliseconds and mark each idle gap cut out of it as a hatched break."""
    for cut in timeline.breaks:
        left, right = cut.at * 1000, (cut.at + cut.width) * 1000
        axes.axvspan(left, right, facecolor="none", edgecolor=OTHER_COLOUR, hatch="///", linewidth=0, gid="idle-break")
        axes.text(
            (left + right) / 2,
            1.0,
            f"{cut.idle:.0f} s idle" if cut.idle >= 10 else f"{cut.idle:.1f} s idle",
            transform=axes.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7,
            color=OTHER_COLOUR,
        )
    if timeline.cuts:
        axes.set_xlabel("ms of request time since the first request (hatched: idle time cut out)")
    else:
        axes.set_xlabel("ms since the first request")


def waterfall(exchanges: Sequence[Exchange], title: str = "Download waterfall") -> Figure:
    """Each request as a bar over time, one lane per concurrent request, coloured by step.

    The pale part is the wait for the response headers, the solid part the body arriving. Time with
    no request in flight for more than a second (a reader between notebook cells) is cut out of the
    axis and shown as a hatched break labelled with its length: the axis spans request time only.
    """
    placed = lanes(exchanges)
    timeline = Timeline.of(exchanges)
    span = max((timeline(end_of(e)) for e in exchanges), default=0.0) * 1000
    labelled: dict[int, float] = {}  # per lane, where its last status label starts
    figure = Figure(figsize=(9, 1.2 + 0.45 * (max(placed, default=0) + 1)), layout="constrained")
    axes = figure.subplots()
    for exchange, lane in zip(exchanges, placed, strict=True):
        start = timeline(exchange.started) * 1000
        wait = (exchange.time_to_headers or 0.0) * 1000
        total = (end_of(exchange) - exchange.started) * 1000
        colour = _colour(exchange.step)
        axes.barh(lane, wait, left=start, height=0.6, color=colour, alpha=0.35)
        axes.barh(lane, total - wait, left=start + wait, height=0.6, color=colour)
        if start - labelled.get(lane, -span) >= span * _LABEL_GAP:  # labels of short requests would overlap
            axes.text(start, lane - 0.32, str(exchange.status or "failed"), fontsize=7, va="bottom")
            labelled[lane] = start
    steps = dict.fromkeys(e.step for e in exchanges)
    handles = [Patch(color=_colour(s), label=s) for s in steps]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    count = max(placed, default=-1) + 1
    axes.set_yticks(range(count))
    axes.set_ylim(count - 0.5, -0.8)  # inverted, lane 0 on top, with room for the status labels
    axes.set_ylabel("lane")
    _time_axis(axes, timeline)
    axes.set_title(title, pad=14 if timeline.cuts else 6)
    return figure


def _receiving(exchanges: Sequence[Exchange], timeline: Timeline) -> list[tuple[float, float, float]]:
    """``(from, to, bytes per second)`` of each body on the timeline, assuming it arrived at an even pace."""
    spans = []
    for e in exchanges:
        begin = timeline(e.started + (e.time_to_headers or 0.0))
        end = timeline(end_of(e))
        if e.bytes_received and end > begin:
            spans.append((begin, end, e.bytes_received / (end - begin)))
    return spans


def throughput(exchanges: Sequence[Exchange], title: str = "Throughput") -> Figure:
    """Bytes per second received over request time, all concurrent downloads added up, with the average.

    Idle gaps are cut out as in :func:`waterfall`, so the average is over the time requests were in flight.
    """
    timeline = Timeline.of(exchanges)
    finish = max((timeline(end_of(e)) for e in exchanges), default=0.0)
    spans = _receiving(exchanges, timeline)
    times = [finish * i / _SAMPLES for i in range(_SAMPLES + 1)]
    rates = [sum(rate for begin, end, rate in spans if begin <= t < end) for t in times]
    figure = Figure(figsize=(9, 3), layout="constrained")
    axes = figure.subplots()
    axes.fill_between([t * 1000 for t in times], rates, step="post", color=STEP_COLOURS["blob"])
    if finish > 0:
        average = sum(e.bytes_received for e in exchanges) / finish
        label = f"average {human_size(average)}/s"
        axes.axhline(average, color="black", linestyle="--", linewidth=1, label=label)
        axes.legend(loc="upper left", fontsize=8)
    _time_axis(axes, timeline)
    axes.set_title(title, pad=14 if timeline.cuts else 6)
    human_axis(axes, suffix="/s")
    return figure
