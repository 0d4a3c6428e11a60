"""Export of the eight tables: formats, decoding, filters, atomic files, and the CSV round trip."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import stat
import uuid
from pathlib import Path

import pytest

from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord
from scops_tui.transfer import csv_metrics, export, legacy_keys, legacy_models, metrics_import
from scops_tui.transfer.export import ExportError, ExportRequest
from tests.conftest import data_file

_DATA_COLUMNS = [c for c in store.METRIC_COLUMNS if c != "created_by"]


def _system(conn: sqlite3.Connection) -> bytes:
    return store.user_id(conn, store.SYSTEM_USERNAME)


def _export(conn: sqlite3.Connection, table: str, file_format: str = "csv", **options: object) -> str:
    out = io.StringIO()
    export.export_table(conn, ExportRequest(table, file_format, **options), out)  # type: ignore[arg-type]
    return out.getvalue()


def _seed(conn: sqlite3.Connection) -> None:
    records = [
        MetricRecord(
            timestamp_ms=1_700_000_000_000 + i * 5_000,
            source="alpha" if i % 2 else "beta, with comma",
            cpu_usage=12.34 + i,
            memory_usage=56.7,
            disk_usage=100.0 if i == 3 else 0.0,
            load_1m=0.0357,
            load_5m=1.5,
            load_15m=None if i % 3 else 2.25,
            disk_io_read=10**12 + i,
            disk_io_write=0,
            network_rx=5,
            network_tx=7,
            response_time=0.125,
            error_rate=None if i % 2 else 3.5,
            is_anomaly=i == 4,
            anomaly_score=None if i != 4 else 0.9876,
        )
        for i in range(10)
    ]
    store.insert_metrics(conn, records, created_by=_system(conn), created_at=1_700_000_100_123)


def test_metrics_csv_round_trip_gives_the_same_rows(conn: sqlite3.Connection, tmp_path: Path) -> None:
    _seed(conn)
    metrics_import.import_metrics(conn, data_file("legacy", "real_training_data.json"), created_by=_system(conn))
    path = tmp_path / "metrics.csv"
    with export.write_atomically(path) as handle:
        assert export.export_table(conn, ExportRequest("metrics"), handle) == 155
    fresh = store.open_database(tmp_path / "fresh.db")
    report = metrics_import.import_metrics(fresh, path, created_by=_system(fresh))
    assert report.added == 155
    select = f"SELECT {', '.join(_DATA_COLUMNS)} FROM metrics ORDER BY id"  # noqa: S608
    assert fresh.execute(select).fetchall() == conn.execute(select).fetchall()
    assert metrics_import.import_metrics(fresh, path, created_by=_system(fresh)).present == 155
    fresh.close()


def test_vectorised_and_row_by_row_import_agree(
    conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(conn)
    path = tmp_path / "metrics.csv"
    path.write_text(_export(conn, "metrics"))
    fast = store.open_database(tmp_path / "fast.db")
    metrics_import.import_metrics(fast, path, created_by=_system(fast))
    monkeypatch.setattr(csv_metrics, "_fast_times", lambda column, zone: None)
    slow = store.open_database(tmp_path / "slow.db")
    metrics_import.import_metrics(slow, path, created_by=_system(slow))
    select = f"SELECT {', '.join(_DATA_COLUMNS)} FROM metrics ORDER BY id"  # noqa: S608
    assert fast.execute(select).fetchall() == slow.execute(select).fetchall() == conn.execute(select).fetchall()
    fast.close()
    slow.close()


def test_metrics_values_match_metrics_readable(conn: sqlite3.Connection) -> None:
    _seed(conn)
    rows = list(csv.DictReader(io.StringIO(_export(conn, "metrics"))))
    view = conn.execute("SELECT * FROM metrics_readable ORDER BY id").fetchall()
    names = [d[0] for d in conn.execute("SELECT * FROM metrics_readable LIMIT 0").description]
    for exported, viewed in zip(rows, view, strict=True):
        expected = dict(zip(names, viewed, strict=True))
        assert exported["timestamp"] == expected["timestamp"]
        for column in ("cpu_usage", "load_1m", "load_15m", "response_time", "error_rate", "anomaly_score"):
            if expected[column] is None:
                assert exported[column] == ""
            else:
                assert float(exported[column]) == pytest.approx(expected[column], abs=1e-12)
        assert exported["source"] == expected["source"]
        assert uuid.UUID(exported["created_by"]).bytes == _system(conn)


def test_jsonl_and_json_hold_typed_values(conn: sqlite3.Connection) -> None:
    _seed(conn)
    lines = [json.loads(line) for line in _export(conn, "metrics", "jsonl").splitlines()]
    assert len(lines) == 10
    assert lines[4]["anomaly_score"] == pytest.approx(0.9876)
    assert lines[4]["cpu_usage"] == pytest.approx(16.34)
    assert lines[1]["load_15m"] is None
    assert lines[0]["timestamp"] == "2023-11-14T22:13:20.000Z"
    assert json.loads(_export(conn, "metrics", "json")) == lines
    assert json.loads(_export(conn, "anomaly_predictions", "json")) == []


def test_json_columns_nest_and_uuids_are_text(conn: sqlite3.Connection) -> None:
    legacy_models.import_models(conn, data_file("legacy", "real_data_model.json"), created_by=_system(conn))
    (version,) = [json.loads(line) for line in _export(conn, "ml_model_versions", "jsonl").splitlines()]
    assert version["thresholds"]["cpu_usage"] == pytest.approx(12.12902475938089)
    assert version["model_config"]["legacy_model_type"] == "rule_based_real_data"
    assert str(uuid.UUID(version["created_by"])) == version["created_by"]
    rows = list(csv.DictReader(io.StringIO(_export(conn, "ml_model_versions"))))
    assert json.loads(rows[0]["model_config"])["rules"] == "legacy_any_threshold"


def test_api_keys_export_holds_no_key(conn: sqlite3.Connection) -> None:
    path = data_file("legacy", "api_keys_db.json")
    keys = json.loads(path.read_text())
    legacy_keys.import_api_keys(conn, path, created_by=_system(conn))
    for file_format in export.FORMATS:
        text = _export(conn, "api_keys", file_format)
        assert "ops-admin" in text
        for key in keys:
            assert key not in text and key.upper() not in text


def test_filters_and_columns(conn: sqlite3.Connection) -> None:
    _seed(conn)
    text = _export(
        conn,
        "metrics",
        since_ms=1_700_000_010_000,
        until_ms=1_700_000_030_000,
        source="alpha",
        columns=("timestamp", "cpu_usage"),
    )
    assert text.splitlines() == [
        "timestamp,cpu_usage",
        "2023-11-14T22:13:35.000Z,15.34",
        "2023-11-14T22:13:45.000Z,17.34",
    ]
    quoted = list(csv.reader(io.StringIO(_export(conn, "metrics", columns=("source",)))))
    assert quoted[1] == ["beta, with comma"]


@pytest.mark.parametrize("table", store.TABLES)
def test_every_table_exports_in_every_format(conn: sqlite3.Connection, table: str) -> None:
    _seed(conn)
    for file_format in export.FORMATS:
        _export(conn, table, file_format)
    header = _export(conn, table).splitlines()[0].split(",")
    assert header == [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ExportRequest("passwords"), "unknown table 'passwords'"),
        (ExportRequest("metrics", "xml"), "unknown format 'xml'"),
        (ExportRequest("metrics", columns=("cpu", "id")), "has no column 'cpu'"),
        (ExportRequest("users", source="x"), "has no source column"),
    ],
)
def test_bad_requests_are_one_clear_line(conn: sqlite3.Connection, request_: ExportRequest, message: str) -> None:
    with pytest.raises(ExportError, match=message) as caught:
        export.export_table(conn, request_, io.StringIO())
    assert "\n" not in str(caught.value)


def test_time_bounds() -> None:
    assert export.parse_time_bound("2025-08-08T00:00:00Z", "--since") == 1_754_611_200_000
    assert export.parse_time_bound("2025-08-08 00:00:00", "--since") == 1_754_611_200_000
    assert export.parse_time_bound("1754611200", "--since") == 1_754_611_200_000
    assert export.parse_time_bound("24h", "--since", now=100_000_000) == 100_000_000 - 86_400_000
    with pytest.raises(ExportError, match="--since 'last tuesday'"):
        export.parse_time_bound("last tuesday", "--since")


def test_atomic_file_appears_only_when_complete(tmp_path: Path) -> None:
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), export.write_atomically(target, force=True) as handle:
        handle.write("partial")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    with pytest.raises(ExportError, match="already exists"), export.write_atomically(target) as handle:
        handle.write("new\n")
    assert target.read_text() == "old\n"
    with export.write_atomically(target, force=True) as handle:
        handle.write("new\n")
    assert target.read_text() == "new\n"
    with pytest.raises(ExportError, match="does not exist"), export.write_atomically(tmp_path / "no" / "x.csv"):
        pass


def test_the_temporary_file_is_unpredictable_private_and_removed_on_failure(tmp_path: Path) -> None:
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    target = tmp_path / "out.csv"
    previous = os.umask(0)
    try:
        with pytest.raises(RuntimeError), export.write_atomically(target) as handle:
            handle.write("partial")
            during = [(p.name, stat.S_IMODE(p.lstat().st_mode), p.is_symlink()) for p in tmp_path.iterdir()]
            raise RuntimeError("interrupted")
    finally:
        os.umask(previous)
    assert len(during) == 1
    name, mode, is_link = during[0]
    assert name.startswith(".out.csv.") and name.endswith(".partial") and name != f".out.csv.partial-{os.getpid()}"
    assert mode == 0o600 and not is_link
    assert list(tmp_path.iterdir()) == []
