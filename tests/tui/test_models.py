"""The models screen: versions with status and quality, deploy and retrain by key."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import DataTable

from scops_tui.detection.registry import ModelVersion
from scops_tui.tui import readers
from scops_tui.tui.app import ScopsApp
from scops_tui.tui.screens.models import ModelsScreen
from tests.tui.helpers import wait_for, workers_done

SIZE = (120, 40)


def deployed_ids(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM ml_model_versions WHERE is_deployed = 1")]
    finally:
        conn.close()


async def open_models(pilot, app: ScopsApp) -> DataTable:  # type: ignore[no-untyped-def, type-arg]
    await pilot.press("4")
    await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), "the models screen")
    table = app.screen.query_one("#versions", DataTable)
    await wait_for(pilot, lambda: table.row_count == 2, "the versions")
    return table


def cell(table: DataTable, row: int, column: str) -> str:  # type: ignore[type-arg]
    return str(table.get_cell_at(table.get_cell_coordinate(list(table.rows)[row], column)))


async def test_lists_versions_with_status_window_and_quality(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        table = await open_models(pilot, app)
        assert table.get_row_at(0)[:5] == ["2", "detector@testhost", "2", "isolation_forest", "ready"]
        assert table.get_row_at(0)[5] == "2027-01-15 02:26"  # dates with the year
        assert table.get_row_at(0)[8:] == ["0.80", "0.60", "0.69"]
        assert table.get_row_at(1)[4] == "deployed ●"


async def test_narrow_terminals_keep_the_quality_figures(make_app: Callable[..., ScopsApp]) -> None:
    for size, hidden in (((120, 40), "rows, kind"), ((80, 24), "rows, kind, data to, id")):
        app = make_app()
        async with app.run_test(size=size) as pilot:
            table = await open_models(pilot, app)
            keys = [str(column.key.value) for column in table.columns.values()]
            assert {"model", "version", "status", "precision", "recall", "f1"} <= set(keys), size
            assert cell(table, 0, "f1") == "0.69"
            assert f"hidden at this width: {hidden}" in str(app.screen.query_one("#models-summary").render())


async def test_the_summary_counts_one_version_in_the_singular(
    make_app: Callable[..., ScopsApp], seeded_db: Path
) -> None:
    conn = sqlite3.connect(seeded_db)
    with conn:
        conn.execute("DELETE FROM ml_model_versions WHERE is_deployed = 0")
    conn.close()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), "the models screen")
        table = app.screen.query_one("#versions", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, "the one version")
        assert str(app.screen.query_one("#models-summary").render()).startswith("1 version; deployed: ")


async def test_d_deploys_the_selected_version(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = await open_models(pilot, app)
        await pilot.press("d")
        await wait_for(pilot, lambda: deployed_ids(seeded_db) == [2], "version 2 to be deployed")
        await wait_for(pilot, lambda: cell(table, 0, "status") == "deployed ●", "the table to update")
        assert cell(table, 1, "status") == "deprecated"


async def test_t_retrains_in_a_worker_and_lists_the_new_version(
    make_app: Callable[..., ScopsApp], seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    original = readers.retrain

    def held_retrain(path: Path, source: str) -> ModelVersion:
        release.wait(30)
        return original(path, source)

    monkeypatch.setattr(readers, "retrain", held_retrain)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = await open_models(pilot, app)
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, ModelsScreen) and screen.training
        assert "training" in str(screen.query_one("#models-summary").render())
        assert screen.query_one("#training-progress").display
        release.set()
        await wait_for(pilot, lambda: table.row_count == 3, "the new version", timeout=60)
        await wait_for(pilot, lambda: not screen.training, "training to finish")
        assert cell(table, 0, "status") == "ready"
    assert deployed_ids(seeded_db) == [1]


async def test_a_failed_training_is_shown(make_app: Callable[..., ScopsApp], settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from scops_tui.tui.app import create_app
    from tests.tui.conftest import NOW_MS, fixed_processes

    app = create_app(
        replace(settings, source="nohistory"), record=False, clock=lambda: NOW_MS, process_reader=fixed_processes
    )
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_models(pilot, app)
        await pilot.press("t")
        await wait_for(pilot, lambda: any("training needs" in str(n.message) for n in app._notifications), "error")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        await wait_for(pilot, lambda: not screen.training, "the progress to hide")
        assert app.is_running


async def test_j_k_move_between_versions(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = await open_models(pilot, app)
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("k")
        assert table.cursor_row == 0
        await pilot.press("j", "d")  # deploying the deployed version changes nothing
        await workers_done(app)
    assert deployed_ids(seeded_db) == [1]
