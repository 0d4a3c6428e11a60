"""The store under concurrent use: a writer with reader threads in one process, CLI commands in others.

Regression for the corruption of issue 9: opening and closing the database file with anything but SQLite
drops every POSIX lock the process holds on it, so another process deletes the WAL under a live writer.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from scops_tui.store import database as store
from scops_tui.store import maintenance
from scops_tui.store.records import MetricRecord

CLI = [sys.executable, "-m", "scops_tui"]


def _record(ts: int) -> MetricRecord:
    return MetricRecord(
        timestamp_ms=ts,
        source="writer",
        cpu_usage=1.0,
        memory_usage=2.0,
        disk_usage=3.0,
        load_1m=0.1,
        load_5m=0.1,
        load_15m=0.1,
        disk_io_read=0,
        disk_io_write=0,
        network_rx=0,
        network_tx=0,
        response_time=1.0,
    )


def test_cli_commands_beside_a_writer_with_reader_threads_never_delete_the_wal(db_path: Path) -> None:
    writer = store.open_database(db_path)
    system_id = store.user_id(writer, store.SYSTEM_USERNAME)
    stop = threading.Event()
    written = 0
    reader_errors: list[str] = []
    missing: list[str] = []

    def write_loop() -> None:
        nonlocal written
        ts = 1_700_000_000_000
        while not stop.is_set():
            store.insert_metrics(writer, [_record(ts)], created_by=system_id, created_at=ts)
            written += 1
            ts += 1000
            stop.wait(0.005)

    def read_loop() -> None:
        # The app opens a fresh reader for each refresh, from worker threads.
        while not stop.is_set():
            try:
                reader = store.open_reader(db_path)
                try:
                    reader.execute("SELECT count(*) FROM metrics").fetchone()
                finally:
                    reader.close()
            except Exception as exc:
                reader_errors.append(str(exc))
            stop.wait(0.005)

    threads = [threading.Thread(target=write_loop), threading.Thread(target=read_loop)]
    for thread in threads:
        thread.start()
    try:
        env = {**os.environ, "SCOPS_DB": str(db_path)}
        for command in (["anomalies", "list", "--json"], ["db", "status"], ["model", "list"], ["db", "check"]) * 3:
            result = subprocess.run([*CLI, *command], env=env, capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
            for suffix in ("-wal", "-shm"):
                if not Path(f"{db_path}{suffix}").exists():
                    missing.append(f"{suffix} gone after {' '.join(command)}")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert missing == []
    assert reader_errors == []
    count = writer.execute("SELECT count(*) FROM metrics").fetchone()[0]
    writer.close()
    assert written > 0
    assert count == written
    report = maintenance.check_database(db_path)
    assert report.ok, report.problems
    check = sqlite3.connect(db_path)
    assert check.execute("SELECT count(*) FROM metrics").fetchone()[0] == written
    check.close()


def test_connections_opening_a_new_database_at_once_migrate_it_once(db_path: Path) -> None:
    # The app's recorder and its readers (or two commands) may open a file that does not exist yet together.
    barrier = threading.Barrier(4)
    failures: list[str] = []

    def open_it() -> None:
        barrier.wait()
        try:
            store.open_database(db_path).close()
        except Exception as exc:
            failures.append(str(exc))

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert maintenance.check_database(db_path).ok
