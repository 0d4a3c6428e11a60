"""CSV metrics: timestamp,value series, chunks, the careful path, quoting, unknown columns, broken files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scops_tui.errors import InputFileError
from scops_tui.transfer import csv_metrics, metrics_import
from scops_tui.transfer.importer import ImportOptionError
from tests.transfer.helpers import database_fingerprint, system_user


@pytest.mark.parametrize("column", ["cpu_usage", "memory_usage"])
def test_a_single_series_is_refused_not_stored_with_made_up_metrics(
    conn: sqlite3.Connection, tmp_path: Path, column: str
) -> None:
    """`--column` would store zeros for every other metric: refused before the file is read, saying what to run."""
    path = tmp_path / "cpu series.csv"
    path.write_text("timestamp,value\n2024-01-01 00:00:00,12.5\n2024-01-01T00:05:00Z,99.99\n")
    before = database_fingerprint(conn)
    with pytest.raises(ImportOptionError) as caught:
        metrics_import.import_metrics(conn, path, created_by=system_user(conn), column=column, source="nab")
    message = str(caught.value)
    assert message.startswith(f"--column {column}: a timestamp,value file is a single series")
    assert f"score it with `scops-tui detect '{path}'`" in message
    assert database_fingerprint(conn) == before


def test_csv_value_column_is_refused_as_a_single_series(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("timestamp,value\n2024-01-01 00:00:00,1\n")
    with pytest.raises(InputFileError, match=r"single series.*scops-tui detect"):
        metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert conn.execute("SELECT count(*) FROM metrics").fetchone() == (0,)


def test_an_unknown_column_name_is_still_named(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("timestamp,value\n2024-01-01 00:00:00,1\n")
    with pytest.raises(ImportOptionError, match="'nope' is not a metric column"):
        metrics_import.import_metrics(conn, path, created_by=system_user(conn), column="nope")


def test_csv_error_in_a_later_chunk_rolls_back_everything(
    conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_metrics, "CHUNK_ROWS", 10)
    lines = ["timestamp,cpu_usage,memory_usage"]
    lines += [f"2024-01-01T00:{minute:02d}:00Z,{minute},{minute}" for minute in range(40)]
    lines[35] = "2024-01-01T00:34:00Z,12,101"
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    before = database_fingerprint(conn)
    with pytest.raises(InputFileError) as caught:
        metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert "line 36, column 'memory_usage'" in str(caught.value)
    assert "101" in str(caught.value)
    assert database_fingerprint(conn) == before


def test_csv_offsets_and_epoch_seconds_take_the_careful_path(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("timestamp,cpu_usage\n2024-01-01T02:00:00+02:00,1\n1704067260,2\n")
    metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert [row[0] for row in conn.execute("SELECT timestamp FROM metrics ORDER BY id")] == [
        1704067200000,
        1704067260000,
    ]


def test_csv_quoted_fields_blank_lines_and_bad_bytes(
    conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_metrics, "CHUNK_ROWS", 2)
    path = tmp_path / "quoted.csv"
    path.write_text(
        'timestamp,source,cpu_usage\n\n2024-01-01T00:00:00Z,"a, ""b""\nc",1\n2024-01-01T00:01:00Z,plain,2\n\n'
        "2024-01-01T00:02:00Z,plain,3\n"
    )
    assert metrics_import.import_metrics(conn, path, created_by=system_user(conn)).added == 3
    assert conn.execute("SELECT source FROM metrics ORDER BY id LIMIT 1").fetchone() == ('a, "b"\nc',)
    bad = tmp_path / "bytes.csv"
    bad.write_bytes(b"timestamp,cpu_usage\n" + b"2024-01-02T00:00:00Z,1\n" * 5000 + b"2024-01-03T00:00:00Z,\xff\n")
    with pytest.raises(InputFileError, match="line 5002: not valid UTF-8"):
        metrics_import.import_metrics(conn, bad, created_by=system_user(conn))
    wide = tmp_path / "wide.csv"
    wide.write_text("timestamp,cpu_usage\n2024-01-04T00:00:00Z,1\n2024-01-04T00:01:00Z,1,2\n")
    with pytest.raises(InputFileError, match="line 3: expected 2 fields"):
        metrics_import.import_metrics(conn, wide, created_by=system_user(conn))


def test_unknown_csv_column_is_named(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "typo.csv"
    path.write_text("timestamp,cpu_usge\n2024-01-01T00:00:00Z,1\n")
    with pytest.raises(InputFileError, match="line 1, column 'cpu_usge'"):
        metrics_import.import_metrics(conn, path, created_by=system_user(conn))


@st.composite
def broken_csv_files(draw: st.DrawFn) -> tuple[str, str]:
    header = "timestamp,cpu_usage,memory_usage,load_1m,is_anomaly"
    lines = [f"2024-01-01T00:{minute:02d}:00Z,{minute}.5,{minute},0.25,0" for minute in range(8)]
    index = draw(st.integers(0, len(lines) - 1))
    column = draw(st.sampled_from(["timestamp", "cpu_usage", "memory_usage", "load_1m", "is_anomaly"]))
    bad = draw(
        {
            "timestamp": st.sampled_from(["now", "2024-02-30T00:00:00", "", "1e400"]),
            "cpu_usage": st.sampled_from(["100.5", "-1", "abc", "", "nan", "1e999", "9" * 400]),
            "memory_usage": st.sampled_from(["inf", "200", "0x10"]),
            "load_1m": st.sampled_from(["-0.5", "1e20", "one"]),
            "is_anomaly": st.sampled_from(["2", "yes", ""]),
        }[column]
    )
    fields = lines[index].split(",")
    fields[header.split(",").index(column)] = bad
    lines[index] = ",".join(fields)
    return header + "\n" + "\n".join(lines) + "\n", f"line {index + 2}, column '{column}'"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_csv_files())
def test_broken_csv_names_line_and_column(conn: sqlite3.Connection, tmp_path: Path, case: tuple[str, str]) -> None:
    text, where = case
    path = tmp_path / "broken.csv"
    path.write_text(text)
    before = database_fingerprint(conn)
    with pytest.raises(InputFileError) as caught:
        metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    assert where in str(caught.value)
    assert "\n" not in str(caught.value)
    assert database_fingerprint(conn) == before
