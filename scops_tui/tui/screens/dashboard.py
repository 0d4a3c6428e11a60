"""The dashboard: live charts of every metric, the current anomaly score, live extras, top processes, status line."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Label, Static

from scops_tui.detection.episodes import severity_of
from scops_tui.errors import ScopsError
from scops_tui.recording.processes import ProcessUsage
from scops_tui.store.records import MetricRecord
from scops_tui.tui import formatting, readers
from scops_tui.tui.live_extras import LiveExtras, LiveExtrasReader
from scops_tui.tui.messages import LiveExtrasLoaded, ProcessesLoaded, RecentSamplesLoaded, StatusLoaded
from scops_tui.tui.readers import StatusFacts
from scops_tui.tui.screens.base import ScopsScreen, set_text
from scops_tui.tui.widgets.chart import ChartData, Kind, MetricChart
from scops_tui.tui.widgets.process_table import ProcessTable
from scops_tui.tui.widgets.text_line import TextLine

CHARTS: tuple[tuple[str, str, Kind], ...] = (
    ("cpu", "CPU", "percent"),
    ("memory", "Memory", "percent"),
    ("disk", "Disk use", "percent"),
    ("load", "Load 1m", "plain"),
    ("diskio", "Disk I/O", "rate"),
    ("network", "Net", "rate"),
)
SORTS = ("cpu", "memory", "pid", "name")
PROCESS_SCAN = 400
"""Processes detailed per refresh when sorting by memory, pid or name or filtering: (nearly) all of them."""
TOP_BY_CPU = 40
"""Processes detailed per refresh when the table shows the top by CPU (memory and user cost a read each)."""
PROCESS_COLUMNS = (("pid", 7), ("name", 24), ("cpu %", 6), ("mem %", 6), ("user", 12))
NARROW = 100
"""Below this width the process table drops its user column (the least useful) and says so."""
LIVE_WINDOW_SECONDS = 600
"""The dashboard's live charts show the last ten minutes (120 samples at the default 5-s interval)."""
LIVE_WINDOW_MS = LIVE_WINDOW_SECONDS * 1000
LIVE_MARGIN_SECONDS = 60
"""Samples kept beyond the window: the oldest one dropped as a new one comes is then off the plot."""
clock = time.monotonic
"""The dashboard's clock for display periods (tests replace it)."""
PAINT_EARLY_SECONDS = 0.2
"""A sample that comes this much before its display period ends still paints at once (arrival jitter)."""


def live_points(interval: float) -> int:
    """Samples kept for the live charts at a sampling `interval`: the window and its margin."""
    return max(int(-(-(LIVE_WINDOW_SECONDS + LIVE_MARGIN_SECONDS) // max(interval, 0.001))), 2)


LIVE_VALUES: dict[str, Callable[[MetricRecord], float]] = {
    "cpu": lambda r: r.cpu_usage,
    "memory": lambda r: r.memory_usage,
    "disk": lambda r: r.disk_usage,
    "load": lambda r: r.load_1m,
    "diskio": lambda r: float(r.disk_io_read + r.disk_io_write),
    "network": lambda r: float(r.network_rx + r.network_tx),
}
"""What each live chart plots of a sample."""
Point = tuple[int, float, float | None]


def sort_processes(processes: list[ProcessUsage], key: str, text: str) -> list[ProcessUsage]:
    """The processes whose name, user or pid contains `text`, ordered by `key` (cpu and memory: largest first)."""
    needle = text.strip().lower()
    chosen = [
        p
        for p in processes
        if not needle or needle in p.name.lower() or needle in (p.username or "").lower() or needle == str(p.pid)
    ]
    orders = {
        "cpu": lambda p: (-p.cpu_percent, p.pid),
        "memory": lambda p: (-p.memory_percent, p.pid),
        "pid": lambda p: (p.pid,),
        "name": lambda p: (p.name.lower(), p.pid),
    }
    return sorted(chosen, key=orders[key])


class DashboardScreen(ScopsScreen):
    """What the host does now."""

    SCREEN_NAME = "Dashboard"
    AUTO_FOCUS = "#processes"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "refresh", "Refresh", id="dashboard.refresh"),
        Binding("e", "toggle_extras", "Extras", tooltip="Per-core CPU, swap, disks, interfaces", id="dashboard.extras"),
        Binding("o", "cycle_sort", "Sort", tooltip="Sort processes: cpu, memory, pid, name", id="dashboard.sort"),
        Binding("slash", "filter", "Filter", key_display="/", tooltip="Filter processes", id="dashboard.filter"),
        Binding(
            "y", "autoscale", "Scale", tooltip="Percent charts: fixed 0-100 or autoscale", id="dashboard.autoscale"
        ),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="dashboard.clear_filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.facts: StatusFacts | None = None
        self.facts_error: str | None = None
        self.processes: list[ProcessUsage] = []
        self.sort_key = "cpu"
        self.filter_text = ""
        self.extras_on = False
        self.extras: LiveExtras | None = None
        self.extras_reader = LiveExtrasReader()
        self._narrow: bool | None = None
        self._drawn_rows: list[list[str]] | None = None
        self._drawn_title = ""
        self._live: dict[str, deque[Point]] | None = None
        """Each live chart's points, a sample appended as it comes (None: to be rebuilt from the app's samples)."""
        self._unpainted: MetricRecord | None = None
        """The newest sample not on screen yet (the display period since the last repaint has not passed)."""
        self._deferred: set[str] = set()
        """Parts whose new data waits for the next repaint of the live part: "status", "processes"."""
        self._live_painted_at = -math.inf
        self._sample_at = -math.inf
        self._paint_timer: Timer | None = None
        self.live_paints = 0
        """How many times the live part (charts, headlines, score line) was painted (tests count them)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="status-line")
        time_format = self.scops.time_format
        with Grid(id="dashboard-charts"):
            for key, title, kind in CHARTS:
                yield MetricChart(title, kind=kind, time_format=time_format, id=f"chart-{key}")
        with Horizontal(id="score-row"):
            yield TextLine("anomaly score: waiting for a sample", id="anomaly-score")
        yield Static("", id="live-extras")
        yield Label("", id="processes-title", classes="section-title")
        yield Input(
            placeholder="filter processes by name, user or pid; enter keeps it, escape clears", id="process-filter"
        )
        yield ProcessTable(id="processes")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Dashboard"
        self._columns(self.size.width < NARROW)
        self.draw_status()
        self._draw_process_title()
        self.load_recent()  # the status and processes are read when the screen shows (on_screen_resume)
        self.set_interval(self.scops.refresh_seconds, self._tick)

    def on_resize(self, event: Resize) -> None:
        self._columns(event.size.width < NARROW)

    def _columns(self, narrow: bool) -> None:
        if narrow == self._narrow:
            return
        self._narrow = narrow
        self._drawn_rows = None
        columns = [(label, width) for label, width in PROCESS_COLUMNS if not (narrow and label == "user")]
        self.query_one("#processes", ProcessTable).set_columns(columns)
        self._draw_processes()
        self._draw_process_title()

    def action_refresh(self) -> None:
        """Re-read the status line's facts, the top processes and (when shown) the live extras."""
        self.load_status()
        self._refresh_live()

    def _refresh_live(self) -> None:
        self.load_processes()
        if self.extras_on:
            self.load_extras()

    @property
    def shown(self) -> bool:
        """Whether the dashboard is in front and the terminal too (a terminal that reports focus says when
        it is in the background): otherwise nothing is drawn and no process is scanned."""
        return self.is_current and self.app.app_focus

    def _tick(self) -> None:
        # Nothing to refresh while another screen or another window is in front: no process scan then. The
        # status facts come from the app's database watch, read only when the database changed.
        if self.shown:
            self._refresh_live()

    def app_focus_changed(self, focused: bool) -> None:
        """Back in front: catch up at once with the samples taken and the facts changed meanwhile."""
        if focused and self.is_current:
            self.action_refresh()
            self.draw_live(list(self.scops.recent))

    @work(thread=True, exit_on_error=False, group="dashboard-recent", name="recent samples")
    def load_recent(self) -> None:
        app = self.scops
        try:
            records = app.reader.recent(app.settings.source, app.live_points)
        except ScopsError:
            return  # no database yet: the recorder is creating it, live samples will fill the charts
        self.app.post_message(RecentSamplesLoaded(records))

    @work(thread=True, exit_on_error=False, exclusive=True, group="dashboard-status", name="status")
    def load_status(self) -> None:
        """Read the status facts now, on a connection of its own (ctrl+r, the dashboard shown again, the
        recorder started); the app's database watch reads them after every change otherwise."""
        self.scops.post_message(StatusLoaded(self.scops.read_status(None)))

    @work(thread=True, exit_on_error=False, exclusive=True, group="dashboard-processes", name="top processes")
    def load_processes(self) -> None:
        limit = TOP_BY_CPU if self.sort_key == "cpu" and not self.filter_text else PROCESS_SCAN
        self.post_message(ProcessesLoaded(self.scops.process_reader(limit)))

    def on_screen_resume(self) -> None:
        self.action_refresh()
        self.draw_live(list(self.scops.recent))  # samples taken while another screen was in front

    @work(thread=True, exit_on_error=False, exclusive=True, group="dashboard-extras", name="live extras")
    def load_extras(self) -> None:
        self.post_message(LiveExtrasLoaded(self.extras_reader.read()))

    def show_status(self, facts: StatusFacts) -> None:
        """New status facts (from the app's database watch or `load_status`): drawn if they differ."""
        if facts != self.facts:
            self.facts = facts
            self._deferred.add("status")
            self._request_paint(live=False)

    def on_processes_loaded(self, message: ProcessesLoaded) -> None:
        if message.processes != self.processes:
            self.processes = message.processes
            self._deferred.add("processes")
            self._request_paint(live=False)

    def on_live_extras_loaded(self, message: LiveExtrasLoaded) -> None:
        self.extras = message.extras
        self._draw_extras()

    # Processes

    def _draw_processes(self) -> None:
        shown = sort_processes(self.processes, self.sort_key, self.filter_text)
        narrow = bool(self._narrow)
        rows = []
        for process in shown[:50]:
            cells = [str(process.pid), process.name, f"{process.cpu_percent:.1f}", f"{process.memory_percent:.1f}"]
            if not narrow:
                cells.append(process.username or "-")
            rows.append(cells)
        self._draw_process_title(len(shown))
        if rows == self._drawn_rows:
            return  # the same figures as on screen: nothing to repaint
        self._drawn_rows = rows
        self.query_one("#processes", ProcessTable).show(rows)

    def _draw_process_title(self, count: int | None = None) -> None:
        parts = [f"Processes by [b]{self.sort_key}[/b] (o)"]
        if self.filter_text:
            parts.append(f'filter "[b]{Text(self.filter_text).markup}[/b]" (/, esc clears)')
        if count is not None and self.filter_text:
            parts.append(f"{count} match")
        if self._narrow:
            parts.append("user column hidden: widen to see it")
        title = "   ".join(parts)
        if title != self._drawn_title:
            self._drawn_title = title
            self.query_one("#processes-title", Label).update(title)

    def action_cycle_sort(self) -> None:
        """Sort the processes by the next key: cpu, memory, pid, name."""
        self.sort_key = SORTS[(SORTS.index(self.sort_key) + 1) % len(SORTS)]
        self._draw_processes()
        if self.sort_key == "memory":
            self.load_processes()  # the top by CPU may not hold the top by memory: read them all

    def action_filter(self) -> None:
        """Show the filter box: processes whose name, user or pid contain the text."""
        box = self.query_one("#process-filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "process-filter":
            widened = bool(event.value) and not self.filter_text
            self.filter_text = event.value
            self._draw_processes()
            if widened:
                self.load_processes()  # a filter looks at every process, not only the top by CPU

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "process-filter":
            event.input.display = False
            self.query_one("#processes", ProcessTable).focus()

    def action_clear_filter(self) -> None:
        """Clear the process filter and hide its box."""
        box = self.query_one("#process-filter", Input)
        box.value = ""
        box.display = False
        self.filter_text = ""
        self._draw_processes()

    # Extras and scale

    def action_toggle_extras(self) -> None:
        """Show or hide per-core CPU, swap, and per-disk and per-interface rates (live, not stored)."""
        self.extras_on = not self.extras_on
        self.query_one("#live-extras").display = self.extras_on
        if self.extras_on:
            self.query_one("#live-extras", Static).update("live extras: measuring…")
            self.load_extras()

    def _draw_extras(self) -> None:
        extras = self.extras
        if extras is None or not self.extras_on:
            return
        lines = []
        if extras.cores:
            cells = [f"{index}:{value:3.0f}%" for index, value in enumerate(extras.cores)]
            lines.append("[b]cores[/b] " + " ".join(cells))
        if extras.swap_total:
            share = 100 * extras.swap_used / extras.swap_total
            swap = (
                f"{formatting.byte_size(extras.swap_used)} of {formatting.byte_size(extras.swap_total)} ({share:.0f} %)"
            )
        else:
            swap = "none"
        lines.append(f"[b]swap[/b] {swap}")
        disks = "  ".join(
            f"{d.name} r {formatting.compact_rate(d.incoming)} w {formatting.compact_rate(d.outgoing)}"
            for d in extras.disks
        )
        nics = "  ".join(
            f"{n.name} rx {formatting.compact_rate(n.incoming)} tx {formatting.compact_rate(n.outgoing)}"
            for n in extras.interfaces
        )
        lines.append(f"[b]disks[/b] {disks or 'measuring…' if not extras.cores else disks or '-'}")
        lines.append(f"[b]net[/b] {nics or 'measuring…' if not extras.cores else nics or '-'}")
        self.query_one("#live-extras", Static).update("\n".join(lines))

    def action_autoscale(self) -> None:
        """Switch the percent charts between the fixed 0-100 scale and fitting their data."""
        for key in ("cpu", "memory", "disk"):
            chart = self.query_one(f"#chart-{key}", MetricChart)
            chart.set_autoscale(not chart.autoscale)

    # Status and charts

    def status_parts(self) -> list[str]:
        """The status line's parts, most important first: recording, anomalies, sync, model, database."""
        app = self.scops
        facts = self.facts
        parts = [app.recording_state]
        if facts is not None and facts.error:
            parts.append(facts.error)
        elif facts is not None:
            parts.append(f"open anomalies: {facts.open_anomalies}")
        if facts is not None and facts.alert_state:
            parts.append(facts.alert_state)
        if facts is not None and facts.sync_state:
            parts.append(facts.sync_state)
        elif readers.sync_target(app.settings) is None:
            parts.append("sync: not configured")
        if facts is not None and not facts.error:
            parts.append(f"model v{facts.deployed_version}" if facts.deployed_version else "model: none deployed")
            parts.append(f"db {formatting.short_path(app.settings.db, 30)} {formatting.byte_size(facts.size_bytes)}")
        else:
            parts.append(f"db {formatting.short_path(app.settings.db, 30)}")
        return parts

    def draw_status(self) -> None:
        """Recording state, open anomalies, sync state, deployed model, database (wraps on a narrow terminal)."""
        set_text(self.query_one("#status-line", Label), " │ ".join(self.status_parts()))

    def draw_live(self, records: list[MetricRecord]) -> None:
        """Redraw the charts from the newest samples; only charts whose data changed repaint."""
        if not records:
            return
        self._live = {key: deque(maxlen=self.scops.live_points) for key in LIVE_VALUES}
        for record in records:
            self._append(record)
        self._unpainted = records[-1]
        self._paint()

    def sample_taken(self, record: MetricRecord) -> None:
        """Add the recorder's newest sample to the live charts (the app keeps it too).

        The live part (charts, headlines, score line) repaints at most once per display period
        (`[tui] display`, 2 s by default): a sample that comes sooner is added to the charts' data and waits,
        and the next repaint shows the newest sample as headline and every sample since in the plots. A
        chart's plot repaints only when the new samples change one of its dots (see `MetricChart.show`).
        Behind another screen or window nothing is drawn: the charts are rebuilt from the app's samples when
        the dashboard shows again.
        """
        if not self.shown:
            self._live = None
            self._unpainted = None
        elif self._live is None:
            self.draw_live(list(self.scops.recent))
        else:
            self._append(record)
            self._unpainted = record
            self._sample_at = clock()
            self._request_paint(live=True)

    def _request_paint(self, *, live: bool) -> None:
        """Paint now, or at the end of the display period when the live part was painted less than a period
        ago. New status facts or processes wait for the next live repaint while samples come faster than
        the period (one frame instead of two); otherwise they paint at once."""
        app = self.scops
        period, interval = app.display_seconds, app.settings.interval
        now = clock()
        due = self._live_painted_at + period
        # While samples come faster than the period, the one expected at `due` paints; the timer is the
        # fallback for a sample that does not come (wait half an interval more for it).
        slack = interval / 2 if interval < period else 0.0
        if live:
            if now >= due - min(PAINT_EARLY_SECONDS, period / 4):
                self._paint()
                return
        else:
            flowing = interval < period and now - self._sample_at < 2 * interval
            if not flowing or now >= due + slack:
                self._paint()
                return
        if self._paint_timer is None:
            self._paint_timer = self.set_timer(max(due + slack - now, 0.0), self._paint, name="dashboard paint")

    def _paint(self) -> None:
        """Show what waits: the newest sample in the live part, new status facts, new processes."""
        if self._paint_timer is not None:
            self._paint_timer.stop()
            self._paint_timer = None
        deferred, self._deferred = self._deferred, set()
        record, self._unpainted = self._unpainted, None
        if "status" in deferred:
            self.draw_status()
        if "processes" in deferred:
            self._draw_processes()
        if record is None or self._live is None:
            return
        if not self.shown:
            self._live = None  # rebuilt from the app's samples when the dashboard shows again
            return
        self._live_painted_at = clock()
        self.live_paints += 1
        self._show_live(record)

    def _append(self, record: MetricRecord) -> None:
        assert self._live is not None
        for key, value_of in LIVE_VALUES.items():
            self._live[key].append((record.timestamp_ms, value_of(record), record.anomaly_score))

    def _show_live(self, last: MetricRecord) -> None:
        assert self._live is not None
        interval_ms = int(self.scops.settings.interval * 1000)
        # The window ends at the newest sample, rounded up by the chart to the end of its slot: the plot moves
        # by a slot when a sample opens the next one, and only then.
        end = last.timestamp_ms + 1
        start = end - LIVE_WINDOW_MS
        hold = int(interval_ms * 2.5)
        headlines = {
            "cpu": (f"{last.cpu_usage:.1f} %", ""),
            "memory": (f"{last.memory_usage:.1f} %", ""),
            "disk": (f"{last.disk_usage:.1f} %", ""),
            "load": (f"{last.load_1m:.2f}", ""),
            "diskio": (
                f"r {formatting.rate(last.disk_io_read)} w {formatting.rate(last.disk_io_write)}",
                f"r {formatting.compact_rate(last.disk_io_read)} w {formatting.compact_rate(last.disk_io_write)}",
            ),
            "network": (
                f"rx {formatting.rate(last.network_rx)} tx {formatting.rate(last.network_tx)}",
                f"rx {formatting.compact_rate(last.network_rx)} tx {formatting.compact_rate(last.network_tx)}",
            ),
        }
        for key, (headline, short) in headlines.items():
            data = ChartData(
                start, end, tuple(self._live[key]), hold, headline=headline, headline_short=short, snap=True
            )
            self.query_one(f"#chart-{key}", MetricChart).show(data)
        self._draw_score(last)

    def _draw_score(self, last: MetricRecord) -> None:
        score = last.anomaly_score
        line = self.query_one("#anomaly-score", TextLine)
        when = f"{self.scops.time_format.clock(last.timestamp_ms)} {self.scops.time_format.zone}"
        if score is None:
            line.update(f"anomaly score: not scored  (sample at {when})")
            return
        severity = formatting.severity_word(severity_of(score), score)
        text = Text.assemble(
            "anomaly score: ", (f"{score:.3f}", "bold"), "  severity: ", (severity, "bold"), no_wrap=True
        )
        if last.is_anomaly:
            text.append("  ")
            text.append("ANOMALY", style="bold red")
        text.append(f"  (sample at {when})")
        line.update(text)
