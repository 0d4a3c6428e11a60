"""The review queue: episodes newest first, filtered by status and severity, reviewed one by one or in bulk."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.widgets import DataTable, Footer, Header, Label

from scops_tui.detection.review import SEVERITIES, Episode, Status
from scops_tui.tui import formatting
from scops_tui.tui.messages import EpisodesLoaded, PreviewLoaded
from scops_tui.tui.screens.review_base import ReviewScreen
from scops_tui.tui.widgets.columns import Column, fit_columns, hidden_note
from scops_tui.tui.widgets.preview import EpisodePreview

STATUSES: tuple[Status, ...] = ("open", "acknowledged", "resolved", "all")
SEVERITY_FILTERS: tuple[str | None, ...] = (None, *SEVERITIES)
SEVERITY_STYLE = {"critical": "bold red", "high": "dark_orange", "medium": "yellow", "low": "blue"}


def metrics_involved(episode: Episode, limit: int = 3) -> str:
    """The names of the metrics that deviated most, largest first."""
    names = [str(item.get("metric", "?")) for item in episode.contributing_metrics[:limit]]
    return ", ".join(names) or "-"


MOVE = Binding.Group("move", compact=True)
MARKS = Binding.Group("mark", compact=True)
REVIEW = Binding.Group("review", compact=True)
FILTERS = Binding.Group("filter", compact=True)
QUEUE_COLUMNS = (
    Column("mark", "", 1),
    Column("id", "id", 4),
    Column("time", "time", 16),
    Column("source", "source", 12, drop=3),
    Column("severity", "severity", 8),
    Column("peak", "peak", 5, drop=1),
    Column("status", "status", 12),
    Column("verdict", "verdict", 14, drop=2),
    Column("metrics", "metrics involved", 22),
)
"""The queue's columns; on a narrow terminal source goes first, then verdict, then peak (the preview shows them)."""


class AnomaliesScreen(ReviewScreen):
    """The anomaly review queue."""

    SCREEN_NAME = "Anomalies"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", "Details", priority=True, id="anomalies.details"),
        Binding("j", "cursor_down", "Down", group=MOVE, id="anomalies.down"),
        Binding("k", "cursor_up", "Up", group=MOVE, id="anomalies.up"),
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            key_display="␣",  # "space" would run into the group's next key in the compact footer: "spaceu"
            tooltip="Mark the row for a bulk action",
            group=MARKS,
            id="anomalies.mark",
        ),
        Binding("u", "clear_marks", "Unmark", tooltip="Unmark all", group=MARKS, id="anomalies.clear_marks"),
        Binding("a", "acknowledge", "Ack", tooltip="Acknowledge", group=REVIEW, id="anomalies.acknowledge"),
        Binding("c", "confirm", "Confirm", tooltip="Confirm as an anomaly", group=REVIEW, id="anomalies.confirm"),
        Binding(
            "f", "false_positive", "False pos", tooltip="False positive", group=REVIEW, id="anomalies.false_positive"
        ),
        Binding("r", "resolve", "Resolve", tooltip="Resolve with a note", group=REVIEW, id="anomalies.resolve"),
        Binding("s", "cycle_status", "Status", tooltip="Status filter", group=FILTERS, id="anomalies.status_filter"),
        Binding(
            "v",
            "cycle_severity",
            "Severity",
            tooltip="Severity filter (at least)",
            group=FILTERS,
            id="anomalies.severity_filter",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status: Status = "open"
        self.severity: str | None = None
        self.episodes: dict[int, Episode] = {}
        self.marked: set[int] = set()
        self._select_first = True
        self._back_from_detail = False
        self.hidden: list[str] = []
        self.columns: list[str] = [column.key for column in QUEUE_COLUMNS]
        self._fitted_width = -1

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="queue-filter")
        yield DataTable(id="episodes", cursor_type="row", zebra_stripes=True)
        yield EpisodePreview(self.scops.time_format, id="preview")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Anomalies"
        self._fit(self.size.width)
        self._draw_filter()

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        kept, hidden = fit_columns(QUEUE_COLUMNS, width - 2)
        if self._fitted_width >= 0 and hidden == self.hidden:
            return
        self._fitted_width = width
        self.hidden = hidden
        self.columns = [c.key for c in kept]
        table = self.query_one("#episodes", DataTable)
        current = self._cursor_id()
        table.clear(columns=True)
        for column in kept:
            table.add_column(column.label, key=column.key, width=None if column.key == "metrics" else column.width)
        for episode in self.episodes.values():
            table.add_row(*self._cells(episode), key=str(episode.id))
        if current is not None and current in self.episodes:
            table.move_cursor(row=table.get_row_index(str(current)))
        self._draw_filter()

    def on_screen_resume(self) -> None:
        # Entering the queue selects its newest episode; coming back from a detail keeps the cursor.
        self._select_first = not self._back_from_detail
        self._back_from_detail = False
        self.reload()

    def reload(self) -> None:
        """Read the queue again with the current filter."""
        self.load_episodes(self.status, self.severity)

    @work(thread=True, exit_on_error=False, exclusive=True, group="episodes", name="load episodes")
    def load_episodes(self, status: Status, severity: str | None) -> None:
        self.post_message(EpisodesLoaded(self.scops.reader.episodes(status, severity)))

    def on_episodes_loaded(self, message: EpisodesLoaded) -> None:
        table = self.query_one("#episodes", DataTable)
        current = self._cursor_id()
        self.episodes = {episode.id: episode for episode in message.episodes}
        self.marked &= set(self.episodes)
        table.clear()
        for episode in message.episodes:
            table.add_row(*self._cells(episode), key=str(episode.id))
        if self._select_first or current not in self.episodes:
            table.move_cursor(row=0)
        else:
            table.move_cursor(row=table.get_row_index(str(current)))
        self._select_first = False
        table.focus()
        self._draw_filter()
        self._preview_cursor()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._preview_cursor()

    def _preview_cursor(self) -> None:
        preview = self.query_one("#preview", EpisodePreview)
        current = self._cursor_id()
        if current is None:
            preview.clear("no episode with this filter")
            return
        if current == preview.episode_id:
            return
        width = self.query_one("#preview-chart-0").size.width
        self.load_preview(current, max(2 * width, 40))

    @work(thread=True, exit_on_error=False, exclusive=True, group="preview", name="preview")
    def load_preview(self, episode_id: int, buckets: int) -> None:
        from scops_tui.tui.screens.detail import context_window

        reader = self.scops.reader
        episode = reader.episode(episode_id)
        start, end = context_window(episode)
        self.post_message(PreviewLoaded(episode, reader.history(episode.source, start, end, buckets)))

    def on_preview_loaded(self, message: PreviewLoaded) -> None:
        if message.episode.id == self._cursor_id():
            interval_ms = int(self.scops.settings.interval * 1000)
            self.query_one("#preview", EpisodePreview).show(message.episode, message.view, interval_ms)

    def _cells(self, episode: Episode) -> list[str | Text]:
        severity = episode.severity or "-"
        cells: dict[str, str | Text] = {
            "mark": "●" if episode.id in self.marked else " ",
            "id": str(episode.id),
            "time": self.scops.time_format.short(episode.timestamp),
            "source": episode.source,
            "severity": Text(severity, style=SEVERITY_STYLE.get(severity, "")),
            "peak": formatting.score(episode.peak_score),
            "status": episode.status,
            "verdict": (episode.verdict or "-").replace("_", " "),
            "metrics": metrics_involved(episode),
        }
        return [cells[key] for key in self.columns]

    def _draw_filter(self) -> None:
        marked = f"   marked: {len(self.marked)}" if self.marked else ""
        severity = (
            "all" if self.severity is None else f"{self.severity}+" if self.severity != "critical" else "critical"
        )
        self.query_one("#queue-filter", Label).update(
            f"status: [b]{self.status}[/b] (s)   severity: [b]{severity}[/b] (v)   "
            f"episodes: {len(self.episodes)}{marked}{hidden_note(self.hidden)}"
        )

    def _cursor_id(self) -> int | None:
        table = self.query_one("#episodes", DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return None if row_key.value is None else int(row_key.value)

    def target_ids(self) -> list[int]:
        """The marked episodes (in queue order), else the one under the cursor."""
        if self.marked:
            return [episode_id for episode_id in self.episodes if episode_id in self.marked]
        current = self._cursor_id()
        return [] if current is None else [current]

    def show_reviewed(self, episodes: list[Episode]) -> None:
        """Update the reviewed rows at once, clear the marks, then re-read the queue (the filter may drop rows)."""
        table = self.query_one("#episodes", DataTable)
        self.marked.clear()
        for episode in episodes:
            if episode.id in self.episodes:
                self.episodes[episode.id] = episode
                for column, value in zip(
                    ("mark", "status", "verdict"),
                    (" ", episode.status, (episode.verdict or "-").replace("_", " ")),
                    strict=True,
                ):
                    if column in self.columns:
                        table.update_cell(str(episode.id), column, value)
        self._draw_filter()
        self.reload()

    def action_cursor_down(self) -> None:
        """Move the cursor down a row."""
        self.query_one("#episodes", DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        """Move the cursor up a row."""
        self.query_one("#episodes", DataTable).action_cursor_up()

    def action_toggle_mark(self) -> None:
        """Mark or unmark the row under the cursor for a bulk action, then move down."""
        current = self._cursor_id()
        if current is None:
            return
        self.marked ^= {current}
        table = self.query_one("#episodes", DataTable)
        table.update_cell(str(current), "mark", "●" if current in self.marked else " ")
        table.action_cursor_down()
        self._draw_filter()

    def action_clear_marks(self) -> None:
        """Unmark every row."""
        table = self.query_one("#episodes", DataTable)
        for episode_id in self.marked:
            table.update_cell(str(episode_id), "mark", " ")
        self.marked.clear()
        self._draw_filter()

    def action_cycle_status(self) -> None:
        """Show the next status: open, acknowledged, resolved, all."""
        self.status = STATUSES[(STATUSES.index(self.status) + 1) % len(STATUSES)]
        self._select_first = True
        self.reload()

    def action_cycle_severity(self) -> None:
        """Show the next minimum severity: all, low and up, medium and up, high and up, critical."""
        self.severity = SEVERITY_FILTERS[(SEVERITY_FILTERS.index(self.severity) + 1) % len(SEVERITY_FILTERS)]
        self._select_first = True
        self.reload()

    def action_details(self) -> None:
        """Open the episode under the cursor."""
        from scops_tui.tui.screens.detail import DetailScreen

        current = self._cursor_id()
        if current is not None:
            self._back_from_detail = True
            self.app.push_screen(DetailScreen(current))
