"""One episode: its chart with context before and after, what deviated, the top processes, score and notes."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Label, Static

from scops_tui.detection.review import Episode
from scops_tui.store import history
from scops_tui.tui import formatting, readers
from scops_tui.tui.messages import EpisodeLoaded
from scops_tui.tui.readers import HistoryView
from scops_tui.tui.screens.review_base import ReviewScreen
from scops_tui.tui.widgets.chart import EpisodeStrip, MetricChart

DETAIL_CHARTS = (
    ("score", "Anomaly score (max per bucket)"),
    ("cpu_usage", "CPU %"),
    ("memory_usage", "Memory %"),
    ("load_1m", "Load (1 min)"),
    ("disk_io", "Disk I/O (read + write)"),
    ("network", "Network (rx + tx)"),
)
MIN_CONTEXT_MS = 10 * 60_000


def context_window(episode: Episode) -> tuple[int, int]:
    """The episode with as much context before and after as it lasts twice (at least 10 minutes each side)."""
    end = episode.end_timestamp if episode.end_timestamp is not None else episode.timestamp
    context = max(2 * (end - episode.timestamp), MIN_CONTEXT_MS)
    return episode.timestamp - context, end + context + 1


def chart_series(view: HistoryView, key: str) -> list[float]:
    """One chart's values per bucket of the view."""
    args = (view.rows, view.start_ms, view.end_ms, view.buckets)
    if key == "score":
        return history.dense_scores(*args)
    if key == "disk_io":
        reads, writes = history.dense_series(*args, "disk_io_read"), history.dense_series(*args, "disk_io_write")
        return [a + b for a, b in zip(reads, writes, strict=True)]
    if key == "network":
        rx, tx = history.dense_series(*args, "network_rx"), history.dense_series(*args, "network_tx")
        return [a + b for a, b in zip(rx, tx, strict=True)]
    return history.dense_series(*args, key, peak=True)


def episode_marks(view: HistoryView, spans: list[history.EpisodeSpan]) -> list[str | None]:
    """One cell per bucket: the severity of an episode covering it, else None."""
    width = history.bucket_width(view.start_ms, view.end_ms, view.buckets)
    count = len(history.dense_scores([], view.start_ms, view.end_ms, view.buckets))
    marks: list[str | None] = [None] * count
    rank = {"low": 1, "medium": 2, "high": 3, "critical": 4}
    for span in spans:
        first = max((span.start_ms - view.start_ms) // width, 0)
        last = min((span.end_ms - view.start_ms) // width, count - 1)
        for index in range(first, last + 1):
            current = marks[index]
            if current is None or rank.get(span.severity or "", 0) > rank.get(current, 0):
                marks[index] = span.severity or "low"
    return marks


class DetailScreen(ReviewScreen):
    """One anomaly episode in detail."""

    SCREEN_NAME = "Anomaly detail"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("a", "acknowledge", "Ack", tooltip="Acknowledge", id="detail.acknowledge"),
        Binding("c", "confirm", "Confirm", id="detail.confirm"),
        Binding("f", "false_positive", "False pos", tooltip="False positive", id="detail.false_positive"),
        Binding("r", "resolve", "Resolve", id="detail.resolve"),
    ]

    def __init__(self, episode_id: int) -> None:
        super().__init__()
        self.episode_id = episode_id
        self.episode: Episode | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(f"episode {self.episode_id}: loading", id="detail-summary")
        with VerticalScroll(id="detail-body"):
            for key, title in DETAIL_CHARTS:
                yield MetricChart(title, id=f"detail-{key}")
            yield EpisodeStrip("", id="detail-strip")
            yield Label("", id="detail-window", classes="axis")
            with Horizontal(id="detail-tables"):
                with Vertical():
                    yield Label("Metrics that deviated most", classes="section-title")
                    yield DataTable(id="detail-metrics", cursor_type="none")
                with Vertical():
                    yield Label("Top processes at detection", classes="section-title")
                    yield DataTable(id="detail-processes", cursor_type="none")
            yield Label("Notes", classes="section-title")
            yield Static("", id="detail-notes", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Anomaly {self.episode_id}"
        self.query_one("#detail-metrics", DataTable).add_columns("rank", "metric", "deviation")
        self.query_one("#detail-processes", DataTable).add_columns("pid", "name", "cpu %", "mem %", "user")
        self.call_after_refresh(self.reload)

    def reload(self) -> None:
        """Read the episode and its history again."""
        width = self.query_one("#detail-score", MetricChart).content_size.width
        self.load_episode(max(width, 20))

    @work(thread=True, exit_on_error=False, exclusive=True, group="detail", name="load episode")
    def load_episode(self, buckets: int) -> None:
        db, source = self.scops.settings.db, None
        episode = readers.read_episode(db, self.episode_id)
        source = episode.source
        start, end = context_window(episode)
        view = readers.read_history(db, source, start, end, buckets)
        self.post_message(EpisodeLoaded(episode, view))

    def on_episode_loaded(self, message: EpisodeLoaded) -> None:
        self.episode = episode = message.episode
        view = message.view
        end = episode.end_timestamp if episode.end_timestamp is not None else episode.timestamp
        self.query_one("#detail-summary", Label).update(
            f"[b]episode {episode.id}[/b]  {episode.source}  severity [b]{episode.severity or '-'}[/b]  "
            f"peak {formatting.score(episode.peak_score)}  {episode.samples} samples  status [b]{episode.status}[/b]"
            f"  verdict {(episode.verdict or '-').replace('_', ' ')}"
            f"  model {episode.model_name} v{episode.model_version}"
        )
        for key, _title in DETAIL_CHARTS:
            values = chart_series(view, key)
            peak = max(values, default=0.0)
            reading = formatting.score(peak) if key == "score" else f"peak {peak:.2f}"
            if key in ("disk_io", "network"):
                reading = f"peak {formatting.rate(peak)}"
            self.query_one(f"#detail-{key}", MetricChart).show(values, reading)
        self.query_one("#detail-strip", EpisodeStrip).show(episode_marks(view, view.episodes))
        self.query_one("#detail-window", Label).update(
            f"{formatting.clock_time(view.start_ms)} UTC ← episode {formatting.clock_time(episode.timestamp)} to "
            f"{formatting.clock_time(end)} ({formatting.span(end - episode.timestamp)}) → "
            f"{formatting.clock_time(view.end_ms)} UTC"
        )
        metrics = self.query_one("#detail-metrics", DataTable)
        metrics.clear()
        for rank, item in enumerate(episode.contributing_metrics, start=1):
            metrics.add_row(str(rank), str(item.get("metric", "?")), f"{float(item.get('deviation', 0.0)):.2f}")
        processes = self.query_one("#detail-processes", DataTable)
        processes.clear()
        for item in episode.top_processes:
            processes.add_row(
                str(item.get("pid", "?")),
                str(item.get("name", "?")),
                f"{float(item.get('cpu_percent', 0.0)):.1f}",
                f"{float(item.get('memory_percent', 0.0)):.1f}",
                str(item.get("username") or "-"),
            )
        self.query_one("#detail-notes", Static).update(episode.resolution_notes or "(no notes)")

    def target_ids(self) -> list[int]:
        """This episode."""
        return [self.episode_id]

    def show_reviewed(self, episodes: list[Episode]) -> None:
        """Re-read the episode so the summary and notes show the action."""
        self.reload()

    def action_back(self) -> None:
        """Back to the queue."""
        self.dismiss()
