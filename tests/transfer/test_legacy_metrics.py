"""Legacy JSON metrics: the 145 records, re-import, time zones, derived sums, and broken files."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scops_tui.errors import InputFileError
from scops_tui.transfer import metrics_import
from tests.conftest import data_file
from tests.transfer.helpers import database_fingerprint, legacy_records, system_user


def test_legacy_metrics_give_145_rows_with_10_flagged(conn: sqlite3.Connection) -> None:
    path = data_file("legacy", "real_training_data.json")
    report = metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert (report.added, report.present) == (145, 0)
    assert conn.execute("SELECT count(*), sum(is_anomaly) FROM metrics").fetchone() == (145, 10)
    assert conn.execute("SELECT DISTINCT source FROM metrics").fetchall() == [("historical_data",)]
    assert conn.execute("SELECT count(*) FROM metrics WHERE created_by = ?", (system_user(conn),)).fetchone() == (145,)
    nulls = conn.execute(
        "SELECT count(*) FROM metrics WHERE load_15m IS NULL AND error_rate IS NULL AND anomaly_score IS NULL"
    ).fetchone()
    assert nulls == (145,)
    first = conn.execute(
        "SELECT timestamp, cpu_usage, response_time FROM metrics ORDER BY timestamp LIMIT 1"
    ).fetchone()
    assert first[0] == int(datetime(2025, 8, 8, 3, 43, 42, 92_000, tzinfo=UTC).timestamp() * 1000)
    assert first[1] == 195  # 1.951975... % stored as DECIMAL(5,2)
    assert first[2] == 100_000  # 100.0 ms x 1000


def test_reimport_adds_nothing_and_says_so(conn: sqlite3.Connection) -> None:
    path = data_file("legacy", "real_training_data.json")
    metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    before = database_fingerprint(conn)
    report = metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert (report.added, report.present) == (0, 145)
    assert "0 new rows, 145 already present" in report.summary()
    assert database_fingerprint(conn) == before


def test_naive_timestamps_are_read_in_the_given_zone(conn: sqlite3.Connection) -> None:
    path = data_file("legacy", "real_training_data.json")
    metrics_import.import_metrics(
        conn, path, created_by=system_user(conn), timezone=ZoneInfo("Europe/Berlin"), source="berlin"
    )
    first = conn.execute("SELECT min(timestamp) FROM metrics WHERE source = 'berlin'").fetchone()[0]
    # 03:43:42.092 in Berlin in August (CEST, UTC+2) is 01:43:42.092 UTC.
    assert first == int(datetime(2025, 8, 8, 1, 43, 42, 92_000, tzinfo=UTC).timestamp() * 1000)


def test_derived_sums_are_ignored_knowingly(conn: sqlite3.Connection, tmp_path: Path) -> None:
    records = legacy_records()[:3]
    records[1] = {**records[1], "disk_io_read": 10.0, "disk_io_write": 5.0, "disk_io": 99.0}
    path = tmp_path / "derived.json"
    path.write_text(json.dumps(records))
    report = metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert report.added == 3
    assert "1 records where they differ" in report.summary()
    assert "disk_io" not in [row[1] for row in conn.execute("PRAGMA table_info(metrics)")]


# ---------------------------------------------------------------------------------- broken files


_REQUIRED = [
    "timestamp",
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "load_1m",
    "load_5m",
    "disk_io_read",
    "disk_io_write",
    "network_rx",
    "network_tx",
    "response_time",
    "is_anomaly",
]
_OUT_OF_RANGE = {
    "cpu_usage": st.one_of(st.floats(100.01, 1e6), st.floats(-1e6, -0.01)),
    "memory_usage": st.floats(100.01, 1e300),
    "disk_usage": st.floats(-1e300, -0.01),
    "load_1m": st.floats(-1e6, -0.001),
    "network_rx": st.one_of(st.floats(-1e6, -1.0), st.just(1e300), st.just(10**400)),
    "response_time": st.floats(-1e6, -0.01),
    "is_anomaly": st.sampled_from([2, -1, 0.5]),
    "timestamp": st.sampled_from(["1960-01-01T00:00:00", "2025-13-01T00:00:00", "yesterday", ""]),
}
_WRONG_TYPE = st.sampled_from(["12", [], {}, None, "nan", [1.0]])


@st.composite
def broken_metrics_files(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """(file bytes, text the error must contain) for a metrics file with exactly one defect."""
    records = [dict(record) for record in legacy_records()[:5]]
    index = draw(st.integers(0, len(records) - 1))
    kind = draw(st.sampled_from(["wrong_type", "missing", "range", "truncated", "encoding", "empty", "constant"]))
    if kind == "wrong_type":
        field = draw(st.sampled_from(_REQUIRED))
        records[index][field] = draw(_WRONG_TYPE)
        return json.dumps(records).encode(), f"record {index + 1}, field '{field}'"
    if kind == "missing":
        field = draw(st.sampled_from(_REQUIRED))
        del records[index][field]
        return json.dumps(records).encode(), f"record {index + 1}, field '{field}'"
    if kind == "range":
        field = draw(st.sampled_from(sorted(_OUT_OF_RANGE)))
        records[index][field] = draw(_OUT_OF_RANGE[field])
        return json.dumps(records).encode(), f"record {index + 1}, field '{field}'"
    text = json.dumps(records, indent=1).encode()
    if kind == "truncated":
        return text[: draw(st.integers(1, len(text) - 2))], None
    if kind == "encoding":
        position = draw(st.integers(0, len(text)))
        return text[:position] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x80\x80"])) + text[position:], None
    if kind == "constant":
        return text.replace(b'"cpu_usage": 0.0', b'"cpu_usage": NaN', 1).replace(b"1.9519", b"Infinity", 1), None
    return draw(st.sampled_from([b"", b"   \n", b"\xef\xbb\xbf"])), None


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_metrics_files())
def test_broken_files_fail_clearly_and_change_nothing(
    conn: sqlite3.Connection, tmp_path: Path, case: tuple[bytes, str | None]
) -> None:
    data, expected_where = case
    path = tmp_path / "broken.json"
    path.write_bytes(data)
    metrics_import.import_metrics(conn, data_file("legacy", "real_training_data.json"), created_by=system_user(conn))
    before = database_fingerprint(conn)
    with pytest.raises(InputFileError) as caught:
        metrics_import.import_metrics(conn, path, created_by=system_user(conn), source="broken")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    if expected_where is not None:
        assert expected_where in message
    assert database_fingerprint(conn) == before
