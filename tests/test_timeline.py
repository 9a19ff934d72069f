"""Charts draw protocol time: a reader's pause between notebook cells is a marked break, not time.

These exchanges are constructed: a pure plotting test needs exact timestamps (a 300 s pause), which
waiting for a real server would only make slow.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from regkit.display import charts
from regkit.display.timeline import Timeline
from regkit.http.exchange import Exchange

T0 = 1_800_000_000.0


def exchange(step: str, started: float, total: float, size: int = 0) -> Exchange:
    """A finished exchange that started ``started`` seconds after T0 and took ``total`` seconds."""
    record = Exchange.begin(step, "GET", "http://127.0.0.1:5000/v2/", {}, T0 + started)
    record.status, record.time_to_headers, record.total_time, record.bytes_received = 200, total / 4, total, size
    return record


def steps_with_a_pause() -> list[Exchange]:
    """A token and a manifest, then 300 s of reading, then two blobs that overlap."""
    return [
        exchange("token", 0.000, 0.010),
        exchange("manifest", 0.012, 0.020),
        exchange("blob", 300.032, 0.050, 1 << 20),
        exchange("blob", 300.040, 0.030, 1 << 19),
    ]


def breaks_of(axes) -> list:
    return [patch for patch in axes.patches if patch.get_gid() == "idle-break"]


def test_the_waterfall_spans_request_time_with_the_pause_as_a_break():
    figure = charts.waterfall(steps_with_a_pause())
    axes = figure.axes[0]
    axes.figure.canvas.draw()
    # Requests were in flight for 32 ms + 50 ms; the axis shows that and a narrow break, not 300 s.
    left, right = axes.get_xlim()
    assert right - left < 150
    assert len(breaks_of(axes)) == 1
    assert any(text.get_text() == "300 s idle" for text in axes.texts)
    assert "idle time cut out" in axes.get_xlabel()
    bars = [p for p in axes.patches if p.get_gid() != "idle-break"]
    lefts = sorted(bar.get_x() for bar in bars)
    assert lefts[-1] < 100  # the blobs start right after the break, in ms


def test_no_break_without_a_pause():
    exchanges = steps_with_a_pause()[:2]
    axes = charts.waterfall(exchanges).axes[0]
    assert breaks_of(axes) == [] and axes.get_xlabel() == "ms since the first request"


def test_throughput_average_is_over_request_time():
    axes = charts.throughput(steps_with_a_pause()).axes[0]
    assert len(breaks_of(axes)) == 1
    average = next(line for line in axes.lines if line.get_label().startswith("average"))
    # 1.5 MiB over about 84 ms of request time (plus the break), not over 300 s.
    assert average.get_ydata()[0] > 10 * (1 << 20)


def test_timeline_maps_times_around_the_cut():
    timeline = Timeline.of(steps_with_a_pause())
    assert timeline(T0) == 0
    assert abs(timeline(T0 + 300.032) - (0.032 + timeline.break_width)) < 1e-6  # epoch floats hold microseconds
    assert [round(b.idle) for b in timeline.breaks] == [300]
