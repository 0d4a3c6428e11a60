"""The dashboard: live charts of every metric, the current anomaly score, top processes and the status line."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal
from textual.widgets import DataTable, Footer, Header, Label

from scops_tui.detection.episodes import severity_of
from scops_tui.errors import ScopsError
from scops_tui.store.records import MetricRecord
from scops_tui.tui import formatting, readers
from scops_tui.tui.messages import ProcessesLoaded, RecentSamplesLoaded, StatusLoaded
from scops_tui.tui.readers import StatusFacts
from scops_tui.tui.screens.base import ScopsScreen
from scops_tui.tui.widgets.chart import MetricChart

CHARTS = (
    ("cpu", "CPU"),
    ("memory", "Memory"),
    ("disk", "Disk use"),
    ("load", "Load (1 min)"),
    ("diskio", "Disk I/O"),
    ("network", "Network"),
)


class DashboardScreen(ScopsScreen):
    """What the host does now."""

    SCREEN_NAME = "Dashboard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "refresh", "Refresh", id="dashboard.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.facts: StatusFacts | None = None
        self.facts_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="status-line")
        with Grid(id="dashboard-charts"):
            for key, title in CHARTS:
                yield MetricChart(title, id=f"chart-{key}")
        with Horizontal(id="score-row"):
            yield Label("anomaly score: waiting for a sample", id="anomaly-score")
        yield Label("Top processes by CPU", classes="section-title")
        yield DataTable(id="processes", cursor_type="none", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Dashboard"
        table = self.query_one("#processes", DataTable)
        table.add_columns("pid", "name", "cpu %", "mem %", "user")
        self.draw_status()
        self.load_recent()
        self.action_refresh()
        self.set_interval(self.scops.refresh_seconds, self.action_refresh)

    def action_refresh(self) -> None:
        """Re-read the status line's facts and the top processes."""
        self.load_status()
        self.load_processes()

    @work(thread=True, exit_on_error=False, group="dashboard-recent", name="recent samples")
    def load_recent(self) -> None:
        app = self.scops
        try:
            records = readers.read_recent(app.settings.db, app.settings.source, 120)
        except ScopsError:
            return  # no database yet: the recorder is creating it, live samples will fill the charts
        self.app.post_message(RecentSamplesLoaded(records))

    @work(thread=True, exit_on_error=False, exclusive=True, group="dashboard-status", name="status")
    def load_status(self) -> None:
        settings = self.scops.settings
        sync_state = readers.read_sync_state(settings)
        try:
            facts = readers.read_status(settings.db, settings.source)
        except ScopsError as exc:
            self.post_message(StatusLoaded(StatusFacts(0, None, 0, error=str(exc), sync_state=sync_state)))
            return
        self.post_message(StatusLoaded(replace(facts, sync_state=sync_state)))

    @work(thread=True, exit_on_error=False, exclusive=True, group="dashboard-processes", name="top processes")
    def load_processes(self) -> None:
        self.post_message(ProcessesLoaded(self.scops.process_reader(10)))

    def on_status_loaded(self, message: StatusLoaded) -> None:
        self.facts = message.facts
        self.draw_status()

    def on_processes_loaded(self, message: ProcessesLoaded) -> None:
        table = self.query_one("#processes", DataTable)
        table.clear()
        for process in message.processes:
            table.add_row(
                str(process.pid),
                process.name,
                f"{process.cpu_percent:.1f}",
                f"{process.memory_percent:.1f}",
                process.username or "-",
            )

    def draw_status(self) -> None:
        """Recording state, database path and size, deployed model, open anomalies, sync state."""
        app = self.scops
        facts = self.facts
        parts = [app.recording_state, f"db {formatting.short_path(app.settings.db)}"]
        if facts is not None and facts.error:
            parts.append(facts.error)
        elif facts is not None:
            parts.append(formatting.byte_size(facts.size_bytes))
            parts.append(f"model v{facts.deployed_version}" if facts.deployed_version else "model: none deployed")
            parts.append(f"open anomalies: {facts.open_anomalies}")
        if facts is not None and facts.alert_state:
            parts.append(facts.alert_state)
        if facts is not None and facts.sync_state:
            parts.append(facts.sync_state)
        elif readers.sync_target(app.settings) is None:
            parts.append("sync: not configured")
        self.query_one("#status-line", Label).update(" │ ".join(parts))

    def draw_live(self, records: list[MetricRecord]) -> None:
        """Redraw the charts from the newest samples (new lists each time)."""
        if not records:
            return
        last = records[-1]
        series = {
            "cpu": ([r.cpu_usage for r in records], f"{last.cpu_usage:.1f} %"),
            "memory": ([r.memory_usage for r in records], f"{last.memory_usage:.1f} %"),
            "disk": ([r.disk_usage for r in records], f"{last.disk_usage:.1f} %"),
            "load": ([r.load_1m for r in records], f"{last.load_1m:.2f}"),
            "diskio": (
                [float(r.disk_io_read + r.disk_io_write) for r in records],
                f"r {formatting.rate(last.disk_io_read)} w {formatting.rate(last.disk_io_write)}",
            ),
            "network": (
                [float(r.network_rx + r.network_tx) for r in records],
                f"rx {formatting.rate(last.network_rx)} tx {formatting.rate(last.network_tx)}",
            ),
        }
        for key, (values, reading) in series.items():
            self.query_one(f"#chart-{key}", MetricChart).show(values, reading)
        score = last.anomaly_score
        label = self.query_one("#anomaly-score", Label)
        if score is None:
            label.update(f"anomaly score: not scored  (sample at {formatting.clock_time(last.timestamp_ms)} UTC)")
        else:
            severity = severity_of(score)
            flag = "  [b red]ANOMALY[/]" if last.is_anomaly else ""
            label.update(
                f"anomaly score: [b]{score:.3f}[/b]  severity: [b]{severity}[/b]{flag}"
                f"  (sample at {formatting.clock_time(last.timestamp_ms)} UTC)"
            )
