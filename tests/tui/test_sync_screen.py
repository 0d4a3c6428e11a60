"""The sync screen: local sync state, `n` syncs to a real PostgreSQL server, errors shown with passwords masked."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import DataTable, Label

from scops_tui.config import Settings
from scops_tui.store import database as store
from scops_tui.sync.target import secret_url
from scops_tui.tui.app import ScopsApp, create_app
from scops_tui.tui.screens.help import HelpScreen
from scops_tui.tui.screens.sync import NOT_CONFIGURED, SyncScreen
from tests import pg
from tests.pg import server_counts
from tests.tui.conftest import NOW_MS, fixed_processes
from tests.tui.helpers import table_column, wait_for

pg_url = pg.pg_url
pg_server = pg.pg_server

SIZE = (120, 40)
LIBPQ_ENV = ("PGSERVICE", "PGSERVICEFILE", "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER")


@pytest.fixture(autouse=True)
def no_libpq_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the settings name a target here (libpq's PG* variables would name one too)."""
    for name in LIBPQ_ENV:
        monkeypatch.delenv(name, raising=False)


def app_with_target(settings: Settings, url: str | None) -> ScopsApp:
    return create_app(
        replace(settings, pg_url=secret_url(url) if url else None),
        record=False,
        clock=lambda: NOW_MS,
        process_reader=fixed_processes,
    )


def screen_text(app: ScopsApp) -> str:
    """Every label, static and table cell of the current screen, and every notification."""
    parts = [str(widget.render()) for widget in app.screen.query("Static")]
    for table in app.screen.query(DataTable):
        parts += [str(cell) for row in table.rows for cell in table.get_row(row)]
    parts += [f"{n.title} {n.message}" for n in app._notifications]
    return "\n".join(parts)


def state_text(app: ScopsApp) -> str:
    return str(app.screen.query_one("#sync-state").render())


def status_line(app: ScopsApp) -> str:
    return str(app.screen.query_one("#status-line", Label).render())


def local_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return store.table_counts(conn)
    finally:
        conn.close()


async def open_sync(pilot, app: ScopsApp) -> SyncScreen:  # type: ignore[no-untyped-def]
    await pilot.press("5")
    await wait_for(pilot, lambda: isinstance(app.screen, SyncScreen), "the sync screen")
    screen = app.screen
    assert isinstance(screen, SyncScreen)
    await wait_for(pilot, lambda: screen.view is not None, "the sync state")
    return screen


async def test_without_a_target_the_screen_says_not_configured_and_n_only_notifies(
    make_app: Callable[..., ScopsApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        status = app.screen.query_one("#status-line", Label)
        await wait_for(pilot, lambda: "open anomalies" in str(status.render()), "the status line")
        assert "sync: not configured" in str(status.render())
        screen = await open_sync(pilot, app)
        text = state_text(app)
        assert "sync: not configured" in text and "not configured" in text.splitlines()[2]
        assert "last success  never" in text
        pending = screen.query_one("#sync-pending", DataTable)
        assert table_column(pending, "table")[-1] == "total"  # type: ignore[arg-type]
        assert int(table_column(pending, "pending rows")[-1].replace(",", "")) == sum(  # type: ignore[arg-type]
            local_counts(Path("scops.db")).values()
        )
        await pilot.press("n")
        await wait_for(pilot, lambda: any(NOT_CONFIGURED in str(n.message) for n in app._notifications), "notice")
        assert not screen.syncing
        assert all(worker.name != "sync" for worker in app.workers)
        assert app.is_running


async def test_n_syncs_to_postgresql_and_shows_zero_pending_and_the_last_success(
    settings: Settings, seeded_db: Path, pg_server: str
) -> None:
    app = app_with_target(settings, pg_server)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        status = app.screen.query_one("#status-line", Label)
        await wait_for(pilot, lambda: "pending" in str(status.render()), "the status line to show pending rows")
        screen = await open_sync(pilot, app)
        assert "sync: " in state_text(app) and " pending" in state_text(app).splitlines()[0]
        assert "last success  never" in state_text(app)
        await pilot.press("n")
        await wait_for(
            pilot, lambda: any("synced" in str(n.message) for n in app._notifications), "the summary", timeout=60
        )
        await wait_for(pilot, lambda: "last success  never" not in state_text(app), "the screen to refresh")
        assert server_counts(pg_server) == local_counts(seeded_db)
        text = state_text(app)
        assert text.splitlines()[0].startswith("sync: ok ")
        assert "pending       0 rows" in text and "last error    -" in text
        summary = next(str(n.message) for n in app._notifications if "synced" in str(n.message))
        assert "metrics: 4,000 new" in summary
        pending = screen.query_one("#sync-pending", DataTable)
        assert set(table_column(pending, "pending rows")) == {"0"}  # type: ignore[arg-type]
        assert not screen.syncing and not screen.query_one("#sync-progress").display
        await pilot.press("1")
        await wait_for(pilot, lambda: "sync: ok " in status_line(app), "the dashboard to show the success")


async def test_an_unreachable_server_is_an_error_and_the_password_never_shows(
    settings: Settings, seeded_db: Path
) -> None:
    app = app_with_target(settings, "postgresql://u:secret@127.0.0.1:1/x")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_sync(pilot, app)
        assert "postgresql://u:***@127.0.0.1:1/x" in state_text(app)
        await pilot.press("n")
        await wait_for(
            pilot,
            lambda: any(n.severity == "error" for n in app._notifications),
            "the error",
            timeout=60,
        )
        error = next(n for n in app._notifications if n.severity == "error")
        assert "\n" not in str(error.message) and "127.0.0.1" in str(error.message)
        await wait_for(pilot, lambda: "last error    -" not in state_text(app), "the error on screen")
        assert state_text(app).splitlines()[0] == "sync: error"
        assert not screen.syncing
        assert "secret" not in screen_text(app)
        await pilot.press("1")
        await wait_for(pilot, lambda: "sync: error" in status_line(app), "the dashboard to show the error")
        assert "secret" not in screen_text(app)
        assert app.is_running


async def test_help_and_the_command_palette_list_sync_now(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        rows = {row.id: row for row in app.binding_rows()}
        assert rows["sync.now"].key == "n" and rows["sync.now"].description == "Sync now"
        ids = [str(value) for value in app.screen.query_one("#bindings", DataTable).get_column_at(3)]
        assert "sync.now" in ids
        await open_sync(pilot, app)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert "Sync: Sync now" in titles


async def test_a_sync_made_from_the_cli_shows_on_the_dashboard(
    settings: Settings, seeded_db: Path, pg_server: str
) -> None:
    import subprocess
    import sys

    # The real command, in another process, with the target given only on its command line.
    cli = Path(sys.executable).with_name("scops-tui")
    done = subprocess.run(
        [str(cli), "--db", str(seeded_db), "sync", "--url", pg_server], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    app = app_with_target(settings, None)  # nothing configured in the app's own settings
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "sync: ok" in status_line(app), "the status line to show the CLI's sync")
        assert "not configured" not in status_line(app)
