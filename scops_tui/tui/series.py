"""What each chart of History, the detail and the preview draws from a window of history (no Textual).

A bucketed metric is drawn by its per-bucket maximum (so the top of the chart is the window's peak), the
two-direction rates by their per-bucket average of both directions together; the headline is the newest
sample in the window and the peak the true maximum of the window's samples (from `WindowSummary`), so
neither depends on how many buckets the chart's width asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from scops_tui.store import history
from scops_tui.tui import formatting
from scops_tui.tui.readers import HistoryView
from scops_tui.tui.widgets.chart import ChartData, Kind, Shade

TWO_WAY = {"disk_io": ("disk_io_read", "disk_io_write", "r", "w"), "network": ("network_rx", "network_tx", "rx", "tx")}


@dataclass(frozen=True)
class ChartSpec:
    """One chart of a history-like screen: its key (a metric, `disk_io`, `network` or `score`), title, kind."""

    key: str
    title: str
    kind: Kind


HISTORY_SPECS = (
    ChartSpec("cpu_usage", "CPU", "percent"),
    ChartSpec("memory_usage", "Memory", "percent"),
    ChartSpec("disk_usage", "Disk use", "percent"),
    ChartSpec("load_1m", "Load 1m", "plain"),
    ChartSpec("disk_io", "Disk I/O", "rate"),
    ChartSpec("network", "Network", "rate"),
    ChartSpec("score", "Anomaly score", "score"),
)
SPEC_BY_KEY = {spec.key: spec for spec in HISTORY_SPECS}
METRIC_TO_CHART = {
    "cpu_usage": "cpu_usage",
    "memory_usage": "memory_usage",
    "disk_usage": "disk_usage",
    "load_1m": "load_1m",
    "load_5m": "load_1m",
    "load_15m": "load_1m",
    "disk_io_read": "disk_io",
    "disk_io_write": "disk_io",
    "network_rx": "network",
    "network_tx": "network",
}
"""The chart that shows a contributing metric of an episode."""


def _value(row: history.HistoryBucket, key: str) -> float | None:
    if key == "score":
        return row.max_score
    if key in TWO_WAY:
        first, second, _a, _b = TWO_WAY[key]
        return row.averages[first] + row.averages[second]
    return row.maxima[key]


def _reading(kind: Kind, value: float) -> str:
    if kind == "percent":
        return f"{value:.1f} %"
    if kind == "rate":
        return formatting.rate(value)
    if kind == "score":
        return formatting.score(value)
    return f"{value:.2f}"


def chart_data(
    view: HistoryView,
    spec: ChartSpec,
    *,
    interval_ms: int,
    selected: tuple[int, int] | None = None,
) -> ChartData:
    """The chart of `spec` over `view`: points per bucket, episodes shaded, labels marked, true headline and peak."""
    width = history.bucket_width(view.start_ms, view.end_ms, view.buckets)
    points = []
    for row in view.rows:
        value = _value(row, spec.key)
        if value is not None:
            points.append((row.start_ms, value, row.max_score))
    latest = view.summary.latest
    maxima = view.summary.maxima
    headline = short = peak = ""
    if spec.key in TWO_WAY:
        first, second, a, b = TWO_WAY[spec.key]
        if latest is not None:
            headline = f"{a} {formatting.rate(getattr(latest, first))} {b} {formatting.rate(getattr(latest, second))}"
            short = (
                f"{a} {formatting.compact_rate(getattr(latest, first))} "
                f"{b} {formatting.compact_rate(getattr(latest, second))}"
            )
        if first in maxima:
            peak = f"{a} {formatting.rate(maxima[first])} {b} {formatting.rate(maxima[second])}"
    else:
        name = "anomaly_score" if spec.key == "score" else spec.key
        if latest is not None:
            value = getattr(latest, name)
            headline = "-" if value is None else _reading(spec.kind, float(value))
        if name in maxima:
            peak = _reading(spec.kind, maxima[name])
    return ChartData(
        view.start_ms,
        view.end_ms,
        points,
        hold_ms=max(2 * width, int(2.5 * interval_ms)),
        headline=headline,
        headline_short=short,
        peak=peak,
        spans=[Shade(s.start_ms, s.end_ms, s.severity) for s in view.episodes],
        marks=view.labels,
        cursor=selected,
    )
