"""The time-series chart of every screen, drawn by us in braille on Textual's line API.

Why our own drawing rather than a plotting package (all three are installable from the registry):

- textual-plotext 1.0.1 pins plotext < 6 (6.1 is current) and plotext keeps one global figure that is
  rebuilt as a whole string on every draw; a gap can only be drawn as a separate series, and a shaded
  span or a colour per severity band means more series again.
- textual-plot 0.10.1 (with textual-hires-canvas and numpy >= 2.2) draws numeric x axes only (no
  wall-clock ticks, no date when the window spans days), joins the points on both sides of a NaN
  (`drop_nans_and_infs`), and has no background spans; one colour per data set.
- What we need is small and specific: a step line that stops where there is no data, a braille area (2 x 4
  dots a cell), the cell coloured by the severity band of the score there, episode spans as background,
  label marks, a y axis in the series' unit, time ticks in the configured zone. ~300 lines of ours, no new
  dependency, and a widget that renders only when its data or size changes (cached strips).

Everything that knows how a chart is drawn lives in this module; screens hand it a `ChartData`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from scops_tui.tui.formatting import UTC, TimeFormat, rate_unit

Kind = Literal["percent", "rate", "score", "plain"]
SEVERITY_COLOURS = {"critical": "red", "high": "dark_orange", "medium": "yellow", "low": "blue"}
SPAN_BACKGROUNDS = {"critical": "#4a1414", "high": "#46280c", "medium": "#3c3a10", "low": "#142a46"}
SCORE_BANDS = ((0.8, "critical"), (0.6, "high"), (0.4, "medium"))
BASE_COLOUR = "#5fafd7"
MARK_COLOUR = "magenta"
_LEFT = (0x40, 0x04, 0x02, 0x01)
_RIGHT = (0x80, 0x20, 0x10, 0x08)
"""Braille dot bits of a cell's left and right column, bottom dot first."""
_CELLS = tuple(
    tuple(chr(0x2800 + bits) if (bits := sum(_LEFT[:left]) | sum(_RIGHT[:right])) else " " for right in range(5))
    for left in range(5)
)
"""The character of a cell whose left column has `left` dots lit from the bottom and its right `right`."""
_BAND_RANK = {None: 0, "medium": 1, "high": 2, "critical": 3}
MAX_APPENDED = 16
"""A live chart looks this many points back for its newest drawn point before it redraws in full."""
_TICK_STEPS_MS = (
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000,
    60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
    3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000,
    86_400_000, 172_800_000, 604_800_000, 1_209_600_000, 2_592_000_000,
)  # fmt: skip
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Shade:
    """A time span drawn as background (an episode), coloured by its severity."""

    start_ms: int
    end_ms: int
    severity: str | None


@dataclass(frozen=True)
class ChartData:
    """What a chart draws: points in a window, how long one point stands, and the headline figures.

    `points` are (time, value, score) sorted by time; the score (None when unscored) colours the cell.
    A point stands until the next one when that comes within `hold_ms`; a longer silence is a gap.
    """

    start_ms: int
    end_ms: int
    points: Sequence[tuple[int, float, float | None]] = ()
    hold_ms: int = 15_000
    headline: str = ""
    """The true latest value, already formatted."""
    headline_short: str = ""
    """A shorter form of the headline for a narrow chart (empty: the headline is short enough)."""
    peak: str = ""
    """The true maximum of the window's samples, already formatted (empty: not shown)."""
    spans: Sequence[Shade] = ()
    marks: Sequence[int] = ()
    """Times of labels (imported or marked) shown under the plot."""
    cursor: tuple[int, int] | None = None
    """A span being selected, highlighted across the plot."""
    snap: bool = False
    """Live charts: the window's end is rounded up to the plot's time-slot grid, so the plot moves one slot
    at a time, and a new sample that leaves every drawn slot as it was repaints the title line only."""


@dataclass
class _Layout:
    """The drawn chart: its strips and what decided them (to tell whether new data changes any dot)."""

    width: int
    height: int
    strips: list[Strip] = field(default_factory=list)
    unit: str = ""
    start_ms: int = 0
    end_ms: int = 0
    slots: int = 0
    low: float = 0.0
    high: float = 0.0
    dots: int = 0
    levels: list[int | None] = field(default_factory=list)
    bands: list[int] = field(default_factory=list)
    """Per cell column: the rank of its severity band (0 none, 1 medium, 2 high, 3 critical)."""
    min_value: float = 0.0
    max_value: float = 0.0


_STYLES: dict[tuple[str, str | None], Style] = {}


def _style(colour: str, background: str | None) -> Style:
    """One shared Style per colour pair: a chart repaints every sample, and Style objects are not free."""
    key = (colour, background)
    style = _STYLES.get(key)
    if style is None:
        style = _STYLES[key] = Style(color=colour, bgcolor=background)
    return style


def severity_of_score(score: float | None) -> str | None:
    """The band a score falls in (critical, high, medium), or None below 0.4 or unscored."""
    if score is None:
        return None
    for bound, name in SCORE_BANDS:
        if score >= bound:
            return name
    return None


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value` (1 for nothing to show)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def axis_number(value: float) -> str:
    """A short axis label: `100`, `2.5`, `0.25`, `12k`."""
    if value == 0:
        return "0"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 10 or value == int(value):
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.2f}".rstrip("0").rstrip(".")


class MetricChart(Widget):
    """A titled time-series chart: title with headline and peak, y axis with unit, braille area, time axis."""

    DEFAULT_CLASSES = "metric-chart"
    DEFAULT_CSS = """
    MetricChart { height: 6; width: 1fr; }
    """

    def __init__(
        self,
        title: str,
        *,
        kind: Kind = "plain",
        time_format: TimeFormat = UTC,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.kind: Kind = kind
        self.time_format = time_format
        self.autoscale = kind not in ("percent", "score")
        self.data: ChartData | None = None
        self._layout: _Layout | None = None
        self.plot_builds = 0
        """How many times the whole chart was built (for tests: a live sample that changes no dot adds none)."""
        self.title_repaints = 0
        """How many times only the title line was redrawn."""
        self.line_repaints = 0
        """Lines repainted after a rebuild that kept the size (for tests: unchanged lines are not repainted)."""

    # Data in

    def configure(self, title: str, kind: Kind) -> None:
        """Give the chart another title and kind (the preview reuses its charts for other metrics)."""
        if (title, kind) != (self.title, self.kind):
            self.title, self.kind = title, kind
            self.autoscale = kind not in ("percent", "score")
            self._layout = None
            self.refresh()

    def show(self, data: ChartData) -> None:
        """Draw `data` (redraws only this widget, and only once per change).

        A live chart (`snap`) given its previous data plus a new sample that lands in a drawn slot without
        raising its dots or its colour repaints only its title line (the headline), not the plot; nothing at
        all when the headline reads the same.
        """
        if data == self.data:
            return
        old, layout = self.data, self._layout
        self.data = data
        if old is not None and layout is not None and layout.slots and self._plot_unchanged(old, data, layout):
            if (data.headline, data.headline_short, data.peak) != (old.headline, old.headline_short, old.peak):
                layout.strips[0] = self._title_strip(layout.width, layout.unit)
                self.title_repaints += 1
                self.refresh(Region(0, 0, layout.width, 1))
            return
        self._rebuild(layout)

    def _rebuild(self, drawn: _Layout | None) -> None:
        """Build the chart for its new data now and repaint only the lines that differ from `drawn` (all of
        them when nothing was drawn or the size changed). A plot that moves by a slot on a steady metric
        often leaves most rows as they were: only the rows whose text or colours changed are repainted."""
        width, height = self.size.width, self.size.height
        if drawn is None or (drawn.width, drawn.height) != (width, height) or not drawn.strips:
            self._layout = None
            self.refresh()
            return
        layout = self._layout = self._build(width, height)
        for y, (before, after) in enumerate(zip(drawn.strips, layout.strips, strict=False)):
            if before != after:
                self.line_repaints += 1
                self.refresh(Region(0, y, width, 1))

    def set_autoscale(self, on: bool) -> None:
        """Fit the y axis to the data (on) or keep the fixed 0-100 / 0-1 scale of percents and scores."""
        if on != self.autoscale:
            self.autoscale = on
            self._layout = None
            self.refresh()

    @property
    def values(self) -> list[float]:
        """The values of the points drawn now."""
        return [] if self.data is None else [point[1] for point in self.data.points]

    @property
    def plot_columns(self) -> int:
        """How many time slots (braille dot columns) the plot has at the current size: two per cell."""
        low, high = self._y_range(self.values)
        return 2 * max(self.size.width - self._axis_width(low, high), 1)

    # Drawing

    def render_line(self, y: int) -> Strip:
        """One row of the chart, from strips rebuilt only when the data or the size changed."""
        width, height = self.size.width, self.size.height
        if self._layout is None or (self._layout.width, self._layout.height) != (width, height):
            self._layout = self._build(width, height)
        strips = self._layout.strips
        return strips[y] if 0 <= y < len(strips) else Strip.blank(width)

    def _y_range(self, values: list[float]) -> tuple[float, float]:
        if self.kind == "percent" and not self.autoscale:
            return 0.0, 100.0
        if self.kind == "score" and not self.autoscale:
            return 0.0, 1.0
        if not values:
            return 0.0, 1.0
        high = max(values)
        if self.kind in ("percent", "score") and self.autoscale:
            low = min(values)
            spread = max(high - low, 1.0 if self.kind == "percent" else 0.01)
            low = max(math.floor((low - spread * 0.1) * 10) / 10, 0.0)
            return low, low + nice_ceiling(high - low + spread * 0.1)
        if self.kind == "rate":
            _unit, size = rate_unit(high)
            return 0.0, nice_ceiling(high / size) * size
        return 0.0, nice_ceiling(high)

    def _unit(self, high: float) -> tuple[str, float]:
        if self.kind == "percent":
            return "%", 1.0
        if self.kind == "rate":
            return rate_unit(high)
        return "", 1.0

    def _axis_width(self, low: float, high: float) -> int:
        return max(len(self._top_label(high)), len(axis_number(low / self._unit(high)[1])), 1) + 1

    def _top_label(self, high: float) -> str:
        """The y axis's top label. A rate's carries its unit's letter (`200M` for 200 MiB/s): at 80 columns
        the title has no room for the unit, and a bare `200` would not say which."""
        name, size = self._unit(high)
        label = axis_number(high / size)
        return label + name[0] if self.kind == "rate" else label

    def _window(self, data: ChartData, slots: int) -> tuple[int, int]:
        """The drawn window: the data's, or for a live chart its end rounded up to the grid of `slots` slots."""
        if not data.snap:
            return data.start_ms, data.end_ms
        span = max(data.end_ms - data.start_ms, 1)
        end = -(-data.end_ms * slots // span) * span // slots
        return end - span, end

    def _build(self, width: int, height: int) -> _Layout:
        layout = _Layout(width, height)
        if width <= 0 or height <= 0:
            return layout
        self.plot_builds += 1
        values = self.values
        low, high = self._y_range(values)
        unit, size = self._unit(high)
        axis = self._axis_width(low, high)
        columns = max(width - axis, 1)
        slots = 2 * columns
        has_x_axis = height >= 4
        rows = max(height - 1 - (1 if has_x_axis else 0), 1)
        data = self.data
        strips = [self._title_strip(width, unit)]
        start, end = self._window(data, slots) if data is not None else (0, 1)
        if data is None or not data.points:
            levels: list[int | None] = [None] * slots
            scores: list[float | None] = [None] * slots
        else:
            levels, scores = self._slots(data, start, end, slots, low, high, rows * 4)
        shades = self._shades(start, end, columns)
        axis_style = _style("grey50", None)
        labels = {0: self._top_label(high), rows - 1: axis_number(low / size)}
        if rows >= 5:
            labels[(rows - 1) // 2] = axis_number((low + (high - low) * (1 - ((rows - 1) // 2) / (rows - 1))) / size)
        bands = []
        runs: list[tuple[int, int, Style]] = []
        for column in range(columns):
            band_scores = [s for s in scores[2 * column : 2 * column + 2] if s is not None]
            band = severity_of_score(max(band_scores)) if band_scores else None
            bands.append(_BAND_RANK[band])
            style = _style(SEVERITY_COLOURS[band] if band else BASE_COLOUR, shades[column])
            if runs and runs[-1][2] is style:
                runs[-1] = (runs[-1][0], column + 1, style)
            else:
                runs.append((column, column + 1, style))
        lit = [0 if level is None else level for level in levels]
        left, right = lit[0::2], lit[1::2]
        for row in range(rows):
            label = labels.get(row)
            text = (label.rjust(axis - 1) + "┤") if label is not None else " " * (axis - 1) + "│"
            base = (rows - 1 - row) * 4
            line = "".join(
                [_CELLS[min(max(a - base, 0), 4)][min(max(b - base, 0), 4)] for a, b in zip(left, right, strict=True)]
            )
            segments = [Segment(text, axis_style)]
            segments += [Segment(line[first:last], style) for first, last, style in runs]
            strips.append(Strip(segments, width))
        if has_x_axis:
            strips.append(self._time_strip(width, axis, columns, start, end))
        layout.strips = strips
        layout.unit = unit
        layout.start_ms, layout.end_ms, layout.slots = start, end, slots
        layout.low, layout.high, layout.dots = low, high, rows * 4
        layout.levels, layout.bands = levels, bands
        layout.min_value = min(values) if values else 0.0
        layout.max_value = max(values) if values else 0.0
        return layout

    def _plot_unchanged(self, old: ChartData, new: ChartData, layout: _Layout) -> bool:
        """Whether `new` (a live chart's `old` data with samples added and the oldest dropped) draws every
        slot as `layout` has it: the same window, scale and colours, and no new sample raising a slot."""
        if not (old.snap and new.snap) or (old.hold_ms, old.spans, old.marks, old.cursor) != (
            new.hold_ms,
            new.spans,
            new.marks,
            new.cursor,
        ):
            return False
        if self._window(new, layout.slots) != (layout.start_ms, layout.end_ms):
            return False
        before, points = old.points, new.points
        if not before or not points:
            return False
        newest = before[-1]
        last = len(points) - 1
        index = next((i for i in range(last, max(last - MAX_APPENDED, -1), -1) if points[i] == newest), None)
        if index is None:
            return False
        dropped = len(before) - 1 - index
        if dropped < 0 or before[dropped] != points[0] or (dropped and points[0][0] >= layout.start_ms):
            return False  # points may only drop while the oldest one kept is left of the plot: they changed nothing
        scaled = not (self.kind in ("percent", "score") and not self.autoscale)
        if scaled and any(not layout.min_value < value < layout.max_value for _t, value, _s in before[:dropped]):
            return False  # the scale may have rested on a dropped point
        start, span, slots = layout.start_ms, max(layout.end_ms - layout.start_ms, 1), layout.slots
        scale = max(layout.high - layout.low, 1e-12)
        for position in range(index + 1, len(points)):
            when, value, score = points[position]
            previous = points[position - 1][0]
            slot = (when - start) * slots // span
            if not 0 <= slot < slots or (scaled and not layout.min_value <= value <= layout.max_value):
                return False
            if when - previous <= new.hold_ms and slot - (previous - start) * slots // span > 1:
                return False  # the previous point now stands over slots between: they fill
            drawn = layout.levels[slot]
            level = max(round(min(max((value - layout.low) / scale, 0.0), 1.0) * layout.dots), 1)
            if drawn is None or level > drawn:
                return False
            if _BAND_RANK[severity_of_score(score)] > layout.bands[slot // 2]:
                return False
        return True

    def _title_strip(self, width: int, unit: str) -> Strip:
        data = self.data
        headline = "" if data is None else data.headline
        if data is not None and data.headline_short and len(self.title) + 2 + len(headline) > width:
            headline = data.headline_short
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.title, style="bold")
        if unit and len(self.title) + len(unit) + 5 + len(headline) <= width:
            text.append(f" ({unit})", style="grey62")
        if headline:
            text.append("  ")
            text.append(headline, style="bold")
        tail = ""
        if data is not None and data.peak:
            tail = f"peak {data.peak}"
        if self.autoscale and self.kind in ("percent", "score"):
            tail = (tail + "  " if tail else "") + "auto"
        if tail and text.cell_len + 2 + len(tail) <= width:
            text.append(" " * (width - text.cell_len - len(tail)))
            text.append(tail, style="grey62")
        text.truncate(width, overflow="ellipsis", pad=True)
        return Strip(list(text.render(self.app.console)), width).crop(0, width)

    def _slots(
        self, data: ChartData, start_ms: int, end_ms: int, slots: int, low: float, high: float, dots: int
    ) -> tuple[list[int | None], list[float | None]]:
        """Each slot's level in dots (None: no data) and score: the largest point in it, or the one held over it."""
        values, scores = slot_values(data.points, start_ms, end_ms, slots, data.hold_ms)
        scale = max(high - low, 1e-12)
        levels: list[int | None] = [
            None if found is None else max(round(min(max((found - low) / scale, 0.0), 1.0) * dots), 1)
            for found in values
        ]
        return levels, scores

    def _shades(self, start_ms: int, end_ms: int, columns: int) -> list[str | None]:
        data = self.data
        backgrounds: list[str | None] = [None] * columns
        if data is None:
            return backgrounds
        span = max(end_ms - start_ms, 1)
        rank = {"low": 1, "medium": 2, "high": 3, "critical": 4}
        chosen: list[int] = [0] * columns
        for shade in data.spans:
            first = max((shade.start_ms - start_ms) * columns // span, 0)
            last = min((shade.end_ms - start_ms) * columns // span, columns - 1)
            for column in range(first, last + 1):
                weight = rank.get(shade.severity or "low", 1)
                if weight > chosen[column]:
                    chosen[column] = weight
                    backgrounds[column] = SPAN_BACKGROUNDS.get(shade.severity or "low")
        if data.cursor is not None:
            start, end = sorted(data.cursor)
            first = max((start - start_ms) * columns // span, 0)
            last = min((end - start_ms) * columns // span, columns - 1)
            for column in range(first, last + 1):
                backgrounds[column] = "#5f005f"
        return backgrounds

    def _time_strip(self, width: int, axis: int, columns: int, start_ms: int, end_ms: int) -> Strip:
        data = self.data
        cells = [" "] * columns
        marked: list[int] = []
        if data is not None and end_ms > start_ms:
            span = end_ms - start_ms
            for when, label in tick_labels(start_ms, end_ms, columns, self.time_format):
                column = (when - start_ms) * columns // span - len(label) // 2
                column = min(max(column, 0), columns - len(label))
                if column < 0:
                    continue
                if any(c != " " for c in cells[max(column - 1, 0) : column + len(label) + 1]):
                    continue
                cells[column : column + len(label)] = list(label)
            for mark in data.marks:
                column = (mark - start_ms) * columns // span
                if 0 <= column < columns:
                    cells[column] = "▲"
                    marked.append(column)
        text = "".join(cells)
        plain, mark_style = _style("grey50", None), Style(color=MARK_COLOUR, bold=True)
        segments = [Segment(" " * axis)]
        position = 0
        for column in sorted(set(marked)):
            if column > position:
                segments.append(Segment(text[position:column], plain))
            segments.append(Segment(text[column], mark_style))
            position = column + 1
        if position < columns:
            segments.append(Segment(text[position:], plain))
        return Strip(segments, width)


def slot_values(
    points: Sequence[tuple[int, float, float | None]], start_ms: int, end_ms: int, slots: int, hold_ms: int
) -> tuple[list[float | None], list[float | None]]:
    """The value and score each of `slots` equal time slots of [start_ms, end_ms) shows: the largest of its
    points (the largest score), or, for a slot with no point, the last point before it when the next point
    comes within `hold_ms` of that one (a point stands until the next); None where there is no data.

    Points are sorted by time. A point at `t` falls in slot `(t - start) * slots // span`, so slot k starts
    at `start + ceil(k * span / slots)`: each slot's points are found by bisection and its largest value is
    taken over a slice, not point by point (a live chart at 1-s sampling has 660 points and is rebuilt
    whenever a new slot begins).
    """
    span = max(end_ms - start_ms, 1)
    values: list[float | None] = [None] * slots
    scores: list[float | None] = [None] * slots
    if not points:
        return values, scores
    times, readings, marks = zip(*points, strict=True)
    count = len(times)
    edges = [bisect_left(times, start_ms + -(-k * span // slots)) for k in range(slots + 1)]
    for slot in range(slots):
        first, last = edges[slot], edges[slot + 1]
        if first < last:
            values[slot] = max(readings[first:last])
            scored = [score for score in marks[first:last] if score is not None]
            scores[slot] = max(scored) if scored else None
        elif 0 < first < count and times[first] - times[first - 1] <= hold_ms:
            values[slot], scores[slot] = readings[first - 1], marks[first - 1]
    return values, scores


def tick_labels(start_ms: int, end_ms: int, columns: int, time_format: TimeFormat) -> list[tuple[int, str]]:
    """Tick times and labels for a window drawn over `columns` cells: round times in the configured zone.

    Labels read `HH:MM` (`HH:MM:SS` under a minute a tick); a tick at midnight of a window that spans days
    reads as the date `MM-DD`, and ticks a day or more apart always do.
    """
    span = max(end_ms - start_ms, 1)
    label_width = 8
    wanted = max(columns // label_width, 1)
    step = next((s for s in _TICK_STEPS_MS if span / s <= wanted), _TICK_STEPS_MS[-1])
    offset = time_format.offset_ms(start_ms)
    first = -(-(start_ms + offset) // step) * step - offset
    spans_days = time_format.fmt(start_ms, "%Y%m%d") != time_format.fmt(end_ms - 1, "%Y%m%d")
    ticks = []
    when = first
    while when < end_ms:
        at_midnight = (when + time_format.offset_ms(when)) % DAY_MS == 0
        if step >= DAY_MS or (spans_days and at_midnight):
            label = time_format.fmt(when, "%m-%d")
        elif step < 60_000:
            label = time_format.fmt(when, "%H:%M:%S")
        else:
            label = time_format.hm(when)
        ticks.append((when, label))
        when += step
    return ticks


def window_spans(spans: Sequence[object]) -> list[Shade]:
    """Episode spans (anything with start_ms, end_ms and severity) as chart shades."""
    return [Shade(int(getattr(s, "start_ms")), int(getattr(s, "end_ms")), getattr(s, "severity")) for s in spans]  # noqa: B009
