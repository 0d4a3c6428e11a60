"""Hosts: the fleet view's first screen, one row per host synced to the central database.

Each row is a host's newest sample (when, how long ago, cpu, memory, disk, load, score), its open episodes
by severity and its last sync, read from the server's `metrics_latest` in a thread worker every few
seconds. Stale hosts (no sample for longer than the fleet's stale limit) stand out. Sortable by any column
(`s` next column, `r` reverses, or click a heading), filtered by name with `/`; `enter` opens the host's
History from the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.widgets import DataTable, Footer, Header, Input, Label

from scops_tui.detection.review import SEVERITIES
from scops_tui.errors import ScopsError
from scops_tui.store.timestamps import now_ms
from scops_tui.sync.fleet import HostState
from scops_tui.tui import formatting
from scops_tui.tui.fleet_messages import HostsFailed, HostsLoaded
from scops_tui.tui.screens.base import ScopsScreen
from scops_tui.tui.widgets.columns import Column, fit_columns, hidden_note

if TYPE_CHECKING:
    from scops_tui.tui.fleet import FleetApp

SEVERITY_LETTER = {"critical": "C", "high": "H", "medium": "M", "low": "L"}
SEVERITY_STYLE = {"critical": "bold red", "high": "dark_orange", "medium": "yellow", "low": "blue"}
SORT = Binding.Group("sort", compact=True)

HOST_COLUMNS = (
    Column("host", "host", 16),
    Column("db", "database", 8, drop=5),
    Column("last", "last sample", 16, drop=4),
    Column("age", "age", 11),
    Column("cpu", "cpu %", 5),
    Column("memory", "mem %", 5),
    Column("disk", "disk %", 6, drop=2),
    Column("load", "load", 6, drop=1),
    Column("score", "score", 5),
    Column("open", "open", 12),
    Column("sync", "last sync", 9, drop=3),
)
"""The Hosts table; on a narrow terminal the database id goes first, then the sample time, the sync, disk, load."""


def _open_weight(host: HostState) -> tuple[int, ...]:
    return tuple(host.open_episodes.get(s, 0) for s in reversed(SEVERITIES))


SORT_KEYS: dict[str, Callable[[HostState], Any]] = {
    "host": lambda h: h.label.lower(),
    "db": lambda h: h.key.source_db,
    "last": lambda h: h.last_sample_ms,
    "age": lambda h: -h.last_sample_ms,
    "cpu": lambda h: h.cpu_usage,
    "memory": lambda h: h.memory_usage,
    "disk": lambda h: h.disk_usage,
    "load": lambda h: h.load_1m,
    "score": lambda h: -1.0 if h.anomaly_score is None else h.anomaly_score,
    "open": _open_weight,
    "sync": lambda h: h.last_sync_ms or 0,
}
"""How each column sorts, ascending; `open` by critical, then high, medium and low counts."""
DESCENDING_FIRST = {"age", "cpu", "memory", "disk", "load", "score", "open"}
"""Columns whose first sort is largest first (the host in trouble on top)."""


def ago(ms: int) -> str:
    """How long ago, in a few characters: `12s`, `5m`, `3h`, `2d`."""
    seconds = max(ms // 1000, 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86_400 * 2:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86_400}d"


def open_cells(host: HostState) -> Text:
    """`1C 2H 0M 3L`-style counts of open episodes, each coloured by its band, or `-` for none."""
    if not host.open_total:
        return Text("-", style="dim")
    text = Text()
    for severity in reversed(SEVERITIES):
        count = host.open_episodes.get(severity, 0)
        if count:
            if text:
                text.append(" ")
            text.append(f"{count}{SEVERITY_LETTER[severity]}", style=SEVERITY_STYLE[severity])
    return text


@dataclass(frozen=True)
class FleetFacts:
    """The summary line above the table."""

    hosts: int
    shown: int
    stale: int
    open_by_severity: dict[str, int]


class HostsScreen(ScopsScreen):
    """Every host of the fleet, its latest state and open episodes; enter opens its history."""

    SCREEN_NAME = "Hosts"
    DEFAULT_CSS = """
    HostsScreen #hosts-summary, HostsScreen #hosts-filter-line {
        height: auto;
        width: 100%;
        padding: 0 1;
        background: $boost;
    }
    HostsScreen #hosts-filter { display: none; height: 3; }
    HostsScreen #hosts-filter.visible { display: block; }
    HostsScreen #hosts { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_host", "History", priority=True, id="hosts.history"),
        Binding("j", "cursor_down", "Down", show=False, id="hosts.down"),
        Binding("k", "cursor_up", "Up", show=False, id="hosts.up"),
        Binding("slash", "filter", "Filter", key_display="/", id="hosts.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="hosts.clear_filter"),
        Binding("s", "next_sort", "Sort", tooltip="Sort by the next column", group=SORT, id="hosts.sort"),
        Binding("r", "reverse_sort", "Reverse", tooltip="Reverse the sort order", group=SORT, id="hosts.reverse"),
        Binding("e", "episodes", "Episodes", tooltip="The host's episodes in the queue", id="hosts.episodes"),
        Binding("g", "refresh_now", "Refresh", id="hosts.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.hosts: list[HostState] = []
        self.read_at = 0
        self.sort_column = "open"
        self.descending = True
        self.name_filter = ""
        self.error: str | None = None
        self.loaded = False
        self.columns: list[str] = [c.key for c in HOST_COLUMNS]
        self.hidden: list[str] = []
        self._fitted_width = -1

    @property
    def fleet(self) -> FleetApp:
        """The fleet app, typed."""
        return cast("FleetApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("reading the host list…", id="hosts-summary")
        yield Label("", id="hosts-filter-line")
        yield Input(placeholder="host name contains… (enter keeps it, esc clears)", id="hosts-filter", disabled=True)
        yield DataTable(id="hosts", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Hosts on {self.fleet.target_display}"
        self._fit(self.size.width)
        self.query_one("#hosts", DataTable).focus()
        self.refresh_hosts()
        self.set_interval(self.fleet.refresh_seconds, self.refresh_hosts)

    def on_resize(self, event: Resize) -> None:
        # ScopsScreen's handler (the footer) runs too: Textual calls each class's handler.
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        kept, hidden = fit_columns(HOST_COLUMNS, width - 2)
        if self._fitted_width >= 0 and hidden == self.hidden:
            return
        self._fitted_width = width
        self.hidden = hidden
        self.columns = [c.key for c in kept]
        table = self.query_one("#hosts", DataTable)
        table.clear(columns=True)
        for column in kept:
            table.add_column(self._heading(column), key=column.key, width=column.width)
        self._draw_rows()

    def _heading(self, column: Column) -> str:
        if column.key != self.sort_column:
            return column.label
        return f"{column.label} {'▼' if self.descending else '▲'}"

    # Reading

    def refresh_hosts(self) -> None:
        """Read the host list again (a worker; a read still running is replaced)."""
        if self.app.screen is self or not self.loaded:
            self.load_hosts()

    @work(thread=True, exit_on_error=False, exclusive=True, group="hosts", name="load hosts")
    def load_hosts(self) -> None:
        reader = self.fleet.fleet_reader
        try:
            hosts = reader.hosts()
        except ScopsError as exc:
            self.post_message(HostsFailed(str(exc)))
            return
        # Ages are measured on the server's clock (the viewer's may be off); a fixed test clock wins.
        now = reader.session.server_now_ms if self.fleet.clock is now_ms else None
        self.post_message(HostsLoaded(hosts, now if now is not None else self.fleet.clock()))

    def on_hosts_loaded(self, message: HostsLoaded) -> None:
        self.hosts = message.hosts
        self.read_at = message.read_at
        self.error = None
        self.loaded = True
        if self.fleet.fleet_host is None and message.hosts:
            self.fleet.fleet_host = self._sorted(message.hosts)[0].label
        self._draw_rows()

    def on_hosts_failed(self, message: HostsFailed) -> None:
        self.error = message.error
        self._draw_summary()

    # Drawing

    def _sorted(self, hosts: list[HostState]) -> list[HostState]:
        key = SORT_KEYS[self.sort_column]
        return sorted(sorted(hosts, key=lambda h: h.label.lower()), key=key, reverse=self.descending)

    def shown_hosts(self) -> list[HostState]:
        """The hosts the filter keeps, in the current order."""
        wanted = self.name_filter.lower()
        return [h for h in self._sorted(self.hosts) if not wanted or wanted in h.label.lower()]

    def is_stale(self, host: HostState) -> bool:
        """No sample for longer than the fleet's stale limit."""
        return self.read_at - host.last_sample_ms > self.fleet.stale_ms

    def _draw_rows(self) -> None:
        table = self.query_one("#hosts", DataTable)
        current = self.cursor_host()
        table.clear()
        rows = self.shown_hosts()
        for host in rows:
            table.add_row(*self._cells(host), key=host.label)
        labels = [h.label for h in rows]
        if current in labels:
            table.move_cursor(row=labels.index(current))
        self._draw_summary()

    def _cells(self, host: HostState) -> list[str | Text]:
        stale = self.is_stale(host)
        age = ago(self.read_at - host.last_sample_ms)
        score_style = ""
        if host.anomaly_score is not None:
            score_style = "bold red" if host.anomaly_score >= 0.8 else "yellow" if host.anomaly_score >= 0.4 else ""
        cells: dict[str, str | Text] = {
            "host": Text(host.label, style="bold red" if stale else ""),
            "db": host.key.source_db[:8],
            "last": self.scops.time_format.short(host.last_sample_ms),
            "age": Text(f"{age} stale" if stale else age, style="bold red reverse" if stale else ""),
            "cpu": f"{host.cpu_usage:.1f}",
            "memory": f"{host.memory_usage:.1f}",
            "disk": f"{host.disk_usage:.1f}",
            "load": f"{host.load_1m:.2f}",
            "score": Text(formatting.score(host.anomaly_score), style=score_style),
            "open": open_cells(host),
            "sync": "-" if host.last_sync_ms is None else ago(self.read_at - host.last_sync_ms),
        }
        return [cells[key] for key in self.columns]

    def facts(self) -> FleetFacts:
        """Counts for the summary line."""
        totals = {s: sum(h.open_episodes.get(s, 0) for h in self.hosts) for s in SEVERITIES}
        return FleetFacts(len(self.hosts), len(self.shown_hosts()), sum(self.is_stale(h) for h in self.hosts), totals)

    def _draw_summary(self) -> None:
        facts = self.facts()
        fleet = self.fleet
        opened = ", ".join(
            f"{facts.open_by_severity[s]} {s}" for s in reversed(SEVERITIES) if facts.open_by_severity[s]
        )
        parts = [
            f"[b]{facts.hosts}[/b] hosts",
            f"[b red]{facts.stale} stale[/b red]" if facts.stale else "0 stale",
            f"open episodes: {opened or 'none'}",
            f"as {fleet.role_note}",
        ]
        if self.read_at:
            parts.append(f"read {self.scops.time_format.hm(self.read_at)}")
        if self.error:
            parts.append(f"[b red]{self.error}[/b red]")
        elif not self.loaded:
            parts.append("reading…")
        self.query_one("#hosts-summary", Label).update("   ".join(parts))
        shown = f"showing {facts.shown} of {facts.hosts}   " if self.name_filter else ""
        name = f"filter: [b]{self.name_filter}[/b] (/, esc clears)   " if self.name_filter else "/ filters by name   "
        stale = f"stale after {formatting.span(fleet.stale_ms)} without a sample"
        self.query_one("#hosts-filter-line", Label).update(f"{shown}{name}{stale}{hidden_note(self.hidden)}")

    def cursor_host(self) -> str | None:
        """The label of the host under the cursor."""
        table = self.query_one("#hosts", DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return None if row_key.value is None else str(row_key.value)

    # Actions

    def action_open_host(self) -> None:
        """Open the host under the cursor in History (from the server), its episodes marked."""
        if self.focused is self.query_one("#hosts-filter", Input):
            self.query_one("#hosts", DataTable).focus()
            return
        label = self.cursor_host()
        if label is None:
            self.notify("no host to open", severity="warning")
            return
        self.fleet.open_history(label)

    def action_episodes(self) -> None:
        """Open the queue on the host under the cursor."""
        label = self.cursor_host()
        if label is not None:
            self.fleet.open_queue(label)

    def action_cursor_down(self) -> None:
        """Move the cursor down a row."""
        self.query_one("#hosts", DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        """Move the cursor up a row."""
        self.query_one("#hosts", DataTable).action_cursor_up()

    def action_filter(self) -> None:
        """Show the name filter and focus it."""
        box = self.query_one("#hosts-filter", Input)
        box.disabled = False
        box.add_class("visible")
        box.value = self.name_filter
        box.focus()

    def action_clear_filter(self) -> None:
        """Clear the name filter and hide it."""
        box = self.query_one("#hosts-filter", Input)
        box.value = ""
        box.remove_class("visible")
        box.disabled = True
        self.name_filter = ""
        self.query_one("#hosts", DataTable).focus()
        self._draw_rows()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "hosts-filter":
            self.name_filter = event.value.strip()
            self._draw_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "hosts-filter":
            if not self.name_filter:
                event.input.remove_class("visible")
                event.input.disabled = True
            self.query_one("#hosts", DataTable).focus()

    def action_next_sort(self) -> None:
        """Sort by the next visible column (its natural direction first)."""
        keys = self.columns
        index = keys.index(self.sort_column) if self.sort_column in keys else -1
        self.sort_by(keys[(index + 1) % len(keys)])

    def action_reverse_sort(self) -> None:
        """Reverse the sort order."""
        self.descending = not self.descending
        self._redraw_headings()

    def sort_by(self, column: str) -> None:
        """Sort by `column`; the same column again reverses the order."""
        if column == self.sort_column:
            self.descending = not self.descending
        else:
            self.sort_column = column
            self.descending = column in DESCENDING_FIRST
        self._redraw_headings()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if event.column_key.value is not None:
            self.sort_by(str(event.column_key.value))

    def _redraw_headings(self) -> None:
        self._fitted_width = -1
        self._fit(self.size.width)

    def action_refresh_now(self) -> None:
        """Read the host list now."""
        self.load_hosts()
