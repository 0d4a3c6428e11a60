"""A recorded database opens in sqlite-utils (the library behind Datasette's tooling) and reads in plain units."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord
from tests.cli.seed import run_installed

T0 = 1_767_225_600_000
"""2026-01-01 00:00 UTC."""


def read_only(path: Path) -> sqlite_utils.Database:
    """sqlite-utils over a read-only connection: looking must not change the file."""
    return sqlite_utils.Database(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True))


def test_metrics_readable_gives_plain_units(db_path: Path) -> None:
    """Values stored scaled (percent x100, load x10000, ms x1000, score x10000) read back as the sampler took them."""
    conn = store.open_database(db_path)
    try:
        record = MetricRecord(T0, "web-01", 12.34, 56.78, 90.12, 1.2345, 0.5, 0.25, 4096, 8192, 1000, 2000, 1.625,
                              None, True, 0.8125)  # fmt: skip
        store.insert_metrics(conn, [record], created_by=store.user_id(conn, store.SYSTEM_USERNAME), created_at=T0)
    finally:
        conn.close()
    db = read_only(db_path)
    assert "metrics_readable" in db.view_names()
    assert set(store.TABLES) <= set(db.table_names())
    (row,) = list(db["metrics_readable"].rows)
    assert row["timestamp"] == "2026-01-01T00:00:00.000Z" and row["source"] == "web-01"
    assert (row["cpu_usage"], row["memory_usage"], row["disk_usage"]) == (12.34, 56.78, 90.12)
    assert (row["load_1m"], row["load_5m"], row["load_15m"]) == (1.2345, 0.5, 0.25)
    assert (row["disk_io_read"], row["disk_io_write"], row["network_rx"], row["network_tx"]) == (4096, 8192, 1000, 2000)
    assert row["response_time"] == 1.625 and row["anomaly_score"] == 0.8125 and row["is_anomaly"] == 1
    assert row["error_rate"] is None and row["created_by"] == "system"


def test_a_database_the_recorder_wrote_reads_in_plain_units(tmp_path: Path, scops_home: Path) -> None:
    """Real samples of this host, recorded by the installed command, are in their ranges through the view."""
    db = tmp_path / "recorded.db"
    env = {**os.environ, "SCOPS_HOME": str(scops_home), "SCOPS_DB": str(db)}
    result = run_installed("record", "--interval", "1", "--duration", "3", "--quiet", "--no-detect", env=env)
    assert result.returncode == 0, result.stderr
    database = read_only(db)
    rows = list(database["metrics_readable"].rows)
    assert len(rows) >= 1 and len(rows) == database["metrics"].count
    for row in rows:
        assert 0.0 <= row["cpu_usage"] <= 100.0 and 0.0 < row["memory_usage"] <= 100.0
        assert 0.0 <= row["disk_usage"] <= 100.0 and row["load_1m"] >= 0.0
        assert min(row["disk_io_read"], row["disk_io_write"], row["network_rx"], row["network_tx"]) >= 0
        assert row["response_time"] >= 0.0 and row["timestamp"].endswith("Z")
        assert isinstance(row["cpu_usage"], float)


@pytest.mark.parametrize("table", ["metrics", "users", "anomaly_predictions"])
def test_sqlite_utils_sees_the_same_counts_as_db_status(db_path: Path, table: str) -> None:
    conn = store.open_database(db_path)
    try:
        counts = store.table_counts(conn)
    finally:
        conn.close()
    assert read_only(db_path)[table].count == counts[table]
