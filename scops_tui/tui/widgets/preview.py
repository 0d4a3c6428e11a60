"""The preview under the review queue: the selected episode's score and deviating metrics, with context."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label

from scops_tui.detection.review import Episode
from scops_tui.tui import formatting
from scops_tui.tui.formatting import UTC, TimeFormat
from scops_tui.tui.readers import HistoryView
from scops_tui.tui.series import METRIC_TO_CHART, SPEC_BY_KEY, ChartSpec, chart_data
from scops_tui.tui.widgets.chart import MetricChart

PREVIEW_CHARTS = 3
"""The score and the two metrics that deviated most."""


def preview_specs(episode: Episode) -> list[ChartSpec]:
    """The score chart, then the charts of the metrics that deviated most (no chart twice), then CPU/memory."""
    keys = ["score"]
    for item in episode.contributing_metrics:
        key = METRIC_TO_CHART.get(str(item.get("metric", "")))
        if key is not None and key not in keys:
            keys.append(key)
    for fallback in ("cpu_usage", "memory_usage", "load_1m"):
        if fallback not in keys:
            keys.append(fallback)
    return [SPEC_BY_KEY[key] for key in keys[:PREVIEW_CHARTS]]


def episode_summary(episode: Episode, time_format: TimeFormat) -> str:
    """One line: id, severity, peak, when, how long, samples, status, verdict."""
    end = episode.end_timestamp if episode.end_timestamp is not None else episode.timestamp
    return (
        f"[b]episode {episode.id}[/b]  {episode.source}  severity [b]{episode.severity or '-'}[/b]  "
        f"peak {formatting.score(episode.peak_score)}  {time_format.clock(episode.timestamp)} → {time_format.hm(end)} "
        f"({formatting.span(end - episode.timestamp)}, {episode.samples} samples)  [b]{episode.status}[/b]"
        f"  verdict {(episode.verdict or '-').replace('_', ' ')}"
    )


def processes_line(episode: Episode, limit: int = 3) -> str:
    """The top processes when the episode opened, on one line."""
    parts = [
        f"{item.get('name', '?')} ({item.get('pid', '?')}) {float(item.get('cpu_percent', 0.0)):.0f}% cpu"
        for item in episode.top_processes[:limit]
    ]
    return "top processes: " + (", ".join(parts) if parts else "none recorded")


class EpisodePreview(Vertical):
    """Summary line, the score and deviating metrics' charts around the episode, and its top processes."""

    def __init__(self, time_format: TimeFormat = UTC, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.time_format = time_format
        self.episode_id: int | None = None

    def compose(self) -> ComposeResult:
        yield Label("select an episode to preview it", id="preview-summary")
        with Horizontal(id="preview-charts"):
            for index in range(PREVIEW_CHARTS):
                yield MetricChart("", time_format=self.time_format, id=f"preview-chart-{index}")
        yield Label("", id="preview-processes")

    def show(self, episode: Episode, view: HistoryView, interval_ms: int) -> None:
        """Draw `episode` over `view` (its context window)."""
        self.episode_id = episode.id
        self.query_one("#preview-summary", Label).update(
            episode_summary(episode, self.time_format) + "  (enter: detail)"
        )
        end = episode.end_timestamp if episode.end_timestamp is not None else episode.timestamp
        for index, spec in enumerate(preview_specs(episode)):
            chart = self.query_one(f"#preview-chart-{index}", MetricChart)
            chart.configure(spec.title, spec.kind)
            chart.show(chart_data(view, spec, interval_ms=interval_ms, selected=(episode.timestamp, end)))
        self.query_one("#preview-processes", Label).update(processes_line(episode))

    def clear(self, text: str) -> None:
        """Show `text` instead of an episode."""
        self.episode_id = None
        self.query_one("#preview-summary", Label).update(text)
