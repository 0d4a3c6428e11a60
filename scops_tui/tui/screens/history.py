"""History: any window from 15 minutes to everything, downsampled in SQL, panned and zoomed by key."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Label

from scops_tui.store import database as store
from scops_tui.tui import formatting, readers
from scops_tui.tui.messages import HistoryLoaded, MissedMarked
from scops_tui.tui.screens.base import ScopsScreen
from scops_tui.tui.screens.detail import chart_series, episode_marks
from scops_tui.tui.screens.dialogs import SpanDialog
from scops_tui.tui.widgets.chart import EpisodeStrip, MetricChart

MINUTE = 60_000
RANGES: dict[str, int | None] = {
    "15m": 15 * MINUTE,
    "1h": 60 * MINUTE,
    "6h": 6 * 60 * MINUTE,
    "24h": 24 * 60 * MINUTE,
    "7d": 7 * 24 * 60 * MINUTE,
    "30d": 30 * 24 * 60 * MINUTE,
    "all": None,
}
HISTORY_CHARTS = (
    ("cpu_usage", "CPU %"),
    ("memory_usage", "Memory %"),
    ("disk_usage", "Disk use %"),
    ("load_1m", "Load (1 min)"),
    ("disk_io", "Disk I/O (read + write)"),
    ("network", "Network (rx + tx)"),
    ("score", "Anomaly score (max)"),
)
MIN_SPAN_MS = 60_000
RANGE = Binding.Group("range", compact=True)
PAN = Binding.Group("pan")
ZOOM = Binding.Group("zoom", compact=True)


class HistoryScreen(ScopsScreen):
    """Charts of any stored window of this host, episodes marked under them."""

    SCREEN_NAME = "History"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "range('15m')", "15 min", group=RANGE, id="history.range_15m"),
        Binding("h", "range('1h')", "1 h", group=RANGE, id="history.range_1h"),
        Binding("s", "range('6h')", "6 h", group=RANGE, id="history.range_6h"),
        Binding("d", "range('24h')", "24 h", group=RANGE, id="history.range_24h"),
        Binding("w", "range('7d')", "7 d", group=RANGE, id="history.range_7d"),
        Binding("o", "range('30d')", "30 d", group=RANGE, id="history.range_30d"),
        Binding("a", "range('all')", "All", group=RANGE, id="history.range_all"),
        Binding("left", "pan(-1)", "Earlier", priority=True, group=PAN, id="history.pan_earlier"),
        Binding("right", "pan(1)", "Later", priority=True, group=PAN, id="history.pan_later"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", key_display="+", group=ZOOM, id="history.zoom_in"),
        Binding("minus", "zoom(2)", "Zoom out", key_display="-", group=ZOOM, id="history.zoom_out"),
        Binding("x", "mark_missed", "Mark missed", id="history.mark_missed"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.range_name = "1h"
        self.start_ms = 0
        self.end_ms = 0
        self.loaded_label = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="history-range")
        with VerticalScroll(id="history-body"):
            for key, title in HISTORY_CHARTS:
                yield MetricChart(title, id=f"history-{key}")
            yield EpisodeStrip("", id="history-strip")
            yield Label("", id="history-episodes", classes="axis")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "History"
        self.call_after_refresh(self.action_range, "1h")

    def _buckets(self) -> int:
        return max(self.query_one("#history-cpu_usage", MetricChart).content_size.width, 20)

    def action_range(self, name: str) -> None:
        """Show the last `name` of history (15m, 1h, 6h, 24h, 7d, 30d or all) up to now."""
        self.range_name = name
        span = RANGES[name]
        if span is None:
            self.load_all(self._buckets())
            return
        end = self.scops.clock()
        self.show_window(end - span, end, name)

    def action_pan(self, direction: int) -> None:
        """Move the window by half its width, earlier (-1) or later (1)."""
        shift = (self.end_ms - self.start_ms) // 2 * direction
        self.show_window(self.start_ms + shift, self.end_ms + shift, "panned")

    def action_zoom(self, factor: float) -> None:
        """Narrow (0.5) or widen (2) the window around its middle."""
        middle = (self.start_ms + self.end_ms) // 2
        half = max(int((self.end_ms - self.start_ms) * factor) // 2, MIN_SPAN_MS // 2)
        self.show_window(middle - half, middle + half, "zoomed")

    def show_window(self, start_ms: int, end_ms: int, label: str) -> None:
        """Load and draw [start, end)."""
        self.start_ms, self.end_ms = start_ms, end_ms
        self._draw_range(label, loading=True)
        self.load_window(start_ms, end_ms, self._buckets(), label)

    def _draw_range(self, label: str, *, loading: bool = False) -> None:
        self.query_one("#history-range", Label).update(
            f"range [b]{label}[/b] ({formatting.span(self.end_ms - self.start_ms)}): "
            f"{formatting.clock_time(self.start_ms)} → {formatting.clock_time(self.end_ms)} UTC"
            + ("  loading…" if loading else "")
        )

    @work(thread=True, exit_on_error=False, exclusive=True, group="history", name="load history")
    def load_window(self, start_ms: int, end_ms: int, buckets: int, label: str) -> None:
        app = self.scops
        view = readers.read_history(app.settings.db, app.settings.source, start_ms, end_ms, buckets)
        self.post_message(HistoryLoaded(view, label))

    @work(thread=True, exit_on_error=False, exclusive=True, group="history", name="load history")
    def load_all(self, buckets: int) -> None:
        app = self.scops
        bounds = readers.read_bounds(app.settings.db, app.settings.source)
        start, end = bounds if bounds is not None else (app.clock() - 60 * MINUTE, app.clock())
        end = max(end + 1, start + MIN_SPAN_MS)
        view = readers.read_history(app.settings.db, app.settings.source, start, end, buckets)
        self.post_message(HistoryLoaded(view, "all"))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        view = message.view
        self.start_ms, self.end_ms = view.start_ms, view.end_ms
        self.loaded_label = message.label
        self._draw_range(message.label)
        for key, _title in HISTORY_CHARTS:
            values = chart_series(view, key)
            peak = max(values, default=0.0)
            if key == "score":
                reading = f"max {formatting.score(peak)}"
            elif key in ("disk_io", "network"):
                reading = f"peak {formatting.rate(peak)}"
            else:
                reading = f"peak {peak:.2f}"
            self.query_one(f"#history-{key}", MetricChart).show(values, reading)
        self.query_one("#history-strip", EpisodeStrip).show(episode_marks(view, view.episodes))
        samples = sum(row.samples for row in view.rows)
        self.query_one("#history-episodes", Label).update(
            f"{samples} samples in {len(view.rows)} buckets; episodes in view: {len(view.episodes)}"
            + "".join(f"  #{e.id} {e.severity or '-'} {formatting.short_time(e.start_ms)}" for e in view.episodes[:6])
        )

    def action_mark_missed(self) -> None:
        """Store a time span (the visible window by default) as an anomaly the detector missed."""

        def chosen(span: tuple[int, int] | None) -> None:
            if span is not None:
                self.store_missed(span[0], span[1])

        self.app.push_screen(SpanDialog("Mark a missed anomaly (UTC)", self.start_ms, self.end_ms), chosen)

    @work(thread=True, exit_on_error=False, group="missed", name="mark missed")
    def store_missed(self, start_ms: int, end_ms: int) -> None:
        app = self.scops
        count = readers.mark_missed(app.settings.db, app.settings.source, start_ms, end_ms, store.operator_username())
        self.post_message(MissedMarked(count))

    def on_missed_marked(self, message: MissedMarked) -> None:
        self.notify(f"{message.samples} samples stored as a missed anomaly")
