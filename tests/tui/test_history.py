"""The history screen: range keys, pan and zoom, episodes marked, a span stored as a missed anomaly."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from textual.widgets import Input

from scops_tui.tui.app import ScopsApp
from scops_tui.tui.screens.dialogs import SpanDialog
from scops_tui.tui.screens.history import HistoryScreen
from scops_tui.tui.widgets.chart import EpisodeStrip, MetricChart
from tests.tui.conftest import NOW_MS, SAMPLES, STEP_MS
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
        assert screen.start_ms == NOW_MS - (SAMPLES - 1) * STEP_MS
        assert screen.end_ms > NOW_MS


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


async def test_charts_show_downsampled_data_and_episodes_are_marked(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot, app)
        screen.loaded_label = ""
        await pilot.press("s")  # 6 h: all five episodes (the first starts 5 h before now)
        await wait_for(pilot, lambda: screen.loaded_label == "6h", "the 6 h window")
        cpu = screen.query_one("#history-cpu_usage", MetricChart).values
        assert 20 <= len(cpu) <= 120
        assert max(cpu) == 90.0
        strip = str(screen.query_one("#history-strip", EpisodeStrip).render())
        assert strip.strip() != ""
        assert "episodes in view: 5" in str(screen.query_one("#history-episodes").render())


async def test_x_stores_a_span_as_a_missed_anomaly(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_history(pilot, app)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, SpanDialog), "the span dialog")
        app.screen.query_one("#span-start", Input).value = "2027-01-15 07:30:00"
        app.screen.query_one("#span-end", Input).value = "2027-01-15 07:31:00"
        app.screen.query_one("#span-end", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("missed" in str(n.message) for n in app._notifications), "the notice")
    conn = sqlite3.connect(seeded_db)
    try:
        rows = conn.execute(
            "SELECT count(*), min(predicted_anomaly), min(actual_anomaly) FROM model_predictions"
        ).fetchone()
    finally:
        conn.close()
    assert rows == (13, 0, 1)  # 07:30:00 to 07:31:00 inclusive at 5 s


async def test_a_bad_time_in_the_span_dialog_is_refused(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_history(pilot, app)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, SpanDialog), "the span dialog")
        app.screen.query_one("#span-end", Input).value = "yesterday"
        app.screen.query_one("#span-end", Input).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, SpanDialog)
        assert "not a time" in str(app.screen.query_one("#span-error").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history screen")
