"""The report's figures, drawn with matplotlib (object API, no pyplot state) as inline SVG.

Each function takes a :class:`~loadtest.results.RunResult` (or several) and returns a
``Figure``; :func:`to_svg` turns one into an ``<svg>`` element string with its text kept as
text and no external references. matplotlib is an optional dependency (``pip install
'teleconsult[loadtest]'``), imported only when a report is written.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from loadtest.results import RunResult

ACK, READER, DEVICES, LOSS = "#1f77b4", "#d62728", "#7f7f7f", "#ff7f0e"


@contextmanager
def style() -> Iterator[None]:
    """The report's look; draw and save every figure inside it."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9.0, "axes.grid": True, "grid.alpha": 0.3}):
        yield


def _figure(width_in: float = 9.0, height_in: float = 3.4, rows: int = 1) -> Figure:
    return Figure(figsize=(width_in, height_in * rows), layout="constrained")


def to_svg(fig: Figure) -> str:
    """The figure as one ``<svg>`` element (no XML prolog, no doctype); call inside :func:`style`."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _plain_log(axis: Axis) -> None:
    """Log axis ticks at 1, 2, 5 × 10^k, written as plain numbers (0.5, 2, 50, 100)."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _legend_below(ax: Axes, *more: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    for other in more:
        h, lab = other.get_legend_handles_labels()
        handles += h
        labels += lab
    ax.figure.legend(handles, labels, loc="outside lower center", ncols=min(5, max(1, len(labels))), fontsize=8)


def _window_series(run: RunResult, which: str, q: float) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for w in run.windows:
        value = getattr(w, which).percentile_ms(q)
        if value is not None:
            xs.append(w.t_s + w.window_s)
            ys.append(value)
    return xs, ys


def latency_over_time(run: RunResult) -> Figure:
    """p50 and p99 of device→ack and device→reader per second, devices streaming behind."""
    fig = _figure()
    ax = fig.add_subplot()
    for which, colour, name in (("ack", ACK, "device→ack"), ("reader", READER, "device→reader")):
        for q, style in ((50, ":"), (99, "-")):
            xs, ys = _window_series(run, which, q)
            ax.plot(xs, ys, style, color=colour, label=f"{name} p{q}", linewidth=1.4)
    ax.set_xlabel("time into the run (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    twin = ax.twinx()
    twin.step([w.t_s + w.window_s for w in run.windows], [w.devices_streaming for w in run.windows],
              where="pre", color=DEVICES, alpha=0.5, linewidth=1, label="devices streaming")
    twin.set_ylabel("devices streaming", color=DEVICES)
    twin.set_ylim(bottom=0)
    twin.grid(False)
    _legend_below(ax, twin)
    ax.set_title("Latency over time (per 1 s window)")
    return fig


def throughput_over_time(run: RunResult) -> Figure:
    fig = _figure(height_in=3.0)
    ax = fig.add_subplot()
    xs = [w.t_s + w.window_s for w in run.windows]
    ax.plot(xs, [w.frames_sent / w.window_s for w in run.windows], color=ACK, label="frames sent/s")
    ax.plot(xs, [w.frames_acked / w.window_s for w in run.windows], "--", color="#2ca02c", label="frames acked/s")
    ax.plot(xs, [w.reader_frames / w.window_s for w in run.windows], ":", color=READER,
            label="frames to readers/s")
    errors = [(x, w.errors) for x, w in zip(xs, run.windows) if w.errors]
    if errors:
        ax.scatter([x for x, _ in errors], [0] * len(errors), marker="x", color="black", label="errors")
    ax.set_xlabel("time into the run (s)")
    ax.set_ylabel("frames per second")
    ax.set_ylim(bottom=0)
    _legend_below(ax)
    ax.set_title("Throughput over time")
    return fig


def _nines(fraction: float, count: int) -> float:
    return -math.log10(max(1.0 - fraction, 0.5 / max(1, count)))


def percentile_curves(run: RunResult) -> Figure:
    """Left: latency by percentile (50, 90, 99, 99.9 … spaced evenly). Right: the CDF."""
    warmup = float(run.config.get("warmup_s", 0.0))
    fig = _figure(rows=1)
    left, right = fig.subplots(1, 2)
    top = 1
    for which, colour, name in (("ack", ACK, "device→ack"), ("reader", READER, "device→reader")):
        h = run.latency(which, warmup)
        cdf = h.cdf()
        if not cdf:
            continue
        xs = [_nines(f, h.count) for _, f in cdf]
        ys = [v for v, _ in cdf]
        top = max(top, math.ceil(max(xs)))
        left.step(xs, ys, where="pre", color=colour, label=f"{name} (n={h.count})")
        right.step(ys, [f for _, f in cdf], where="post", color=colour, label=name)
    ticks = [0.0, math.log10(2), 1.0, 2.0, 3.0, 4.0, 5.0][: top + 2]
    left.set_xticks(ticks, ["0", "50", "90", "99", "99.9", "99.99", "99.999"][: len(ticks)])
    left.set_xlabel("percentile")
    left.set_ylabel("latency (ms)")
    left.set_yscale("log")
    _plain_log(left.yaxis)
    left.legend(loc="upper left", fontsize=8)
    left.set_title("Latency by percentile")
    right.set_xscale("log")
    _plain_log(right.xaxis)
    right.set_xlabel("latency (ms)")
    right.set_ylabel("fraction of frames ≤ latency")
    right.set_ylim(0, 1.01)
    right.legend(loc="lower right", fontsize=8)
    right.set_title("Latency CDF")
    return fig


def device_loss(run: RunResult) -> Figure:
    """Per recording: frames sent, acked and stored; below, samples lost and reader frames missed."""
    fig = _figure(rows=2, height_in=2.4)
    top, bottom = fig.subplots(2, 1, sharex=True)
    devices = run.devices
    xs = list(range(len(devices)))
    block = max(1, round(float(run.config.get("frame_s", 0.04)) * 500))
    if devices and devices[0].frames_sent:
        block = max(1, devices[0].samples_sent // devices[0].frames_sent)
    top.plot(xs, [d.frames_sent for d in devices], "o", markersize=3, color=ACK, label="frames sent")
    top.plot(xs, [d.frames_acked for d in devices], "x", markersize=4, color="#2ca02c", label="frames acked")
    top.plot(xs, [(d.samples_stored or 0) / block for d in devices], "+", markersize=5, color="black",
             label="frames stored")
    top.set_ylabel("frames")
    top.set_ylim(0, max((d.frames_sent for d in devices), default=1) * 1.25 + 1)
    top.legend(loc="lower right", fontsize=8, ncols=3)
    top.set_title("Per device: sent, acknowledged, stored")
    width = 0.4
    bottom.bar([x - width / 2 for x in xs], [d.lost_samples for d in devices], width, color=LOSS,
               label="samples lost")
    bottom.bar([x + width / 2 for x in xs], [d.reader_frames_missed for d in devices], width, color=READER,
               label="reader frames missed")
    bottom.set_ylabel("lost / missed")
    bottom.set_xlabel("device (recording, in slot order)")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    total = sum(d.lost_samples + d.reader_frames_missed for d in devices)
    unchecked = sum(1 for d in devices if d.samples_stored is None)
    if total == 0:
        bottom.set_ylim(0, 1)
        note = "nothing lost, no reader frame missed" + (f" ({unchecked} not checked)" if unchecked else "")
        bottom.text(0.5, 0.5, note, transform=bottom.transAxes, ha="center", va="center", color="#2ca02c")
    bottom.legend(loc="upper right", fontsize=8)
    return fig


def resources_over_time(run: RunResult) -> Figure:
    """CPU (100 % = one core) and RSS of each local process of the run, per second."""
    fig = _figure(rows=2, height_in=2.4)
    cpu_ax, rss_ax = fig.subplots(2, 1, sharex=True)
    styles = {"server": "-", "worker": "--", "redis": ":"}
    for series in run.resources:
        points = series.points()
        if not points:
            continue
        style = styles.get(series.role, "-.")
        cpu_ax.plot([p[0] for p in points], [p[1] for p in points], style, label=series.name, linewidth=1.2)
        rss_ax.plot([p[0] for p in points], [p[2] for p in points], style, label=series.name, linewidth=1.2)
    cpu_ax.set_ylabel("CPU (%)")
    cpu_ax.set_ylim(bottom=0)
    cpu_ax.set_title("CPU and memory per process")
    rss_ax.set_ylabel("RSS (MiB)")
    rss_ax.set_ylim(bottom=0)
    rss_ax.set_xlabel("time into the run (s)")
    if run.resources:
        _legend_below(cpu_ax)
    return fig


def clinic_over_time(run: RunResult) -> Figure:
    """Report and consult traffic: each report's turnaround and sign→screen time at its upload
    time, each consult's request→in_call at its request time, devices streaming behind."""
    assert run.clinic is not None
    events = run.clinic.events
    fig = _figure(rows=2, height_in=2.8)
    top, bottom = fig.subplots(2, 1, sharex=True)
    tat = [(t, v) for t, kind, v in events if kind == "tat"]
    push = [(t, v * 1000) for t, kind, v in events if kind == "push"]
    setup = [(t, v * 1000) for t, kind, v in events if kind == "setup"]
    top.scatter([t for t, _ in tat], [v for _, v in tat], s=12, color=ACK,
                label=f"turnaround (s; reading {run.clinic.read_s:g} s included)")
    top.set_ylabel("turnaround (s)")
    top.set_ylim(bottom=0)
    twin = top.twinx()
    twin.scatter([t for t, _ in push], [v for _, v in push], s=10, marker="x", color=READER,
                 label="signed → on the doctor's screen (ms)")
    twin.set_ylabel("sign → screen (ms)", color=READER)
    twin.set_ylim(bottom=0)
    twin.grid(False)
    top.set_title("Reports: turnaround and push under load")
    bottom.scatter([t for t, _ in setup], [v for _, v in setup], s=10, color="#2ca02c",
                   label="consult request → in_call (ms)")
    bottom.set_ylabel("consult setup (ms)")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("time into the run (s)")
    devices = bottom.twinx()
    devices.step([w.t_s + w.window_s for w in run.windows], [w.devices_streaming for w in run.windows],
                 where="pre", color=DEVICES, alpha=0.5, linewidth=1, label="devices streaming")
    devices.set_ylim(bottom=0)
    devices.grid(False)
    bottom.set_title("Consults: signalling set-up under load")
    _legend_below(top, twin, bottom, devices)
    return fig


def steps_overview(runs: list[RunResult]) -> Figure:
    """One point per run: latency p99 and server CPU against the devices streamed."""
    fig = _figure()
    ax = fig.add_subplot()
    xs = [float(r.summary.get("devices_max") or 0) for r in runs]
    for key, colour, name in (("ack_p99_ms", ACK, "device→ack p99"), ("reader_p99_ms", READER, "device→reader p99")):
        ax.plot(xs, [r.summary.get(key) or math.nan for r in runs], "o-", color=colour, label=name)
    ax.set_xlabel("devices")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)
    twin = ax.twinx()
    twin.plot(xs, [r.summary.get("server_cpu_pct") or math.nan for r in runs], "s--", color=DEVICES,
              label="server CPU %")
    twin.set_ylabel("server CPU (%)", color=DEVICES)
    twin.set_ylim(bottom=0)
    twin.grid(False)
    ax.set_title("Steps: latency and CPU against load")
    return fig


__all__ = ["style", "to_svg", "latency_over_time", "throughput_over_time", "percentile_curves", "device_loss",
           "resources_over_time", "steps_overview"]
