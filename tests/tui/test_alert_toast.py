"""Alerts in the app: a toast when a new episode opens while it is open; pending alerts on the status line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import Label

from scops_tui.alerts.outbox import AlertOutbox
from scops_tui.store import database as store
from scops_tui.tui.app import ScopsApp
from tests.alerts.helpers import EpisodeWriter, settings, write_config
from tests.tui.conftest import NOW_MS
from tests.tui.helpers import wait_for

SIZE = (120, 40)


def toasts(app: ScopsApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_a_new_episode_gets_a_toast_old_ones_do_not(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    app = make_app(refresh_seconds=0.2)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: app._episode_mark is not None, "the first look at the episodes")
        assert toasts(app) == []  # the five seeded episodes are not news
        conn = store.open_database(seeded_db)
        try:
            episode = EpisodeWriter(conn, None, source="testhost").open(NOW_MS, 0.83)
        finally:
            conn.close()
        await wait_for(pilot, lambda: toasts(app), "the toast")
        assert toasts(app) == [f"new anomaly episode: episode {episode} on testhost: critical, peak score 0.83"]


async def test_the_status_line_shows_pending_alerts(
    make_app: Callable[..., ScopsApp], seeded_db: Path, scops_home: Path
) -> None:
    write_config(scops_home, ["json://127.0.0.1:9/hook"])
    conn = store.open_database(seeded_db)
    try:
        writer = EpisodeWriter(conn, AlertOutbox(settings(["json://127.0.0.1:9/hook"], cooldown=0)), source="testhost")
        writer.open(NOW_MS, 0.7)
        writer.open(NOW_MS + 1, 0.9)
    finally:
        conn.close()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        line = lambda: str(app.screen.query_one("#status-line", Label).render())  # noqa: E731
        await wait_for(pilot, lambda: "alerts:" in line(), "the alert state")
        assert "alerts: 2 pending" in line()
