"""The review queue and the detail screen: every action lands in the database through the core functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import DataTable, Input

from scops_tui.store import database as store
from scops_tui.tui.app import ScopsApp
from scops_tui.tui.screens.anomalies import AnomaliesScreen
from scops_tui.tui.screens.detail import DetailScreen
from scops_tui.tui.screens.dialogs import NoteDialog
from tests.tui.conftest import episode_row
from tests.tui.helpers import row_ids, table_column, wait_for, workers_done

SIZE = (120, 40)


async def open_queue(pilot, app: ScopsApp) -> DataTable:  # type: ignore[no-untyped-def, type-arg]
    """The queue with every status shown (it opens on the open episodes, as `anomalies list` does)."""
    await pilot.press("3")
    await wait_for(pilot, lambda: isinstance(app.screen, AnomaliesScreen), "the anomalies screen")
    table = app.screen.query_one("#episodes", DataTable)
    await wait_for(pilot, lambda: row_ids(table) == [5, 4, 1], "the open episodes")
    await pilot.press("s", "s", "s")  # acknowledged, resolved, all
    await wait_for(pilot, lambda: table.row_count == 5, "the episodes")
    return table


def operator_name(path: Path, user_id: bytes) -> str:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("SELECT username FROM users WHERE id = ?", (user_id,)).fetchone()[0])
    finally:
        conn.close()


async def test_queue_lists_episodes_newest_first_with_the_first_row_selected(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = await open_queue(pilot, app)
        assert row_ids(table) == [5, 4, 3, 2, 1]
        assert table.cursor_row == 0
        assert table_column(table, "severity") == ["high", "critical", "high", "medium", "low"]
        assert table_column(table, "status") == ["open", "open", "acknowledged", "resolved", "open"]
        assert table_column(table, "metrics")[1] == "cpu_usage, load_1m, memory_usage"


async def test_a_acknowledges_the_selected_episode(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = await open_queue(pilot, app)
        await pilot.press("a")
        await wait_for(pilot, lambda: episode_row(seeded_db, 5)["acknowledged"] == 1, "the acknowledgement")
        await wait_for(pilot, lambda: table_column(table, "status")[0] == "acknowledged", "the row to update")
    row = episode_row(seeded_db, 5)
    assert operator_name(seeded_db, row["acknowledged_by"]) == store.operator_username()
    assert episode_row(seeded_db, 4)["acknowledged"] == 0


async def test_j_k_move_and_c_confirms_the_row_under_the_cursor(
    make_app: Callable[..., ScopsApp], seeded_db: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = await open_queue(pilot, app)
        await pilot.press("j", "j", "k")
        assert table.cursor_row == 1
        await pilot.press("c")
        await wait_for(pilot, lambda: episode_row(seeded_db, 4)["verdict"] == "confirmed", "the verdict")
    assert episode_row(seeded_db, 4)["acknowledged"] == 1
    assert episode_row(seeded_db, 5)["verdict"] is None


async def test_r_with_a_note_resolves_with_the_note(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, NoteDialog), "the note dialog")
        await pilot.press(*"cron job", "enter")
        await wait_for(pilot, lambda: episode_row(seeded_db, 5)["resolved_at"] is not None, "the resolution")
    assert episode_row(seeded_db, 5)["resolution_notes"].endswith("cron job")


async def test_escape_in_the_note_dialog_resolves_nothing(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, NoteDialog), "the note dialog")
        app.screen.query_one(Input).value = "never mind"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, AnomaliesScreen), "the queue again")
        await workers_done(app)
    assert episode_row(seeded_db, 5)["resolved_at"] is None


async def test_space_on_two_rows_then_f_marks_both_false_positive(
    make_app: Callable[..., ScopsApp], seeded_db: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = await open_queue(pilot, app)
        await pilot.press("space", "space")
        assert table_column(table, "mark")[:3] == ["●", "●", " "]
        await pilot.press("f")
        await wait_for(
            pilot,
            lambda: [episode_row(seeded_db, i)["verdict"] for i in (5, 4, 3)] == ["false_positive"] * 2 + [None],
            "both verdicts",
        )
        await wait_for(pilot, lambda: table_column(table, "mark")[:2] == [" ", " "], "the marks to clear")


async def test_status_and_severity_filters(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AnomaliesScreen), "the anomalies screen")
        table = app.screen.query_one("#episodes", DataTable)
        await wait_for(pilot, lambda: row_ids(table) == [5, 4, 1], "open episodes, the default as in the CLI")
        line = app.screen.query_one("#queue-filter")
        assert "status: open" in str(line.render()) and "severity: all" in str(line.render())
        await pilot.press("s")  # acknowledged
        await wait_for(pilot, lambda: row_ids(table) == [3], "acknowledged episodes")
        await pilot.press("s")  # resolved
        await wait_for(pilot, lambda: row_ids(table) == [2], "resolved episodes")
        await pilot.press("s")  # all
        await wait_for(pilot, lambda: row_ids(table) == [5, 4, 3, 2, 1], "all episodes")
        await pilot.press("v")  # low and up
        await wait_for(pilot, lambda: "severity: low+" in str(line.render()), "the filter line")
        assert row_ids(table) == [5, 4, 3, 2, 1]
        await pilot.press("v", "v")  # medium and up, then high and up
        await wait_for(pilot, lambda: row_ids(table) == [5, 4, 3], "high and critical episodes")
        assert "severity: high+" in str(line.render())
        await pilot.press("v")
        await wait_for(pilot, lambda: row_ids(table) == [4], "critical episodes")


async def test_the_preview_follows_the_cursor(make_app: Callable[..., ScopsApp]) -> None:
    from scops_tui.tui.widgets.chart import MetricChart
    from scops_tui.tui.widgets.preview import EpisodePreview

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(pilot, app)
        preview = app.screen.query_one("#preview", EpisodePreview)
        await wait_for(pilot, lambda: preview.episode_id == 5, "the preview of the first row")
        assert "episode 5" in str(preview.query_one("#preview-summary").render())
        await pilot.press("down")
        await wait_for(pilot, lambda: preview.episode_id == 4, "the preview of the second row")
        titles = [preview.query_one(f"#preview-chart-{i}", MetricChart).title for i in range(3)]
        assert titles == ["Anomaly score", "CPU", "Load 1m"]  # the score, then the metrics that deviated most
        score = preview.query_one("#preview-chart-0", MetricChart)
        assert max(score.values) == 0.93
        assert "stress-ng" in str(preview.query_one("#preview-processes").render())


async def test_narrow_queue_drops_columns_and_says_so(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AnomaliesScreen), "the anomalies screen")
        table = app.screen.query_one("#episodes", DataTable)
        await wait_for(pilot, lambda: table.row_count == 3, "the open episodes")
        keys = [str(column.key.value) for column in table.columns.values()]
        assert "metrics" in keys and "severity" in keys and "source" not in keys
        assert "hidden at this width: source" in str(app.screen.query_one("#queue-filter").render())


async def test_enter_opens_the_detail_with_metrics_processes_and_score(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = await open_queue(pilot, app)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail screen")
        detail = app.screen
        assert isinstance(detail, DetailScreen) and detail.episode_id == 4
        await wait_for(pilot, lambda: detail.episode is not None, "the episode")
        metrics = detail.query_one("#detail-metrics", DataTable)
        assert list(metrics.get_column_at(1)) == [
            "cpu_usage",
            "load_1m",
            "memory_usage",
        ]
        assert detail.query_one("#detail-processes", DataTable).row_count == 3
        from scops_tui.tui.widgets.chart import MetricChart

        score = detail.query_one("#detail-score", MetricChart).values
        assert max(score) == 0.93 and score[0] < 0.93 and score[-1] < 0.93  # context before and after
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, AnomaliesScreen), "the queue")
        await workers_done(app)
        await pilot.pause()
        assert table.row_count == 5
        assert table.cursor_row == 1  # back from the detail, the cursor stays on its episode


async def test_detail_actions_use_the_same_keys(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_queue(pilot, app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail screen")
        await pilot.press("a")
        await wait_for(pilot, lambda: episode_row(seeded_db, 5)["acknowledged"] == 1, "the acknowledgement")
        await pilot.press("f")
        await wait_for(pilot, lambda: episode_row(seeded_db, 5)["verdict"] == "false_positive", "the verdict")
        await pilot.press("c")
        await wait_for(pilot, lambda: episode_row(seeded_db, 5)["verdict"] == "confirmed", "the new verdict")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, NoteDialog), "the note dialog")
        await pilot.press(*"done", "enter")
        await wait_for(pilot, lambda: episode_row(seeded_db, 5)["resolved_at"] is not None, "the resolution")
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        await wait_for(pilot, lambda: detail.episode is not None and detail.episode.status == "resolved", "reload")
        assert "done" in str(detail.query_one("#detail-notes").render())


async def test_u_clears_the_marks_so_actions_apply_to_the_cursor_row(
    make_app: Callable[..., ScopsApp], seeded_db: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = await open_queue(pilot, app)
        await pilot.press("space", "space", "u")
        assert table_column(table, "mark") == [" "] * 5
        assert table.cursor_row == 2
        await pilot.press("a")
        await wait_for(pilot, lambda: table_column(table, "status")[2] == "acknowledged", "the row to update")
    assert [episode_row(seeded_db, i)["acknowledged"] for i in (5, 4, 3)] == [0, 0, 1]
