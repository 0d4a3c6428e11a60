"""The run: every table lands, only new rows go next time, lost connections resume, stops and dry runs."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest

from scops_tui.store import database as store
from scops_tui.sync.local import pending_rows, sync_status
from scops_tui.sync.server import ServerUnreachable
from tests.pg import T0, add_metrics, fill, scalar, server_counts, sync


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

    def kill_on_third(table: str, batch: int) -> None:
        if batch == 3 and table == "metrics":
            _kill_sync_backends(pg_server)

    with pytest.raises(ServerUnreachable, match="lost"):
        sync(db_path, pg_server, batch_size=500, on_batch=kill_on_third, max_reconnects=0)
    # Metrics batches are pipelined, so on a loaded host the kill may come before the first commit lands.
    landed = server_counts(pg_server)["metrics"]
    assert 0 <= landed < 3_000
    assert sync_status(db_path).last_error is not None
    report = sync(db_path, pg_server, batch_size=500)
    assert report.tables["metrics"].inserted == 3_000 - landed
    assert server_counts(pg_server) == store.table_counts(conn)
    assert sync_status(db_path).last_error is None


def test_unreachable_server_is_one_clear_line_with_the_password_masked(db_path: Path) -> None:
    store.open_database(db_path).close()
    with pytest.raises(ServerUnreachable) as caught:
        sync(db_path, "postgresql://scops:hunter2@127.0.0.1:1/scops")
    message = str(caught.value)
    assert "\n" not in message and "hunter2" not in message
    assert "127.0.0.1" in message and "***" in message
    status = sync_status(db_path)
    assert status.last_error == message and status.last_success_at is None


def test_dry_run_counts_without_connecting(conn: sqlite3.Connection, db_path: Path) -> None:
    fill(conn, metrics=20)
    report = sync(db_path, "postgresql://127.0.0.1:1/x", dry_run=True)
    assert (
        report.dry_run and report.tables["metrics"].sent == 20 and report.sent == sum(store.table_counts(conn).values())
    )


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
