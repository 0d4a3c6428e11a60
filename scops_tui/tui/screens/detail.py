"""One episode: its chart with context before and after, what deviated, the top processes, score and notes."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Label, Static

from scops_tui.detection.review import Episode
from scops_tui.tui import formatting
from scops_tui.tui.messages import EpisodeLoaded
from scops_tui.tui.screens.review_base import ReviewScreen
from scops_tui.tui.series import SPEC_BY_KEY, chart_data
from scops_tui.tui.widgets.chart import MetricChart
from scops_tui.tui.widgets.preview import episode_summary

DETAIL_CHARTS = tuple(
    SPEC_BY_KEY[key] for key in ("score", "cpu_usage", "memory_usage", "load_1m", "disk_io", "network")
)
MIN_CONTEXT_MS = 10 * 60_000
REVIEW = Binding.Group("review", compact=True)


def context_window(episode: Episode) -> tuple[int, int]:
    """The episode with as much context before and after as it lasts twice (at least 10 minutes each side)."""
    end = episode.end_timestamp if episode.end_timestamp is not None else episode.timestamp
    context = max(2 * (end - episode.timestamp), MIN_CONTEXT_MS)
    return episode.timestamp - context, end + context + 1


class DetailScreen(ReviewScreen):
    """One anomaly episode in detail."""

    SCREEN_NAME = "Anomaly detail"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="detail.back"),
        Binding("a", "acknowledge", "Ack", tooltip="Acknowledge", group=REVIEW, id="detail.acknowledge"),
        Binding("c", "confirm", "Confirm", tooltip="Confirm as an anomaly", group=REVIEW, id="detail.confirm"),
        Binding("f", "false_positive", "False pos", tooltip="False positive", group=REVIEW, id="detail.false_positive"),
        Binding("r", "resolve", "Resolve", tooltip="Resolve with a note", group=REVIEW, id="detail.resolve"),
    ]

    def __init__(self, episode_id: int) -> None:
        super().__init__()
        self.episode_id = episode_id
        self.episode: Episode | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(f"episode {self.episode_id}: loading", id="detail-summary")
        with VerticalScroll(id="detail-body"):
            for spec in DETAIL_CHARTS:
                yield MetricChart(
                    spec.title, kind=spec.kind, time_format=self.scops.time_format, id=f"detail-{spec.key}"
                )
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
        self.load_episode(max(self.query_one("#detail-score", MetricChart).plot_columns, 20))

    @work(thread=True, exit_on_error=False, exclusive=True, group="detail", name="load episode")
    def load_episode(self, buckets: int) -> None:
        reader = self.scops.reader
        episode = reader.episode(self.episode_id)
        start, end = context_window(episode)
        view = reader.history(episode.source, start, end, buckets)
        self.post_message(EpisodeLoaded(episode, view))

    def on_episode_loaded(self, message: EpisodeLoaded) -> None:
        self.episode = episode = message.episode
        view = message.view
        end = episode.end_timestamp if episode.end_timestamp is not None else episode.timestamp
        tf = self.scops.time_format
        self.query_one("#detail-summary", Label).update(
            episode_summary(episode, tf) + f"  model {episode.model_name} v{episode.model_version}"
        )
        interval_ms = int(self.scops.settings.interval * 1000)
        for spec in DETAIL_CHARTS:
            data = chart_data(view, spec, interval_ms=interval_ms, selected=(episode.timestamp, end))
            self.query_one(f"#detail-{spec.key}", MetricChart).show(data)
        self.query_one("#detail-window", Label).update(
            f"{tf.clock(view.start_ms)} ← episode {tf.clock(episode.timestamp)} to {tf.clock(end)} "
            f"({formatting.span(end - episode.timestamp)}) → {tf.clock(view.end_ms)} {tf.zone}; "
            "the episode is highlighted, other episodes shaded"
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
