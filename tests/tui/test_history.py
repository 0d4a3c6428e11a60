"""The history screen: range keys, pan and zoom, episodes marked, a span stored as a missed anomaly."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path

from textual.widgets import OptionList

from scops_tui.store import database as store
from scops_tui.tui.app import ScopsApp
from scops_tui.tui.screens.detail import DetailScreen
from scops_tui.tui.screens.dialogs import SourceDialog
from scops_tui.tui.screens.history import HistoryScreen
from scops_tui.tui.widgets.chart import MetricChart
from tests.tui.conftest import NOW_MS, SAMPLES, STEP_MS, _record
from tests.tui.helpers import wait_for

SIZE = (120, 40)
HOUR = 3_600_000


async def open_history(pilot, app: ScopsApp) -> HistoryScreen:  # type: ignore[no-untyped-def]
    await pilot.press("2")
    await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history screen")
    screen = app.screen
    assert isinstance(screen, HistoryScreen)
    await wait_for(pilot, lambda: screen.loaded_label == "1h", "the first window")
    return screen


async def test_range_keys_change_the_visible_range(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot, app)
        assert (screen.start_ms, screen.end_ms) == (NOW_MS - HOUR, NOW_MS)
        for key, label, span in (
            ("m", "15m", HOUR // 4),
            ("s", "6h", 6 * HOUR),
            ("d", "24h", 24 * HOUR),
            ("w", "7d", 7 * 24 * HOUR),
            ("o", "30d", 30 * 24 * HOUR),
            ("h", "1h", HOUR),
        ):
            screen.loaded_label = ""
            await pilot.press(key)
            await wait_for(pilot, lambda lab=label: screen.loaded_label == lab, f"the {label} window")  # type: ignore[misc]
            assert (screen.start_ms, screen.end_ms) == (NOW_MS - span, NOW_MS)
            assert label in str(screen.query_one("#history-range").render())
        await pilot.press("a")
        await wait_for(pilot, lambda: screen.loaded_label == "all", "everything")
        first = NOW_MS - (SAMPLES - 1) * STEP_MS
        assert screen.start_ms == first // 60_000 * 60_000  # the first sample's minute
        assert screen.end_ms > NOW_MS


async def test_the_all_range_holds_every_sample(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot, app)
        screen.loaded_label = ""
        await pilot.press("a")
        await wait_for(pilot, lambda: screen.loaded_label == "all", "everything")
        assert screen.view is not None
        assert screen.view.summary.samples == SAMPLES
        assert sum(row.samples for row in screen.view.rows) == SAMPLES
        assert f"{SAMPLES:,} samples" in str(screen.query_one("#history-range").render())


async def test_pan_and_zoom(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot, app)
        await pilot.press("left")
        await wait_for(pilot, lambda: screen.loaded_label == "panned", "the panned window")
        assert (screen.start_ms, screen.end_ms) == (NOW_MS - 3 * HOUR // 2, NOW_MS - HOUR // 2)
        await pilot.press("right")
        await wait_for(pilot, lambda: screen.end_ms == NOW_MS, "the window back")
        await pilot.press("plus")
        await wait_for(pilot, lambda: screen.loaded_label == "zoomed", "the zoomed window")
        assert screen.end_ms - screen.start_ms == HOUR // 2
        await pilot.press("minus", "minus")
        await wait_for(pilot, lambda: screen.end_ms - screen.start_ms == 2 * HOUR, "the wider window")


async def test_charts_show_downsampled_data_and_episodes_are_shaded(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot, app)
        screen.loaded_label = ""
        await pilot.press("s")  # 6 h: all five episodes (the first starts 5 h before now)
        await wait_for(pilot, lambda: screen.loaded_label == "6h", "the 6 h window")
        chart = screen.query_one("#history-cpu_usage", MetricChart)
        cpu = chart.values
        assert 20 <= len(cpu) <= 2 * SIZE[0]
        assert max(cpu) == 90.0
        assert chart.data is not None
        assert len(chart.data.spans) == 5
        assert chart.data.peak == "90.0 %"
        assert "episodes in view: 5" in str(screen.query_one("#history-episodes").render())


async def test_peak_and_headline_are_the_same_at_any_width(make_app: Callable[..., ScopsApp]) -> None:
    figures = []
    for size in ((80, 24), (120, 40), (200, 50)):
        app = make_app()
        async with app.run_test(size=size) as pilot:
            screen = await open_history(pilot, app)
            screen.loaded_label = ""
            await pilot.press("s")
            await wait_for(pilot, lambda s=screen: s.loaded_label == "6h", "the 6 h window")
            found = []
            for key in ("disk_io", "network", "cpu_usage", "load_1m", "score"):
                data = screen.query_one(f"#history-{key}", MetricChart).data
                assert data is not None
                found.append((data.peak, data.headline))
            figures.append(found)
    assert figures[0] == figures[1] == figures[2]
    assert figures[0][0][0] == "r 1.5 KiB/s w 6.2 KiB/s"  # the largest read and write of any sample


async def test_n_and_p_step_through_episodes_and_enter_opens_one(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot, app)
        screen.loaded_label = ""
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.loaded_label == "6h", "the 6 h window")
        line = screen.query_one("#history-episodes")
        await pilot.press("n")
        assert "episode #1" in str(line.render())
        await pilot.press("n", "n")
        assert "episode #3" in str(line.render())
        assert screen.query_one("#history-cpu_usage", MetricChart).data.cursor is not None  # type: ignore[union-attr]
        await pilot.press("p")
        assert "episode #2" in str(line.render())
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail screen")
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.episode_id == 2


def predictions(path: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(
            "SELECT count(*), min(predicted_anomaly), min(actual_anomaly) FROM model_predictions"
        ).fetchone()
        return int(row[0]), row[1], row[2]
    finally:
        conn.close()


async def test_x_selects_a_span_with_keys_and_stores_it_as_missed(
    make_app: Callable[..., ScopsApp], seeded_db: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_history(pilot, app)
        await pilot.press("x")
        assert screen.marking == (NOW_MS - HOUR // 2, NOW_MS - HOUR // 2)
        line = screen.query_one("#history-episodes")
        assert "start at" in str(line.render())
        await pilot.press("left", "left")  # the start moves
        assert screen.marking is not None and screen.marking[0] == screen.marking[1] < NOW_MS - HOUR // 2
        await pilot.press("x", "right", "right", "right", "right", "right")  # set it, then move the end
        assert screen.marking is not None
        start, end = sorted(screen.marking)
        assert end > start and start < NOW_MS - HOUR // 2 < end
        assert "move the end" in str(line.render())
        assert (screen.start_ms, screen.end_ms) == (NOW_MS - HOUR, NOW_MS)  # the arrows moved the span, not the window
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("missed" in str(n.message) for n in app._notifications), "the notice")
        await wait_for(pilot, lambda: bool(screen.view and screen.view.labels), "the marks")
    expected = sum(1 for index in range(SAMPLES) if start <= NOW_MS - (SAMPLES - 1 - index) * STEP_MS <= end)
    assert predictions(seeded_db) == (expected, 0, 1)


async def test_escape_cancels_the_span(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot, app)
        await pilot.press("x", "right", "escape")
        assert screen.marking is None
        await pilot.press("left")
        await wait_for(pilot, lambda: screen.loaded_label == "panned", "the arrows to pan again")
    assert predictions(seeded_db)[0] == 0


async def test_shift_s_picks_another_source(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    conn = store.open_database(seeded_db)
    try:
        system = store.user_id(conn, store.SYSTEM_USERNAME)
        imported = [dataclasses.replace(_record(i), source="imported-series") for i in range(SAMPLES - 100, SAMPLES)]
        store.insert_metrics(conn, imported, created_by=system, created_at=NOW_MS)
    finally:
        conn.close()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot, app)
        await pilot.press("S")
        await wait_for(pilot, lambda: isinstance(app.screen, SourceDialog), "the source picker")
        options = app.screen.query_one(OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "imported-series",
            "testhost",
        ]
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: screen.source == "imported-series", "the new source")
        await wait_for(pilot, lambda: screen.view is not None and screen.view.source == "imported-series", "its data")
        assert "imported-series" in str(screen.query_one("#history-range").render())
        screen.loaded_label = ""
        await pilot.press("a")
        await wait_for(pilot, lambda: screen.loaded_label == "all", "all of it")
        assert screen.view is not None
        assert screen.view.summary.samples == 100
