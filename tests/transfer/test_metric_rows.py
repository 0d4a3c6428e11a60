"""Metrics rows as stored: labels kept as ground truth, and keys seen twice (no silent drops)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scops_tui.detection import registry
from scops_tui.errors import InputFileError
from scops_tui.store import database as store
from scops_tui.transfer import csv_metrics, metrics_import
from tests.conftest import data_file
from tests.transfer.helpers import database_fingerprint, legacy_records, system_user, write_json


def test_labels_are_kept_as_ground_truth_on_a_labels_version(conn: sqlite3.Connection) -> None:
    metrics_import.import_metrics(conn, data_file("legacy", "real_training_data.json"), created_by=system_user(conn))
    version = registry.list_versions(conn)[0]
    assert version.model_name == "labels@historical_data"
    assert version.kind == "imported_labels"
    assert version.training_data_size == 145
    rows = conn.execute(
        "SELECT count(*), sum(actual_anomaly), sum(predicted_anomaly = actual_anomaly), count(feedback_provided_at) "
        "FROM model_predictions WHERE model_version_id = ?",
        (version.id,),
    ).fetchone()
    assert rows == (145, 10, 145, 145)
    mismatched = conn.execute(
        "SELECT count(*) FROM model_predictions p JOIN metrics m ON m.id = p.metrics_id "
        "WHERE p.actual_anomaly != m.is_anomaly"
    ).fetchone()[0]
    assert mismatched == 0


# ----------------------------------------------------------------------- no silent drops (issue 9, part 4)


def test_identical_records_of_one_key_are_imported_once_and_counted(conn: sqlite3.Connection, tmp_path: Path) -> None:
    records = legacy_records()[:5]
    path = write_json(tmp_path / "twice.json", [*records, dict(records[2])])
    report = metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert (report.added, report.present, report.duplicates) == (5, 0, 1)
    assert "5 new rows, 0 already present, 1 duplicates in the file (imported once)" in report.summary()
    again = metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert (again.added, again.present, again.duplicates) == (0, 5, 1)  # "present" only for rows stored before


def test_records_of_one_key_that_differ_refuse_the_file_naming_both(conn: sqlite3.Connection, tmp_path: Path) -> None:
    records = legacy_records()
    labelled = next(i for i, record in enumerate(records) if record["is_anomaly"] == 1)
    unlabelled = {**records[labelled], "is_anomaly": 0}
    path = write_json(tmp_path / "clash.json", [unlabelled, *records])
    before = database_fingerprint(conn)
    with pytest.raises(InputFileError) as caught:
        metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    message = str(caught.value)
    assert f"record {labelled + 2}, field 'is_anomaly'" in message and "as record 1" in message
    assert database_fingerprint(conn) == before
    # a differing value (not the label) is refused the same way, in either order
    path = write_json(tmp_path / "value.json", [records[0], {**records[0], "cpu_usage": 50.0}])
    with pytest.raises(InputFileError, match=r"record 2, field 'cpu_usage'.*as record 1"):
        metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert database_fingerprint(conn) == before


def test_csv_key_repeated_in_a_later_chunk_names_the_first_line(
    conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_metrics, "CHUNK_ROWS", 10)
    lines = ["timestamp,cpu_usage,is_anomaly"] + [f"2024-01-01T00:{minute:02d}:00Z,{minute},0" for minute in range(30)]
    path = tmp_path / "late.csv"
    path.write_text("\n".join([*lines, lines[4]]) + "\n")
    report = metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert (report.added, report.present, report.duplicates) == (30, 0, 1)
    before = database_fingerprint(conn)
    clash = tmp_path / "clash.csv"
    clash.write_text("\n".join([*lines, "2024-01-01T00:03:00Z,3,1"]) + "\n")
    fresh = store.open_database(tmp_path / "fresh.db")
    try:
        with pytest.raises(InputFileError, match=r"line 32, column 'is_anomaly'.*as line 5\b"):
            metrics_import.import_metrics(fresh, clash, created_by=system_user(fresh))
        assert store.table_counts(fresh)["metrics"] == 0
    finally:
        fresh.close()
    # against rows already stored, the in-file clash is still refused (the file is judged on its own)
    with pytest.raises(InputFileError, match=r"line 32, column 'is_anomaly'.*as line 5\b"):
        metrics_import.import_metrics(conn, clash, created_by=system_user(conn))
    assert database_fingerprint(conn) == before


def test_rows_already_present_with_other_values_are_reported(conn: sqlite3.Connection, tmp_path: Path) -> None:
    records = legacy_records()[:4]
    metrics_import.import_metrics(conn, write_json(tmp_path / "a.json", records), created_by=system_user(conn))
    changed = [records[0], {**records[1], "cpu_usage": 42.0}, *records[2:]]
    report = metrics_import.import_metrics(conn, write_json(tmp_path / "b.json", changed), created_by=system_user(conn))
    assert (report.added, report.present, report.duplicates) == (0, 4, 0)
    assert "1 of the rows already present differ from this file (the stored rows are kept)" in report.summary()


def test_times_that_collide_after_conversion_are_one_key(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "collide.csv"
    # sub-millisecond difference, and the same instant naive and with Z: one sample each time
    path.write_text("timestamp,cpu_usage\n2024-01-01T00:00:00.0001,1\n2024-01-01T00:00:00.0004Z,1\n")
    report = metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert (report.added, report.duplicates) == (1, 1)
    path.write_text("timestamp,cpu_usage\n2024-01-02T00:00:00,1\n2024-01-02T00:00:00.000+00:00,2\n")
    with pytest.raises(InputFileError, match=r"line 3, column 'cpu_usage'.*2024-01-02T00:00:00\.000Z as line 2"):
        metrics_import.import_metrics(conn, path, created_by=system_user(conn))
