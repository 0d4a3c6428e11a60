"""The app as a whole: navigation keys, quitting, help, key remapping, command palette, worker errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import DataTable

from scops_tui.errors import ConfigError
from scops_tui.recording.processes import ProcessUsage
from scops_tui.tui.app import ScopsApp
from scops_tui.tui.keymap import load_keymap
from scops_tui.tui.screens.anomalies import AnomaliesScreen
from scops_tui.tui.screens.dashboard import DashboardScreen
from scops_tui.tui.screens.help import HelpScreen
from scops_tui.tui.screens.history import HistoryScreen
from scops_tui.tui.screens.models import ModelsScreen
from scops_tui.tui.screens.sync import SyncScreen
from tests.tui.conftest import episode_row
from tests.tui.helpers import wait_for, workers_done

SIZE = (120, 40)


async def test_number_keys_switch_screens_and_q_exits_with_status_0(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, DashboardScreen)
        for key, screen_type in (
            ("2", HistoryScreen),
            ("3", AnomaliesScreen),
            ("4", ModelsScreen),
            ("5", SyncScreen),
            ("question_mark", HelpScreen),
            ("1", DashboardScreen),
        ):
            await pilot.press(key)
            await wait_for(pilot, lambda t=screen_type: isinstance(app.screen, t), screen_type.__name__)  # type: ignore[misc]
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_code == 0


async def test_sync_screen_says_not_configured(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen), "the sync screen")
        assert "sync: not configured" in str(app.screen.query_one("#sync-state").render())


async def test_help_lists_every_binding_id_of_every_screen(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        ids = [str(value) for value in app.screen.query_one("#bindings", DataTable).get_column_at(3)]
    expected = {
        "app.dashboard", "app.history", "app.anomalies", "app.models", "app.sync", "app.help", "app.quit",
        "dashboard.refresh", "dashboard.extras", "dashboard.sort", "dashboard.filter", "dashboard.autoscale",
        "dashboard.clear_filter",
        "history.next_episode", "history.previous_episode", "history.open", "history.cancel_mark", "history.source",
        "history.autoscale", "help.back",
        "history.range_15m", "history.range_1h", "history.range_6h", "history.range_24h", "history.range_7d",
        "history.range_30d", "history.range_all", "history.pan_earlier", "history.pan_later", "history.zoom_in",
        "history.zoom_out", "history.mark_missed",
        "anomalies.down", "anomalies.up", "anomalies.mark", "anomalies.acknowledge", "anomalies.confirm",
        "anomalies.false_positive", "anomalies.resolve", "anomalies.details", "anomalies.status_filter",
        "anomalies.severity_filter", "anomalies.clear_marks",
        "detail.back", "detail.acknowledge", "detail.confirm", "detail.false_positive", "detail.resolve",
        "models.down", "models.up", "models.retrain", "models.deploy", "sync.now",
        "dialog.cancel",
    }  # fmt: skip
    assert set(ids) == expected
    assert len(ids) == len(set(ids))


async def test_every_binding_has_an_id_and_a_description() -> None:
    from scops_tui.tui.app import _bindings_of

    for row in ScopsApp.BINDINGS:
        assert row in _bindings_of([row])
    for screen_type in (DashboardScreen, HistoryScreen, AnomaliesScreen, ModelsScreen):
        for binding in screen_type.BINDINGS:
            assert binding in _bindings_of([binding]), binding
            assert binding.description  # type: ignore[union-attr]


async def test_keymap_file_remaps_a_binding_by_id(
    make_app: Callable[..., ScopsApp], seeded_db: Path, tmp_path: Path
) -> None:
    keymap = tmp_path / "keys.toml"
    keymap.write_text('[keys]\n"anomalies.acknowledge" = "g"\n"app.anomalies" = "A"\n', encoding="utf-8")
    app = make_app(keymap=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, AnomaliesScreen), "the anomalies screen")
        table = app.screen.query_one("#episodes", DataTable)
        await wait_for(pilot, lambda: table.row_count == 3, "the episodes")
        await pilot.press("a")  # no longer bound
        await workers_done(app)
        assert episode_row(seeded_db, 5)["acknowledged"] == 0
        await pilot.press("g")
        await wait_for(pilot, lambda: episode_row(seeded_db, 5)["acknowledged"] == 1, "the acknowledgement")
        rows = {row.id: row.key for row in app.binding_rows()}
        assert rows["anomalies.acknowledge"] == "g" and rows["app.anomalies"] == "A"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('"anomalies.acknowlege" = "g"', r"keys\.anomalies\.acknowlege: unknown binding id"),
        ('"app.quit" = "ctrl+"', r'"ctrl\+" is empty around a \+'),
        ('"app.quit" = "hyperspace"', r"unknown key name 'hyperspace'"),
        ('"app.quit" = "cmd+q"', r"unknown modifier 'cmd'"),
        (
            '"anomalies.acknowledge" = "enter"',
            r'keys\."anomalies\.acknowledge" = "enter" clashes with anomalies\.details on the Anomalies screen',
        ),
        ('"app.anomalies" = "e"', r"clashes with dashboard\.extras on the Dashboard screen"),
    ],
)
def test_a_bad_keys_table_is_one_clear_error(
    make_app: Callable[..., ScopsApp], tmp_path: Path, table: str, message: str
) -> None:
    keymap = tmp_path / "config.toml"
    keymap.write_text(f"[keys]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        make_app(keymap=keymap)
    assert str(keymap) in str(caught.value) and "\n" not in str(caught.value)


def test_remapping_both_sides_of_a_clash_is_accepted(make_app: Callable[..., ScopsApp], tmp_path: Path) -> None:
    keymap = tmp_path / "config.toml"
    keymap.write_text('[keys]\n"anomalies.acknowledge" = "enter"\n"anomalies.details" = "o"\n', encoding="utf-8")
    app = make_app(keymap=keymap)
    assert {row.id: row.key for row in app.binding_rows()}["anomalies.details"] == "o"


async def test_escape_leaves_help_for_the_screen_it_was_opened_from(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        intro = app.screen.query_one("#help-intro")
        assert intro.size.height >= 2  # wraps instead of being cut at 120 columns
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), "the models screen again")


def test_keymap_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    assert load_keymap(path) == {}
    path.write_text("[keys]\n'app.quit' = 'x'\n", encoding="utf-8")
    assert load_keymap(path) == {"app.quit": "x"}
    path.write_text("[keys]\n'app.quit' = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"keys\.app\.quit"):
        load_keymap(path)
    path.write_text("[keys\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_keymap(path)


async def test_command_palette_offers_screens_and_the_screen_actions(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AnomaliesScreen), "the anomalies screen")
        titles = {command.title: command for command in app.get_system_commands(app.screen)}
        assert {"Go to Dashboard", "Go to History", "Go to Models", "Go to Sync", "Go to Help"} <= set(titles)
        assert "Anomalies: Acknowledge" in titles and "Anomalies: Resolve with a note" in titles
        titles["Go to Models"].callback()
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), "the models screen")


async def test_command_palette_runs_a_screen_action(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AnomaliesScreen), "the anomalies screen")
        table = app.screen.query_one("#episodes", DataTable)
        await wait_for(pilot, lambda: table.row_count == 3, "the open episodes")
        await pilot.press("ctrl+p")
        await pilot.press(*"acknowledge")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: episode_row(seeded_db, 5)["acknowledged"] == 1, "the acknowledgement")


async def test_an_error_in_a_worker_is_shown_and_the_app_keeps_running(make_app: Callable[..., ScopsApp]) -> None:
    def broken(limit: int) -> list[ProcessUsage]:
        raise RuntimeError("process table unreadable")

    app = make_app(process_reader=broken)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(
            pilot, lambda: any("process table unreadable" in str(n.message) for n in app._notifications), "the error"
        )
        assert app.is_running
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, AnomaliesScreen), "the anomalies screen")
        assert app.is_running


async def test_a_missing_database_is_reported_not_fatal(make_app: Callable[..., ScopsApp], tmp_path: Path) -> None:
    from scops_tui.config import Settings
    from scops_tui.tui.app import create_app

    app = create_app(Settings(db=tmp_path / "absent.db", source="x"), record=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        status = app.screen.query_one("#status-line")
        await wait_for(pilot, lambda: "no database" in str(status.render()), "the status line to say so")
        await pilot.press("3")
        await wait_for(pilot, lambda: any("no database" in str(n.message) for n in app._notifications), "the error")
        assert app.is_running


async def test_the_compact_footer_at_80_columns_keeps_a_group_apart_from_the_next_key(
    make_app: Callable[..., ScopsApp],
) -> None:
    app = make_app()

    def footer() -> str:
        return app.screen._compositor.render_strips()[-1].text

    async with app.run_test(size=(80, 24)) as pilot:
        for key, wanted in (
            ("1", "12345 screens ? Help q Quit"),
            ("2", "np episode x Missed S Source"),
            ("3", "jk move ␣u mark acfr review"),
        ):
            await pilot.press(key)
            await wait_for(pilot, lambda wanted=wanted: wanted in footer(), f"{wanted!r} in the footer")  # type: ignore[misc]
            assert len(footer().rstrip()) <= 80


async def test_a_terminal_narrowed_to_80_columns_drops_the_palette_key_at_once(
    make_app: Callable[..., ScopsApp],
) -> None:
    from textual.widgets import Footer

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        footer = app.screen.query_one(Footer)
        await wait_for(pilot, lambda: footer.query(".-command-palette"), "the palette key at 120 columns")
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: not footer.query(".-command-palette"), "the palette key to go")
        assert footer.compact
        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: footer.query(".-command-palette"), "the palette key back")
