"""The chart widget: y axis in the series' unit, time ticks, gaps, fixed percent scale, severity colours, spans."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot

from scops_tui.tui.formatting import TimeFormat, compact_rate, rate_unit, span
from scops_tui.tui.widgets.chart import (
    SEVERITY_COLOURS,
    SPAN_BACKGROUNDS,
    ChartData,
    Kind,
    MetricChart,
    Shade,
    nice_ceiling,
    slot_values,
    tick_labels,
)

MINUTE = 60_000
START = 1_800_000_000_000  # 2027-01-15 08:00 UTC


class ChartApp(App[None]):
    def __init__(self, kind: Kind) -> None:
        super().__init__()
        self.kind: Kind = kind

    def compose(self) -> ComposeResult:
        yield MetricChart("Test", kind=self.kind, time_format=TimeFormat(utc=True), id="chart")


def lines(chart: MetricChart) -> list[str]:
    return [chart.render_line(y).text for y in range(chart.size.height)]


def shown_lines(chart: MetricChart) -> list[str]:
    """The chart's lines as the screen has them: through Textual's line cache, where a line that was not
    repainted keeps its old text."""
    return [strip.text for strip in chart.render_lines(Region(0, 0, chart.size.width, chart.size.height))]


def plot_columns(chart: MetricChart, text_lines: list[str]) -> list[str]:
    """Each plot column's characters top to bottom (the y axis cut off)."""
    axis = text_lines[1].index("┤") + 1
    rows = text_lines[1:-1]
    return ["".join(row[column] for row in rows) for column in range(axis, len(rows[0]))]


@asynccontextmanager
async def chart_on_screen(
    kind: Kind, size: tuple[int, int] = (44, 6)
) -> AsyncIterator[tuple[Pilot[None], MetricChart]]:
    """A chart of `kind` filling an app of `size` under Pilot."""
    app = ChartApp(kind)
    async with app.run_test(size=size) as pilot:
        chart = app.query_one(MetricChart)
        chart.styles.height = size[1]
        yield pilot, chart


async def draw(kind: Kind, data: ChartData, size: tuple[int, int] = (44, 6)) -> tuple[MetricChart, list[str]]:
    async with chart_on_screen(kind, size) as (pilot, chart):
        chart.show(data)
        await pilot.pause()
        return chart, lines(chart)


async def test_a_gap_in_the_data_is_drawn_empty_and_a_zero_is_not() -> None:
    # 0 for the first third, nothing for the second, 50 for the last: 5 s samples, 30 minutes.
    points = [(START + i * 5000, 0.0, None) for i in range(120)]
    points += [(START + 20 * MINUTE + i * 5000, 50.0, None) for i in range(120)]
    data = ChartData(START, START + 30 * MINUTE, points, hold_ms=12_500)
    chart, text = await draw("percent", data)
    columns = plot_columns(chart, text)
    width = len(columns)
    first, middle, last = columns[1 : width // 3 - 1], columns[width // 3 + 1 : 2 * width // 3 - 1], columns[-2:]
    assert all(column.strip() for column in first)  # a value of 0 still shows as a baseline
    assert all(not column.strip() for column in middle)  # no data: nothing drawn
    assert all(column.strip() for column in last)


async def test_percent_charts_keep_0_to_100_until_autoscale_is_asked() -> None:
    points = [(START + i * 5000, 25.0 + (i % 10) * 0.7, None) for i in range(360)]
    data = ChartData(START, START + 30 * MINUTE, points, hold_ms=12_500, headline="31.3 %")
    async with chart_on_screen("percent", (60, 6)) as (pilot, chart):
        chart.show(data)
        await pilot.pause()
        text = lines(chart)
        assert text[1].lstrip().startswith("100┤") and text[-2].lstrip().startswith("0┤")
        assert "Test (%)" in text[0] and "31.3 %" in text[0]
        chart.set_autoscale(True)
        await pilot.pause()
        text = lines(chart)
        assert not text[1].lstrip().startswith("100┤")
        assert "auto" in text[0]


async def test_rates_read_in_human_units() -> None:
    points = [(START + i * 5000, 3.5 * 1024 * 1024, None) for i in range(60)]
    _chart, text = await draw("rate", ChartData(START, START + 5 * MINUTE, points, hold_ms=12_500))
    assert "(MiB/s)" in text[0]
    assert text[1].lstrip().startswith("5M┤")  # 3.5 MiB/s under a 5 MiB/s ceiling, its unit on the axis
    assert rate_unit(900) == ("B/s", 1.0) and rate_unit(2048)[0] == "KiB/s"
    assert compact_rate(1536) == "1.5K" and compact_rate(20 * 1024 * 1024) == "20.0M"


async def test_the_time_axis_shows_round_times_and_dates_across_days() -> None:
    utc = TimeFormat(utc=True)
    ticks = tick_labels(START, START + 60 * MINUTE, 80, utc)
    assert [label for _when, label in ticks][:3] == ["08:00", "08:10", "08:20"]
    days = tick_labels(START - 36 * 60 * MINUTE, START, 80, utc)
    assert "01-15" in [label for _when, label in days]  # midnight of a window that spans days shows the date
    week = tick_labels(START - 7 * 24 * 60 * MINUTE, START, 60, utc)
    assert all(len(label) == 5 and label[2] == "-" for _when, label in week)
    points = [(START + i * 5000, 10.0, None) for i in range(720)]
    _chart, text = await draw("percent", ChartData(START, START + 60 * MINUTE, points, hold_ms=12_500), (80, 6))
    assert "08:00" in text[-1] and "08:30" in text[-1]


async def test_severity_colours_and_shaded_episodes() -> None:
    points = [(START + i * 5000, 0.9 if 100 <= i < 140 else 0.1, 0.9 if 100 <= i < 140 else 0.1) for i in range(360)]
    data = ChartData(
        START,
        START + 30 * MINUTE,
        points,
        hold_ms=12_500,
        spans=[Shade(START + 100 * 5000, START + 140 * 5000, "critical")],
    )
    async with chart_on_screen("score", (64, 6)) as (pilot, chart):
        chart.show(data)
        await pilot.pause()
        segments = list(chart.render_line(chart.size.height - 2))
        colours = {str(s.style.color.name) for s in segments if s.style and s.style.color and s.text.strip()}
        backgrounds = {s.style.bgcolor.name for s in segments if s.style and s.style.bgcolor}
    assert SEVERITY_COLOURS["critical"] in colours
    assert any(SPAN_BACKGROUNDS["critical"].lstrip("#") in str(name) for name in backgrounds)


async def test_the_same_data_draws_the_same_peak_at_any_width() -> None:
    points = [(START + i * 5000, float(i % 97), None) for i in range(720)]
    data = ChartData(START, START + 60 * MINUTE, points, hold_ms=12_500, headline="3.0", peak="96.0")
    heads = []
    for width in (30, 80, 200):
        _chart, text = await draw("plain", data, (width, 6))
        heads.append(text[0].split())
    assert all("96.0" in head for head in heads[1:])
    assert all("3.0" in head for head in heads)


def test_scales_and_durations() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 3.2, 12, 101)] == [1.0, 1.0, 5.0, 20.0, 200.0]
    assert span(1_995) == "2s"  # three samples from 03:53:17.364 to 03:53:19.359
    assert span(90_000) == "1m30s" and span(15 * MINUTE) == "15m" and span(6 * 60 * MINUTE) == "6h"


def live(points: list[tuple[int, float, float | None]], headline: str) -> ChartData:
    """A live chart's data as the dashboard gives it: ten minutes up to the newest point, snapped."""
    end = points[-1][0] + 1
    return ChartData(end - 10 * MINUTE, end, tuple(points), hold_ms=12_500, headline=headline, snap=True)


async def test_a_live_sample_that_changes_no_dot_repaints_only_the_headline() -> None:
    async with chart_on_screen("percent") as (pilot, chart):
        # 5-s samples at 40 % for ten minutes; 88 slots over ten minutes: a slot is about 6.8 s.
        points: list[tuple[int, float, float | None]] = [(START + i * 5000, 40.0, None) for i in range(121)]
        chart.show(live(points, "40.0 %"))
        await pilot.pause()
        builds, before = chart.plot_builds, lines(chart)
        assert chart._layout is not None
        slot_ms = 10 * MINUTE // chart._layout.slots
        # A sample 1 s later lands in the newest point's slot at a lower value: no dot changes.
        points.append((points[-1][0] + 1000, 39.0, None))
        assert (points[-1][0] - chart._layout.start_ms) * chart._layout.slots // (10 * MINUTE) == (
            points[-2][0] - chart._layout.start_ms
        ) * chart._layout.slots // (10 * MINUTE), "the test's sample must fall in the same slot"
        chart.show(live(points, "39.0 %"))
        await pilot.pause()
        assert chart.plot_builds == builds  # the plot was not rebuilt
        assert chart.title_repaints == 1
        after = lines(chart)
        assert "39.0 %" in after[0] and "40.0 %" in before[0]
        assert after[1:] == before[1:]
        # The same headline again: nothing is repainted.
        points.append((points[-1][0] + 1, 38.0, None))
        chart.show(live(points, "39.0 %"))
        assert chart.title_repaints == 1 and chart.plot_builds == builds
        # A higher value in the same slot raises its dots: the plot is rebuilt.
        points.append((points[-1][0] + 1, 95.0, None))
        chart.show(live(points, "95.0 %"))
        await pilot.pause()
        assert chart.plot_builds == builds + 1
        # A sample in the next slot moves the window by a slot: rebuilt, and the new value is drawn.
        builds = chart.plot_builds
        points.append((points[-1][0] + slot_ms + 1, 41.0, None))
        chart.show(live(points, "41.0 %"))
        await pilot.pause()
        assert chart.plot_builds == builds + 1
        assert "41.0 %" in lines(chart)[0]


async def test_a_live_sample_with_a_higher_band_or_beyond_the_scale_rebuilds_the_plot() -> None:
    async with chart_on_screen("rate") as (pilot, chart):
        points: list[tuple[int, float, float | None]] = [(START + i * 5000, 1000.0, 0.1) for i in range(121)]
        chart.show(live(points, "1000 B/s"))
        await pilot.pause()
        builds = chart.plot_builds
        points.append((points[-1][0] + 1, 900.0, 0.9))  # a critical score colours the cell
        chart.show(live(points, "900 B/s"))
        await pilot.pause()
        assert chart.plot_builds == builds + 1
        points.append((points[-1][0] + 1, 5000.0, 0.1))  # above the autoscaled axis: a new scale
        chart.show(live(points, "5000 B/s"))
        await pilot.pause()
        assert chart.plot_builds == builds + 2


class TwoCharts(App[None]):
    def compose(self) -> ComposeResult:
        yield MetricChart("Test", kind="percent", time_format=TimeFormat(utc=True), id="live")
        yield MetricChart("Test", kind="percent", time_format=TimeFormat(utc=True), id="full")


async def test_a_live_chart_draws_what_a_full_build_of_the_same_data_draws() -> None:
    # The shortcut may skip a repaint only when a full build would look the same: compare both, sample by sample.
    points: list[tuple[int, float, float | None]] = [
        (START + i * 1000, 20.0 + (i * 7919 % 37), 0.1 if i % 7 else 0.5) for i in range(700)
    ]
    app = TwoCharts()
    async with app.run_test(size=(44, 12)) as pilot:
        incremental, reference = app.query_one("#live", MetricChart), app.query_one("#full", MetricChart)
        kept = points[:660]
        incremental.show(live(kept, "-"))
        await pilot.pause()
        for point in points[660:]:
            kept = [*kept[1:], point]  # the oldest dropped as a new one comes, as the dashboard's deque does
            incremental.show(live(kept, "-"))
            reference.show(ChartData(0, 1))
            reference.show(live(kept, "-"))
            await pilot.pause()
            assert lines(incremental) == lines(reference)
            assert shown_lines(incremental) == lines(reference)  # every changed line was repainted
        assert incremental.plot_builds < reference.plot_builds  # and most samples changed no dot


async def test_a_steady_metric_moving_by_a_slot_repaints_only_the_lines_that_changed() -> None:
    async with chart_on_screen("percent") as (pilot, chart):
        points: list[tuple[int, float, float | None]] = [(START + i * 1000, 40.0, None) for i in range(660)]
        chart.show(live(points, "40.0 %"))
        await pilot.pause()
        assert chart._layout is not None
        slot_ms = 10 * MINUTE // chart._layout.slots
        repaints, builds = chart.line_repaints, chart.plot_builds
        for _ in range(4):  # four slots later at the same level: the plot rows read the same
            points = [
                *points[slot_ms // 1000 :],
                *((points[-1][0] + 1000 * (i + 1), 40.0, None) for i in range(slot_ms // 1000)),
            ]
            chart.show(live(points, "40.0 %"))
            await pilot.pause()
            assert shown_lines(chart) == lines(chart)
        assert chart.plot_builds > builds  # the window moved: rebuilt ...
        assert chart.line_repaints - repaints <= 4  # ... but at most the time axis changed, once a slot
        points.append((points[-1][0] + slot_ms, 90.0, None))
        chart.show(live(points, "90.0 %"))
        await pilot.pause()
        assert shown_lines(chart) == lines(chart) and "90.0 %" in shown_lines(chart)[0]


def point_by_point_slots(
    points: list[tuple[int, float, float | None]], start_ms: int, end_ms: int, slots: int, hold_ms: int
) -> tuple[list[float | None], list[float | None]]:
    """The plain reading of the slot rule, point by point (what `slot_values` computes by bisection)."""
    span = max(end_ms - start_ms, 1)
    values: list[float | None] = [None] * slots
    scores: list[float | None] = [None] * slots
    held = []
    for index, (when, value, score) in enumerate(points):
        slot = (when - start_ms) * slots // span
        if 0 <= slot < slots:
            current = values[slot]
            values[slot] = value if current is None else max(current, value)
            best = scores[slot]
            if score is not None:
                scores[slot] = score if best is None else max(best, score)
        following = points[index + 1][0] if index + 1 < len(points) else None
        if following is not None and following - when <= hold_ms:
            held.append((slot + 1, -(-(following - start_ms) * slots // span) - 1, value, score))
    for first, last, value, score in held:
        for slot in range(max(first, 0), min(last, slots - 1) + 1):
            if values[slot] is None:
                values[slot], scores[slot] = value, score
    return values, scores


def test_slot_values_match_the_point_by_point_rule_on_random_series() -> None:
    rng = random.Random(11)
    for _ in range(400):
        when, points = START, []
        for _ in range(rng.randrange(0, 80)):
            when += rng.choice((1, 999, 1000, 1000, 5000, 7001, 40_000))
            points.append((when, rng.choice((0.0, 50.0, rng.random() * 100)), rng.choice((None, 0.2, rng.random()))))
        start = START + rng.randrange(-20_000, 60_000)
        end = start + rng.randrange(1_000, 300_000)
        slots, hold = rng.randrange(1, 120), rng.choice((0, 1000, 2500, 12_500))
        assert slot_values(points, start, end, slots, hold) == point_by_point_slots(points, start, end, slots, hold)
