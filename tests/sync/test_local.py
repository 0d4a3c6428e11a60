"""The local side: `db prune` keeps what the server does not have yet."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scops_tui.store import maintenance
from scops_tui.sync.local import unsynced_conditions
from scops_tui.sync.server import ServerUnreachable
from tests.pg import DAY_MS, T0, add_metrics, sync


def test_prune_keeps_rows_not_yet_synced(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    old = T0 - 30 * DAY_MS
    add_metrics(conn, 100, start=old)
    assert unsynced_conditions(conn) is None
    sync(db_path, pg_server)
    add_metrics(conn, 50, start=old + DAY_MS)  # old samples (an import, say) not yet synced
    report = maintenance.prune_database(db_path, 7)
    assert report.deleted["metrics"] == 100
    assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 50
    sync(db_path, pg_server)
    assert maintenance.prune_database(db_path, 7).deleted["metrics"] == 50


def test_prune_keeps_everything_after_a_failed_first_sync(conn: sqlite3.Connection, db_path: Path) -> None:
    add_metrics(conn, 10, start=T0 - 30 * DAY_MS)
    with pytest.raises(ServerUnreachable):
        sync(db_path, "postgresql://127.0.0.1:1/x")
    assert maintenance.prune_database(db_path, 7).deleted["metrics"] == 0


def test_prune_keeps_everything_once_a_target_is_configured(
    conn: sqlite3.Connection, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_metrics(conn, 10, start=T0 - 30 * DAY_MS)
    monkeypatch.setenv("SCOPS_PG_URL", "postgresql://127.0.0.1:1/x")
    assert maintenance.prune_database(db_path, 7).deleted["metrics"] == 0
    monkeypatch.delenv("SCOPS_PG_URL")
    assert maintenance.prune_database(db_path, 7).deleted["metrics"] == 10
