"""The look of the main screens: fixed terminal size, fixed data, a fixed clock, no recording."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from scops_tui.store import database as store
from scops_tui.tui.app import ScopsApp
from scops_tui.tui.screens.detail import DetailScreen
from scops_tui.tui.screens.history import HistoryScreen
from scops_tui.tui.screens.models import ModelsScreen
from scops_tui.tui.widgets.chart import MetricChart
from scops_tui.tui.widgets.preview import EpisodePreview
from scops_tui.tui.widgets.process_table import ProcessTable
from tests.tui.helpers import wait_for, workers_done

SIZE = (120, 40)
SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)], ids=["80x24", "120x40", "200x50"])
"""80x24 is a first-class size: every main screen is pinned at it, at 120x40 and at 200x50."""
Snap = Callable[..., bool]


@pytest.fixture(autouse=True)
def fixed_file_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's page allocation makes the file size vary a little between seedings: show a fixed one."""
    monkeypatch.setattr(store, "file_size", lambda path: 640 * 1024)


async def settle(pilot: Pilot[Any]) -> None:
    await workers_done(pilot.app)
    await pilot.pause()


@SIZES
def test_dashboard(snap_compare: Snap, make_app: Callable[..., ScopsApp], size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: "open anomalies" in str(app.screen.query_one("#status-line").render()), "status")
        table = app.screen.query_one("#processes", ProcessTable)
        await wait_for(pilot, lambda: table.row_count == 3, "processes")
        chart = app.screen.query_one("#chart-cpu", MetricChart)
        await wait_for(pilot, lambda: len(chart.values) == 132, "charts")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=ready)


@SIZES
def test_anomalies(snap_compare: Snap, make_app: Callable[..., ScopsApp], size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await wait_for(pilot, lambda: pilot.app.screen.query("#episodes").first(DataTable).row_count == 3, "rows")
        await pilot.press("s", "s", "s")  # every status
        await wait_for(pilot, lambda: pilot.app.screen.query("#episodes").first(DataTable).row_count == 5, "rows")
        await pilot.press("down", "space")  # marks episode 4, the cursor moves on to episode 3
        preview = pilot.app.screen.query_one("#preview", EpisodePreview)
        await wait_for(pilot, lambda: preview.episode_id == 3, "the preview")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=ready)


@SIZES
def test_anomaly_detail(snap_compare: Snap, make_app: Callable[..., ScopsApp], size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await wait_for(pilot, lambda: pilot.app.screen.query("#episodes").first(DataTable).row_count == 3, "rows")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), "the detail screen")
        screen = pilot.app.screen
        assert isinstance(screen, DetailScreen)
        await wait_for(pilot, lambda: screen.episode is not None, "the episode")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=ready)


@SIZES
def test_models(snap_compare: Snap, make_app: Callable[..., ScopsApp], size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ModelsScreen), "the models screen")
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#versions", DataTable).row_count == 2, "versions")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=ready)


@SIZES
def test_history(snap_compare: Snap, make_app: Callable[..., ScopsApp], size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HistoryScreen), "the history screen")
        screen = pilot.app.screen
        assert isinstance(screen, HistoryScreen)
        await wait_for(pilot, lambda: screen.loaded_label == "1h", "the first window")
        screen.loaded_label = ""
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.loaded_label == "6h", "the 6 h window")
        await pilot.press("n", "n", "n", "n")  # episode 4 (critical) highlighted
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=ready)


def test_help(snap_compare: Snap, make_app: Callable[..., ScopsApp]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=ready)
