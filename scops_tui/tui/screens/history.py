"""History: any window from 15 minutes to everything, downsampled in SQL, panned and zoomed by key.

Episodes are shaded on every chart; `n`/`p` step through them, `enter` opens one. `x` selects a span with
the keys (x, the arrows to the start, x, the arrows to the end, x) and stores it as a missed anomaly; `S` picks the
source among those in the database; labelled anomalies (imported or marked) show as marks on the time axis.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.events import Resize
from textual.widgets import Footer, Header, Label

from scops_tui.store import database as store
from scops_tui.store import history
from scops_tui.tui import formatting, readers
from scops_tui.tui.messages import HistoryLoaded, MissedMarked, SourcesLoaded
from scops_tui.tui.readers import HistoryView
from scops_tui.tui.screens.base import ScopsScreen, set_line
from scops_tui.tui.screens.dialogs import SourceDialog
from scops_tui.tui.series import HISTORY_SPECS, chart_data
from scops_tui.tui.widgets.chart import MetricChart

MINUTE = 60_000
HOUR = 60 * MINUTE
RANGES: dict[str, int | None] = {
    "15m": 15 * MINUTE,
    "1h": 60 * MINUTE,
    "6h": 6 * 60 * MINUTE,
    "24h": 24 * 60 * MINUTE,
    "7d": 7 * 24 * 60 * MINUTE,
    "30d": 30 * 24 * 60 * MINUTE,
    "all": None,
}
MIN_SPAN_MS = 60_000
RANGE = Binding.Group("range", compact=True)
PAN = Binding.Group("pan")
ZOOM = Binding.Group("zoom", compact=True)
EPISODES = Binding.Group("episode", compact=True)


def all_window(bounds: tuple[int, int] | None, now_ms: int, buckets: int) -> tuple[int, int]:
    """The window of the "all" range: from the first sample's minute (hour on long spans) to just past the
    last sample, so that the rollup's buckets of the first and last minutes are inside it."""
    if bounds is None:
        return now_ms - HOUR, now_ms
    first, last = bounds
    start = first // MINUTE * MINUTE
    end = max(last + 1, start + MIN_SPAN_MS)
    if history.bucket_width(start, end, buckets) >= HOUR:
        start = first // HOUR * HOUR
    return start, end


class HistoryScreen(ScopsScreen):
    """Charts of any stored window of a source, episodes shaded on them."""

    SCREEN_NAME = "History"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "range('15m')", "15m", group=RANGE, id="history.range_15m"),
        Binding("h", "range('1h')", "1h", group=RANGE, id="history.range_1h"),
        Binding("s", "range('6h')", "6h", group=RANGE, id="history.range_6h"),
        Binding("d", "range('24h')", "24h", group=RANGE, id="history.range_24h"),
        Binding("w", "range('7d')", "7d", group=RANGE, id="history.range_7d"),
        Binding("o", "range('30d')", "30d", group=RANGE, id="history.range_30d"),
        Binding("a", "range('all')", "All", group=RANGE, id="history.range_all"),
        Binding("left", "pan(-1)", "Earlier", priority=True, show=False, group=PAN, id="history.pan_earlier"),
        Binding("right", "pan(1)", "Later", priority=True, show=False, group=PAN, id="history.pan_later"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", key_display="+", group=ZOOM, id="history.zoom_in"),
        Binding("minus", "zoom(2)", "Zoom out", key_display="-", group=ZOOM, id="history.zoom_out"),
        Binding("n", "episode(1)", "Next ep.", tooltip="Next episode", group=EPISODES, id="history.next_episode"),
        Binding(
            "p", "episode(-1)", "Prev ep.", tooltip="Previous episode", group=EPISODES, id="history.previous_episode"
        ),
        Binding(
            "enter", "open_or_store", "Open", show=False, tooltip="Open the episode / store the span", id="history.open"
        ),
        Binding("x", "mark_missed", "Missed", tooltip="Mark a missed anomaly", id="history.mark_missed"),
        Binding("escape", "cancel_mark", "Cancel", show=False, id="history.cancel_mark"),
        Binding("S", "pick_source", "Source", key_display="S", id="history.source"),
        Binding(
            "y",
            "autoscale",
            "Scale",
            show=False,
            tooltip="Percent charts: fixed 0-100 or autoscale",
            id="history.autoscale",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.range_name = "1h"
        self.start_ms = 0
        self.end_ms = 0
        self.loaded_label = ""
        self.source = ""
        self.view: HistoryView | None = None
        self.selected: int | None = None
        """Index of the highlighted episode in the view's episodes."""
        self.marking: tuple[int, int] | None = None
        """The span being selected as a missed anomaly: (anchor, moving end)."""
        self.anchored = False
        """Whether the start of that span is set (before: the arrows move the start; after: the end)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="history-range")
        with VerticalScroll(id="history-body"):
            for spec in HISTORY_SPECS:
                yield MetricChart(
                    spec.title, kind=spec.kind, time_format=self.scops.time_format, id=f"history-{spec.key}"
                )
        yield Label("", id="history-episodes", classes="axis")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "History"
        self.source = self.scops.settings.source
        self.call_after_refresh(self.action_range, "1h")

    def on_resize(self, event: Resize) -> None:
        height = max(5, min(8, (event.size.height - 4) // len(HISTORY_SPECS)))
        for chart in self.query(MetricChart):
            chart.styles.height = height

    def _buckets(self) -> int:
        return max(self.query_one("#history-cpu_usage", MetricChart).plot_columns, 20)

    # Windows

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
        """Move the window by half its width (or, while selecting a span, its end by one column)."""
        if self.marking is not None:
            step = max((self.end_ms - self.start_ms) // max(self._buckets() // 2, 1), 1000)
            anchor, moving = self.marking
            moved = min(max(moving + direction * step, self.start_ms), self.end_ms - 1)
            self.marking = (anchor if self.anchored else moved, moved)
            self._draw_charts()
            return
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
        self.load_window(self.source, start_ms, end_ms, self._buckets(), label)

    def _draw_range(self, label: str, *, loading: bool = False) -> None:
        tf = self.scops.time_format
        samples = "" if self.view is None or loading else f"  {self.view.summary.samples:,} samples"
        set_line(
            self.query_one("#history-range", Label),
            f"[b]{self.source}[/b]  range [b]{label}[/b] ({formatting.span(self.end_ms - self.start_ms)}): "
            f"{tf.clock(self.start_ms)} → {tf.clock(self.end_ms)} {tf.zone}{samples}"
            + ("  loading…" if loading else "  [dim]←→ pan[/dim]"),
        )

    @work(thread=True, exit_on_error=False, exclusive=True, group="history", name="load history")
    def load_window(self, source: str, start_ms: int, end_ms: int, buckets: int, label: str) -> None:
        view = self.scops.reader.history(source, start_ms, end_ms, buckets)
        self.post_message(HistoryLoaded(view, label))

    @work(thread=True, exit_on_error=False, exclusive=True, group="history", name="load history")
    def load_all(self, buckets: int) -> None:
        app = self.scops
        start, end = all_window(app.reader.bounds(self.source), app.clock(), buckets)
        self.post_message(HistoryLoaded(app.reader.history(self.source, start, end, buckets), "all"))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        view = message.view
        if view.source and view.source != self.source:
            return
        self.view = view
        self.start_ms, self.end_ms = view.start_ms, view.end_ms
        self.loaded_label = message.label
        if self.selected is not None and self.selected >= len(view.episodes):
            self.selected = None
        self._draw_range(message.label)
        self._draw_charts()

    def _draw_charts(self) -> None:
        view = self.view
        if view is None:
            return
        interval_ms = int(self.scops.settings.interval * 1000)
        highlight = None
        if self.marking is not None:
            highlight = (min(self.marking), max(self.marking))
        elif self.selected is not None:
            span = view.episodes[self.selected]
            highlight = (span.start_ms, span.end_ms)
        for spec in HISTORY_SPECS:
            data = chart_data(view, spec, interval_ms=interval_ms, selected=highlight)
            self.query_one(f"#history-{spec.key}", MetricChart).show(data)
        self._draw_episode_line()

    def _draw_episode_line(self) -> None:
        view = self.view
        if view is None:
            return
        tf = self.scops.time_format
        label = self.query_one("#history-episodes", Label)
        if self.marking is not None and not self.anchored:
            label.update(
                f"[b]missed anomaly[/b] start at {tf.clock(self.marking[1])}: ←/→ move it, x or enter sets it, "
                "esc cancels"
            )
            return
        if self.marking is not None:
            start, end = min(self.marking), max(self.marking)
            label.update(
                f"[b]missed anomaly[/b] {tf.clock(start)} → {tf.clock(end)} ({formatting.span(end - start)}): "
                "←/→ move the end, x or enter stores, esc cancels"
            )
            return
        marks = f"  labels: {len(view.labels)}" if view.labels else ""
        if self.selected is not None:
            span = view.episodes[self.selected]
            label.update(
                f"episode [b]#{span.id}[/b] {span.severity or '-'} {tf.clock(span.start_ms)} → {tf.hm(span.end_ms)} "
                f"({formatting.span(span.end_ms - span.start_ms)})  {self.selected + 1} of {len(view.episodes)}: "
                f"enter opens, n/p next/previous{marks}"
            )
            return
        set_line(
            label,
            f"episodes in view: {len(view.episodes)}" + (" (n/p to step through)" if view.episodes else "") + marks,
        )

    # Episodes

    def action_episode(self, step: int) -> None:
        """Highlight the next (1) or previous (-1) episode in the window."""
        view = self.view
        if view is None or not view.episodes:
            self.notify("no episode in this window", severity="warning")
            return
        if self.selected is None:
            self.selected = 0 if step > 0 else len(view.episodes) - 1
        else:
            self.selected = min(max(self.selected + step, 0), len(view.episodes) - 1)
        self._draw_charts()

    def action_open_or_store(self) -> None:
        """Set the start of the span being selected, or store it, else open the highlighted episode's detail."""
        if self.marking is not None and not self.anchored:
            self.anchored = True
            self._draw_charts()
            return
        if self.marking is not None:
            start, end = min(self.marking), max(self.marking)
            self.marking = None
            self.anchored = False
            self._draw_charts()
            self.store_missed(start, end)
            return
        if self.view is None or self.selected is None:
            self.notify("no episode highlighted: n / p pick one", severity="warning")
            return
        from scops_tui.tui.screens.detail import DetailScreen

        self.app.push_screen(DetailScreen(self.view.episodes[self.selected].id))

    # Missed anomalies

    def action_mark_missed(self) -> None:
        """Select a span to store as a missed anomaly: a cursor in the middle of the window that the arrows
        move; `x` again sets the start there, the arrows then move the end, and `x` (or enter) stores it."""
        if self.marking is not None:
            self.action_open_or_store()
            return
        middle = (self.start_ms + self.end_ms) // 2
        self.marking = (middle, middle)
        self.anchored = False
        self._draw_charts()

    def action_cancel_mark(self) -> None:
        """Stop selecting a span without storing it."""
        if self.marking is not None:
            self.marking = None
            self.anchored = False
            self._draw_charts()

    @work(thread=True, exit_on_error=False, group="missed", name="mark missed")
    def store_missed(self, start_ms: int, end_ms: int) -> None:
        app = self.scops
        count = readers.mark_missed(app.settings.db, self.source, start_ms, end_ms, store.operator_username())
        self.post_message(MissedMarked(count))

    def on_missed_marked(self, message: MissedMarked) -> None:
        self.notify(f"{message.samples} samples stored as a missed anomaly")
        self.show_window(self.start_ms, self.end_ms, self.loaded_label or "window")

    # Source and scale

    def action_pick_source(self) -> None:
        """Choose which source to show among those with samples in the database."""
        self.load_sources()

    @work(thread=True, exit_on_error=False, exclusive=True, group="sources", name="sources")
    def load_sources(self) -> None:
        self.post_message(SourcesLoaded(self.scops.reader.sources()))

    def on_sources_loaded(self, message: SourcesLoaded) -> None:
        def chosen(source: str | None) -> None:
            if source is not None and source != self.source:
                self.source = source
                self.selected = None
                self.view = None
                self.action_range(self.range_name)

        self.app.push_screen(SourceDialog(message.sources, self.source), chosen)

    def action_autoscale(self) -> None:
        """Switch the percent charts between the fixed 0-100 scale and fitting their data."""
        for spec in HISTORY_SPECS:
            if spec.kind == "percent":
                chart = self.query_one(f"#history-{spec.key}", MetricChart)
                chart.set_autoscale(not chart.autoscale)
