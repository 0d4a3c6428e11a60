"""The review queue: episodes newest first, filtered by status and severity, reviewed one by one or in bulk."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Label

from scops_tui.detection.review import SEVERITIES, Episode, Status
from scops_tui.tui import formatting, readers
from scops_tui.tui.messages import EpisodesLoaded
from scops_tui.tui.screens.review_base import ReviewScreen

STATUSES: tuple[Status, ...] = ("all", "open", "acknowledged", "resolved")
SEVERITY_FILTERS: tuple[str | None, ...] = (None, *SEVERITIES)
SEVERITY_STYLE = {"critical": "bold red", "high": "dark_orange", "medium": "yellow", "low": "blue"}


def metrics_involved(episode: Episode, limit: int = 3) -> str:
    """The names of the metrics that deviated most, largest first."""
    names = [str(item.get("metric", "?")) for item in episode.contributing_metrics[:limit]]
    return ", ".join(names) or "-"


MOVE = Binding.Group("move", compact=True)


class AnomaliesScreen(ReviewScreen):
    """The anomaly review queue."""

    SCREEN_NAME = "Anomalies"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", group=MOVE, id="anomalies.down"),
        Binding("k", "cursor_up", "Up", group=MOVE, id="anomalies.up"),
        Binding("space", "toggle_mark", "Mark", id="anomalies.mark"),
        Binding("a", "acknowledge", "Ack", tooltip="Acknowledge", id="anomalies.acknowledge"),
        Binding("c", "confirm", "Confirm", id="anomalies.confirm"),
        Binding("f", "false_positive", "False pos", tooltip="False positive", id="anomalies.false_positive"),
        Binding("r", "resolve", "Resolve", id="anomalies.resolve"),
        Binding("enter", "details", "Details", priority=True, id="anomalies.details"),
        Binding("s", "cycle_status", "Status", tooltip="Status filter", id="anomalies.status_filter"),
        Binding("v", "cycle_severity", "Severity", tooltip="Severity filter", id="anomalies.severity_filter"),
        Binding("u", "clear_marks", "Unmark", tooltip="Unmark all", id="anomalies.clear_marks"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status: Status = "all"
        self.severity: str | None = None
        self.episodes: dict[int, Episode] = {}
        self.marked: set[int] = set()
        self._select_first = True
        self._back_from_detail = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="queue-filter")
        yield DataTable(id="episodes", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Anomalies"
        table = self.query_one("#episodes", DataTable)
        for label, key in (
            ("", "mark"),
            ("id", "id"),
            ("time (UTC)", "time"),
            ("source", "source"),
            ("severity", "severity"),
            ("peak", "peak"),
            ("status", "status"),
            ("verdict", "verdict"),
            ("metrics involved", "metrics"),
        ):
            table.add_column(label, key=key)
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
        self.post_message(EpisodesLoaded(readers.read_episodes(self.scops.settings.db, status, severity)))

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

    def _cells(self, episode: Episode) -> list[str | Text]:
        severity = episode.severity or "-"
        return [
            "●" if episode.id in self.marked else " ",
            str(episode.id),
            formatting.clock_time(episode.timestamp),
            episode.source,
            Text(severity, style=SEVERITY_STYLE.get(severity, "")),
            formatting.score(episode.peak_score),
            episode.status,
            (episode.verdict or "-").replace("_", " "),
            metrics_involved(episode),
        ]

    def _draw_filter(self) -> None:
        marked = f"   marked: {len(self.marked)}" if self.marked else ""
        self.query_one("#queue-filter", Label).update(
            f"status: [b]{self.status}[/b]   severity: [b]{self.severity or 'all'}[/b]   "
            f"episodes: {len(self.episodes)}{marked}"
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
        """Show the next status: all, open, acknowledged, resolved."""
        self.status = STATUSES[(STATUSES.index(self.status) + 1) % len(STATUSES)]
        self._select_first = True
        self.reload()

    def action_cycle_severity(self) -> None:
        """Show the next severity: all, low, medium, high, critical."""
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
