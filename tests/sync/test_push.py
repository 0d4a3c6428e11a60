"""Sync to a real PostgreSQL server: counts, increments, later changes, two hosts, faults, rejects, prune."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scops_tui.detection import review
from scops_tui.store import database as store
from scops_tui.store import maintenance
from scops_tui.sync.push import (
    ServerUnreachable,
    SyncError,
    pending_rows,
    run_sync,
    sync_status,
    unsynced_conditions,
    watch_sync,
)
from scops_tui.sync.server import init_server
from scops_tui.sync.target import resolve_target
from tests import pg
from tests.pg import T0, add_metrics, admin_connect, fill, server_counts

pg_url = pg.pg_url
pg_server = pg.pg_server

DAY_MS = 86_400_000


def sync(db_path: Path, url: str, **kwargs: Any) -> Any:
    return run_sync(db_path, resolve_target(url), **kwargs)


def scalar(url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def test_full_sync_lands_every_table_and_a_second_run_sends_nothing(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    fill(conn, metrics=2_500)
    first = sync(db_path, pg_server, batch_size=1000)
    assert server_counts(pg_server) == store.table_counts(conn)
    assert first.tables["metrics"].inserted == 2_500
    assert all(first.tables[t].sent == n for t, n in store.table_counts(conn).items())
    second = sync(db_path, pg_server, batch_size=1000)
    assert second.sent == 0
    assert server_counts(pg_server) == store.table_counts(conn)
    assert pending_rows(conn) == dict.fromkeys(store.TABLES, 0)


def test_values_arrive_in_native_types(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    fill(conn, metrics=3)
    sync(db_path, pg_server)
    with psycopg.connect(pg_server) as pg:
        ts, cpu, mem, load, rt, score, created_by = pg.execute(
            'SELECT "timestamp", cpu_usage, memory_usage, load_1m, response_time, anomaly_score, created_by '
            "FROM metrics ORDER BY local_id LIMIT 1"
        ).fetchone()
        assert int(ts.timestamp() * 1000) == T0
        assert (str(cpu), str(mem), str(load), str(rt), str(score)) == ("10.00", "20.50", "0.1234", "0.512", "0.0123")
        assert created_by.bytes == store.user_id(conn, "system")
        permissions, ip = pg.execute("SELECT permissions, ip_address FROM api_keys, api_key_usage LIMIT 1").fetchone()
        assert permissions == ["read", "write"] and str(ip) == "10.0.0.7"
        config = pg.execute("SELECT pg_typeof(model_config)::text FROM ml_model_versions").fetchone()[0]
        assert config == "jsonb"


def test_only_new_rows_are_sent_next_time(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    fill(conn, metrics=100)
    sync(db_path, pg_server)
    add_metrics(conn, 7, start=T0 + 3_600_000)
    report = sync(db_path, pg_server)
    assert report.sent == 7 and report.tables["metrics"].inserted == 7
    assert server_counts(pg_server)["metrics"] == 107


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


def test_two_hosts_sync_into_one_server_without_collision(tmp_path: Path, pg_server: str) -> None:
    paths = [tmp_path / "a.db", tmp_path / "b.db"]
    for path in paths:
        conn = store.open_database(path)
        fill(conn, metrics=300)
        conn.close()
        sync(path, pg_server)
    counts = server_counts(pg_server)
    assert counts["metrics"] == 600 and counts["users"] == 4 and counts["anomaly_predictions"] == 2
    assert scalar(pg_server, "SELECT count(DISTINCT source_db) FROM metrics") == 2
    # Same source name and hour on both hosts: two rollup rows, one summary row of 600 samples.
    assert scalar(pg_server, "SELECT sum(total_metrics) FROM hourly_metrics_summary") == 600


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


def _kill_sync_backends(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as other:
        killed = other.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'scops-tui sync' AND pid <> pg_backend_pid()"
        ).fetchone()
        assert killed and killed[0] >= 1


def test_a_connection_killed_mid_sync_resumes_with_exact_counts(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    fill(conn, metrics=5_000)

    kills: list[int] = []

    def kill_on_third(table: str, batch: int) -> None:
        if batch == 3 and not kills:
            kills.append(batch)
            _kill_sync_backends(pg_server)

    report = sync(db_path, pg_server, batch_size=500, on_batch=kill_on_third, sleep=lambda s: None)
    assert report.reconnects == 1
    assert server_counts(pg_server) == store.table_counts(conn)
    assert scalar(pg_server, "SELECT sum(total_metrics) FROM metrics_hourly") == 5_000
    assert sync(db_path, pg_server).sent == 0


def test_a_broken_run_fails_clearly_and_the_next_one_resumes(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    fill(conn, metrics=3_000)

    def kill_on_second(table: str, batch: int) -> None:
        if batch == 2 and table == "metrics":
            _kill_sync_backends(pg_server)

    with pytest.raises(ServerUnreachable, match="lost"):
        sync(db_path, pg_server, batch_size=500, on_batch=kill_on_second, max_reconnects=0)
    landed = server_counts(pg_server)["metrics"]
    assert 0 < landed < 3_000
    assert sync_status(db_path).last_error is not None
    report = sync(db_path, pg_server, batch_size=500)
    assert report.tables["metrics"].inserted == 3_000 - landed
    assert server_counts(pg_server) == store.table_counts(conn)
    assert sync_status(db_path).last_error is None


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


def test_unreachable_server_is_one_clear_line_with_the_password_masked(db_path: Path) -> None:
    store.open_database(db_path).close()
    with pytest.raises(ServerUnreachable) as caught:
        sync(db_path, "postgresql://scops:hunter2@127.0.0.1:1/scops")
    message = str(caught.value)
    assert "\n" not in message and "hunter2" not in message
    assert "127.0.0.1" in message and "***" in message
    status = sync_status(db_path)
    assert status.last_error == message and status.last_success_at is None


def test_a_server_without_the_schema_is_refused_clearly(db_path: Path, pg_url: str) -> None:
    store.open_database(db_path).close()
    with pytest.raises(SyncError, match="--init-server"):
        sync(db_path, pg_url)


def test_init_server_is_idempotent(pg_url: str) -> None:
    target = resolve_target(pg_url)
    applied, version = init_server(target)
    assert len(applied) == version >= 3
    assert init_server(target) == ([], version)


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


def test_dry_run_counts_without_connecting(conn: sqlite3.Connection, db_path: Path) -> None:
    fill(conn, metrics=20)
    report = sync(db_path, "postgresql://127.0.0.1:1/x", dry_run=True)
    assert (
        report.dry_run and report.tables["metrics"].sent == 20 and report.sent == sum(store.table_counts(conn).values())
    )


def test_watch_retries_with_backoff_and_stops_on_the_event(db_path: Path) -> None:
    store.open_database(db_path).close()
    stop = threading.Event()
    waits: list[float] = []

    def failed(message: str, wait: float) -> None:
        assert "hunter2" not in message
        waits.append(wait)
        if len(waits) == 4:
            stop.set()

    runs = watch_sync(db_path, resolve_target("postgresql://u:hunter2@127.0.0.1:1/x"), stop, on_error=failed)
    assert runs == 0 and len(waits) == 4
    assert 0.125 <= waits[0] <= 0.25 and 1.0 <= waits[3] <= 2.0


def test_watch_syncs_until_stopped(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    fill(conn, metrics=10)
    stop = threading.Event()
    reports: list[Any] = []

    def reported(report: Any) -> None:
        reports.append(report)
        if len(reports) == 1:
            add_metrics(conn, 5, start=T0 + 3_600_000)
        else:
            stop.set()

    assert watch_sync(db_path, resolve_target(pg_server), stop, interval=0.05, on_report=reported) == 2
    assert reports[1].tables["metrics"].inserted == 5


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


def test_recording_goes_on_while_a_sync_runs(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    add_metrics(conn, 20_000)
    stop = threading.Event()
    written: list[int] = []
    failures: list[BaseException] = []

    def record() -> None:
        writer = store.open_database(db_path)
        try:
            ts = T0 + 25_000_000  # after the 20,000 samples above
            while not stop.is_set():
                add_metrics(writer, 10, start=ts)
                ts += 10_000
                written.append(10)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            writer.close()

    thread = threading.Thread(target=record)
    thread.start()
    try:
        sync(db_path, pg_server, batch_size=2_000)
    finally:
        stop.set()
        thread.join()
    assert not failures and sum(written) > 0
    sync(db_path, pg_server)
    assert server_counts(pg_server)["metrics"] == store.table_counts(conn)["metrics"] == 20_000 + sum(written)


def test_init_server_upgrades_an_older_server_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    from scops_tui.store import migrations

    shipped = migrations.schema_dir("postgres")
    older = tmp_path / "postgres"
    older.mkdir()
    (older / "0001_eight_tables.sql").write_text((shipped / "0001_eight_tables.sql").read_text())
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "schema_dir", lambda dialect: older)
        assert init_server(resolve_target(pg_url)) == (["0001_eight_tables"], 1)
    applied, version = init_server(resolve_target(pg_url))
    assert applied == ["0002_rollup_and_views", "0003_row_level_security", "0004_no_side_channels"]
    assert version == 4 and scalar(pg_url, "SELECT count(*) FROM schema_migrations") == 4


def test_a_server_newer_than_the_program_is_refused(db_path: Path, pg_server: str) -> None:
    store.open_database(db_path).close()
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'from_the_future')")
    with pytest.raises(SyncError, match="newer than this program"):
        sync(db_path, pg_server)
    with pytest.raises(SyncError, match="newer than this program"):
        init_server(resolve_target(pg_server))


def test_a_run_stopped_between_batches_is_not_a_success(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    fill(conn, metrics=3_000)
    stop = threading.Event()
    sync(db_path, pg_server, batch_size=1000, on_batch=lambda *args: stop.set(), stop=stop)
    status = sync_status(db_path)
    assert status.last_success_at is None
    assert sum(status.pending.values()) > 0
    sync(db_path, pg_server, batch_size=1000)
    assert sync_status(db_path).last_success_at is not None
    assert server_counts(pg_server) == store.table_counts(conn)
