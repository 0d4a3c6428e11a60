"""What each table sends: later changes of rows already sent, and refused rows again until they land."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from scops_tui.detection import review
from scops_tui.store import database as store
from scops_tui.sync.local import sync_status
from tests.pg import fill, server_counts, sync


def test_an_acknowledgement_after_sync_reaches_the_server(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    fill(conn, metrics=10)
    sync(db_path, pg_server)
    episode_id = conn.execute("SELECT id FROM anomaly_predictions").fetchone()[0]
    review.acknowledge(conn, episode_id, store.operator_username(), "disk filled by backup")
    report = sync(db_path, pg_server)
    assert report.tables["anomaly_predictions"].updated == 1
    assert report.sent == 1
    acknowledged, notes, by = (
        psycopg.connect(pg_server)
        .execute("SELECT acknowledged, resolution_notes, acknowledged_by FROM anomaly_predictions")
        .fetchone()
    )
    assert acknowledged is True and "disk filled by backup" in notes
    assert by.bytes == store.user_id(conn, store.operator_username())
    assert sync(db_path, pg_server).sent == 0


def test_later_changes_of_every_mutable_table_reach_the_server(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    fill(conn, metrics=10)
    sync(db_path, pg_server)
    episode_id = conn.execute("SELECT id FROM anomaly_predictions").fetchone()[0]
    review.give_verdict(conn, episode_id, store.operator_username(), confirmed=False, note="cron job")
    with store.transaction(conn):
        conn.execute("UPDATE api_keys SET is_active = 0")  # a key revoked
        conn.execute("UPDATE ml_model_versions SET status = 'deprecated', is_deployed = 0")
        conn.execute("UPDATE ml_models SET description = 'retired'")
        conn.execute("UPDATE users SET is_active = 0 WHERE username = 'system'")
    report = sync(db_path, pg_server)
    for table in ("users", "ml_models", "ml_model_versions", "api_keys", "anomaly_predictions"):
        assert report.tables[table].updated >= 1, table
    assert report.tables["metrics"].sent == 0
    with psycopg.connect(pg_server) as pg:
        assert pg.execute("SELECT is_active FROM api_keys").fetchone()[0] is False
        assert pg.execute("SELECT status, is_deployed FROM ml_model_versions").fetchone() == ("deprecated", False)
        assert pg.execute("SELECT verdict FROM anomaly_predictions").fetchone()[0] == "false_positive"
        assert pg.execute("SELECT is_active FROM users WHERE username = 'system'").fetchone()[0] is False
    assert sync(db_path, pg_server).sent == 0


def test_a_rejected_row_fixed_locally_lands_and_leaves_the_rejects(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    fill(conn, metrics=5)
    episode_id = conn.execute("SELECT id FROM anomaly_predictions").fetchone()[0]
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("UPDATE anomaly_predictions SET confidence_score = 1.5 WHERE id = ?", (episode_id,))
    conn.execute("PRAGMA ignore_check_constraints = OFF")
    assert sync(db_path, pg_server).tables["anomaly_predictions"].rejected == 1
    assert sync_status(db_path).reject_count == 1
    conn.execute("UPDATE anomaly_predictions SET confidence_score = 0.9 WHERE id = ?", (episode_id,))
    report = sync(db_path, pg_server)
    assert report.tables["anomaly_predictions"].inserted == 1
    assert sync_status(db_path).reject_count == 0
    assert server_counts(pg_server)["anomaly_predictions"] == 1
