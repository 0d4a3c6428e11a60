"""Nothing unsynced is ever deleted: refused rows stay pending, are retried, kept by prune, and reported."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scops_tui.store import database as store
from scops_tui.store import maintenance
from scops_tui.sync.local import pending_rows, sync_status
from scops_tui.sync.rejects import drop_rejects, read_rejects
from tests.pg import DAY_MS, T0, add_metrics, admin_connect, fill, server_counts, sync


def admin(url: str) -> psycopg.Connection[Any]:
    return admin_connect(str(psycopg.conninfo.conninfo_to_dict(url)["dbname"]))


def poison_metric(conn: sqlite3.Connection, offset: int = 3) -> int:
    """Make one stored metric invalid for the server (cpu 250 %); return its id."""
    bad = int(conn.execute("SELECT id FROM metrics ORDER BY id LIMIT 1 OFFSET ?", (offset,)).fetchone()[0])
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("UPDATE metrics SET cpu_usage = 25000 WHERE id = ?", (bad,))
    conn.execute("PRAGMA ignore_check_constraints = OFF")
    return bad


def test_prune_never_deletes_a_row_the_server_refused(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    add_metrics(conn, 20, start=T0 - 30 * DAY_MS)
    bad = poison_metric(conn)
    assert sync(db_path, pg_server).tables["metrics"].rejected == 1
    report = maintenance.prune_database(db_path, 7)
    assert report.deleted["metrics"] == 19
    assert conn.execute("SELECT id FROM metrics").fetchall() == [(bad,)]
    assert report.kept == {"refused by the server (see `scops-tui sync rejects`)": {"metrics": 1}}
    # A dry run says the same; once the operator drops the reject, the row may go.
    assert maintenance.prune_database(db_path, 7, dry_run=True).kept == report.kept
    [reject] = read_rejects(db_path)
    drop_rejects(db_path, [reject.id])
    again = maintenance.prune_database(db_path, 7)
    assert again.deleted["metrics"] == 1 and again.kept == {}


def test_prune_says_how_many_unsynced_rows_it_kept(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    add_metrics(conn, 10, start=T0 - 30 * DAY_MS)
    sync(db_path, pg_server)
    add_metrics(conn, 4, start=T0 - 20 * DAY_MS)  # old samples (an import) not synced yet
    report = maintenance.prune_database(db_path, 7)
    assert report.deleted["metrics"] == 10
    assert report.kept == {"not yet on the server": {"metrics": 4}}


def test_children_of_a_refused_parent_are_retried_once_it_lands(tmp_path: Path, pg_server: str) -> None:
    # Two hosts register the same API key: the server's key_hash is unique, so the second host's key is
    # refused (23505) and its usage rows with it (23503, no parent).
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    for path in (first, second):
        conn = store.open_database(path)
        fill(conn, metrics=5)
        conn.close()
        sync(path, pg_server)
    status = sync_status(second)
    assert sorted(r.sqlstate or "" for r in status.rejects) == ["23503", "23503", "23505"]
    assert status.pending["api_keys"] == 1 and status.pending["api_key_usage"] == 2
    assert status.pending_rejected == {**dict.fromkeys(store.TABLES, 0), "api_keys": 1, "api_key_usage": 2}
    # The first host's key goes from the server (its admin removes it); the second host's key is revoked.
    conn = store.open_database(second)
    with admin(pg_server) as pg_admin:
        pg_admin.execute("DELETE FROM api_keys WHERE source_db <> %s", (store.database_id(conn),))
    conn.execute("UPDATE api_keys SET is_active = 0")
    report = sync(second, pg_server)
    assert report.tables["api_key_usage"].inserted == 2
    assert sync_status(second).reject_count == 0
    assert sum(pending_rows(conn).values()) == 0
    conn.close()
    assert server_counts(pg_server)["api_key_usage"] == 2  # the first host's went with its key (cascade)


def test_a_refused_row_is_retried_every_run_until_it_lands(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    fill(conn, metrics=30)
    bad = poison_metric(conn)
    sync(db_path, pg_server)
    again = sync(db_path, pg_server)
    assert again.tables["metrics"].retried == 1 and again.tables["metrics"].rejected == 1
    assert sync_status(db_path).pending["metrics"] == 1
    # The server's admin widens the check; the next run lands the row without any local change.
    with admin(pg_server) as pg_admin:
        pg_admin.execute("ALTER TABLE metrics DROP CONSTRAINT metrics_cpu_usage_check")
    report = sync(db_path, pg_server)
    assert report.tables["metrics"].inserted == 1 and report.tables["metrics"].rejected == 0
    assert sync_status(db_path).reject_count == 0 and sync_status(db_path).pending["metrics"] == 0
    with psycopg.connect(pg_server) as server:
        assert server.execute("SELECT cpu_usage FROM metrics WHERE local_id = %s", (bad,)).fetchone()[0] == 250
        assert server.execute("SELECT sum(total_metrics) FROM metrics_hourly").fetchone()[0] == 30


@pytest.mark.parametrize("table", ["metrics", "anomaly_predictions"])
def test_a_conflicting_server_row_is_a_reject_not_a_silent_skip(
    conn: sqlite3.Connection, db_path: Path, pg_server: str, table: str
) -> None:
    fill(conn, metrics=40)
    sync(db_path, pg_server)
    local_id = conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0]  # noqa: S608
    with admin(pg_server) as pg_admin:
        # Another row under this host's key (a restored or copied database sent it, say), and a server
        # that forgot how far this host got.
        changed = {"metrics": "cpu_usage = 99", "anomaly_predictions": "resolution_notes = 'edited on the server'"}
        pg_admin.execute(f"UPDATE {table} SET {changed[table]} WHERE local_id = %s", (local_id,))  # noqa: S608
        pg_admin.execute("DELETE FROM sync_checkpoints WHERE table_name = %s", (table,))
    report = sync(db_path, pg_server)
    assert report.tables[table].inserted == 0 and report.tables[table].rejected == 1
    [reject] = read_rejects(db_path)
    assert (reject.table, reject.local_id) == (table, local_id) and reject.reason.startswith("conflict")
    assert sync_status(db_path).pending[table] == 1
    # The identical rows of the same batch (sent twice) are not conflicts.
    assert sync(db_path, pg_server).tables[table].rejected == 1
