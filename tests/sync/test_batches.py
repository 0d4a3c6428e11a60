"""One batch onto the server: idempotent, daily partitions and the rollup, bad rows bisected out to the rejects."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from scops_tui.store import database as store
from scops_tui.sync.local import sync_status
from tests.pg import DAY_MS, T0, add_metrics, admin_connect, fill, scalar, server_counts, sync


def test_rollup_equals_the_aggregate_and_partitions_are_daily(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    add_metrics(conn, 50, start=T0 - DAY_MS)
    add_metrics(conn, 50, start=T0)
    add_metrics(conn, 5, start=T0 + 400 * DAY_MS)  # a host whose clock is a year ahead
    sync(db_path, pg_server, batch_size=30)
    with psycopg.connect(pg_server) as pg:
        by_partition = dict(pg.execute("SELECT tableoid::regclass::text, count(*) FROM metrics GROUP BY 1").fetchall())
        assert by_partition.pop("metrics_default") == 5
        assert sorted(by_partition.values()) == [50, 50] and all(p.startswith("metrics_p") for p in by_partition)
        mismatches = pg.execute(
            "SELECT count(*) FROM (SELECT date_trunc('hour', \"timestamp\", 'UTC') AS hour, source, count(*) AS n, "
            "round(avg(cpu_usage), 2) AS cpu FROM metrics GROUP BY 1, 2) m "
            "FULL JOIN hourly_metrics_summary s USING (hour, source) "
            "WHERE m.n IS DISTINCT FROM s.total_metrics OR m.cpu IS DISTINCT FROM s.avg_cpu"
        ).fetchone()[0]
        assert mismatches == 0


def test_a_batch_sent_twice_changes_nothing(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    fill(conn, metrics=500)
    sync(db_path, pg_server, batch_size=100)
    before = server_counts(pg_server)
    rollup = scalar(pg_server, "SELECT sum(total_metrics) FROM metrics_hourly")
    with admin_connect(psycopg.conninfo.conninfo_to_dict(pg_server)["dbname"]) as admin:  # type: ignore[arg-type]
        admin.execute("DELETE FROM sync_checkpoints")  # the server forgets how far this host got
    report = sync(db_path, pg_server, batch_size=100)
    assert report.tables["metrics"].sent == 500 and report.tables["metrics"].inserted == 0
    assert report.tables["anomaly_predictions"].updated == 0
    assert server_counts(pg_server) == before
    assert scalar(pg_server, "SELECT sum(total_metrics) FROM metrics_hourly") == rollup == 500


def test_poison_rows_go_to_rejects_and_the_rest_lands(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    fill(conn, metrics=1_000)
    bad_metric = conn.execute("SELECT id FROM metrics ORDER BY id LIMIT 1 OFFSET 617").fetchone()[0]
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("UPDATE metrics SET cpu_usage = 25000 WHERE id = ?", (bad_metric,))  # 250 %: the server refuses
    conn.execute("PRAGMA ignore_check_constraints = OFF")
    key = conn.execute("SELECT id FROM api_keys").fetchone()[0]
    conn.execute(
        "INSERT INTO api_key_usage (api_key_id, endpoint, method, status_code, ip_address) "
        "VALUES (?, '/x', 'GET', 200, 'not-an-address')",
        (key,),
    )
    report = sync(db_path, pg_server, batch_size=200)
    assert report.tables["metrics"].rejected == 1 and report.tables["metrics"].inserted == 999
    assert report.tables["api_key_usage"].rejected == 1 and report.tables["api_key_usage"].inserted == 2
    status = sync_status(db_path)
    assert status.reject_count == 2
    reasons = {(r.table, r.local_id): (r.sqlstate, r.reason) for r in status.rejects}
    assert reasons[("metrics", bad_metric)][0] == "23514"
    assert "inet" in reasons[("api_key_usage", 3)][1]
    # Refused rows stay pending, and every sync tries them again (they are refused again here).
    assert status.pending == {**dict.fromkeys(store.TABLES, 0), "metrics": 1, "api_key_usage": 1}
    again = sync(db_path, pg_server)
    assert again.sent == 0 and again.tables["metrics"].retried == again.tables["metrics"].rejected == 1
    assert sync_status(db_path).reject_count == 2
    assert scalar(pg_server, "SELECT count(*) FROM metrics WHERE local_id = %s", (bad_metric,)) == 0


def test_a_child_of_a_rejected_row_is_rejected_too(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    fill(conn, metrics=5)
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("UPDATE api_keys SET key_hash = 'NOT-HEX' || substr(key_hash, 8)")
    conn.execute("PRAGMA ignore_check_constraints = OFF")
    report = sync(db_path, pg_server)
    assert report.tables["api_keys"].rejected == 1
    assert report.tables["api_key_usage"].rejected == 2
    reasons = [r.sqlstate for r in sync_status(db_path).rejects]
    assert sorted(reasons) == ["23503", "23503", "23514"]
