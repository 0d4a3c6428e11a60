"""Tests of reading a time-series CSV and writing it back with anomaly scores."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from scops_tui.errors import InputFileError
from scops_tui.transfer.series_csv import parse_timestamp_ms, read_series, write_scores


def write(tmp_path: Path, text: str | bytes, name: str = "series.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_reads_nab_style_file(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,value\n2014-02-14 14:30:00,0.132\n2014-02-14 14:35:00,0.134\n")
    series = read_series(path)
    assert series.columns == ("value",)
    assert series.timestamps_ms == [1392388200000, 1392388500000]
    assert series.rows == [(0.132,), (0.134,)]
    assert series.raw_rows == [("2014-02-14 14:30:00", "0.132"), ("2014-02-14 14:35:00", "0.134")]


def test_multiple_columns_timestamp_anywhere_epoch_and_offsets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cpu,Timestamp,mem\n1,1392388200,2\n3,2014-02-14T15:35:00+01:00,4\n5,2014-02-14T14:35:00.5Z,6\n\n",
    )
    series = read_series(path)
    assert series.columns == ("cpu", "mem")
    assert series.timestamps_ms == [1392388200000, 1392388500000, 1392388500500]
    assert series.rows == [(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)]


def test_naive_timestamps_are_utc() -> None:
    assert parse_timestamp_ms("1970-01-01 00:00:01") == 1000
    assert parse_timestamp_ms("1.5") == 1500


def test_duplicate_timestamps_are_kept_in_input_order(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:00:00,2\n2014-01-01 00:05:00,3\n")
    series = read_series(path)
    assert series.timestamps_ms[0] == series.timestamps_ms[1]
    assert series.rows == [(1.0,), (2.0,), (3.0,)]
    out = io.StringIO()
    write_scores(series, [0.1, 0.25, 1.0], out)
    assert out.getvalue().splitlines() == [
        "timestamp,value,anomaly_score",
        "2014-01-01 00:00:00,1,0.100000",
        "2014-01-01 00:00:00,2,0.250000",
        "2014-01-01 00:05:00,3,1.000000",
    ]


def test_write_scores_needs_one_score_per_row(tmp_path: Path) -> None:
    series = read_series(write(tmp_path, "timestamp,value\n1,1\n2,2\n"))
    with pytest.raises(ValueError, match="2 rows"):
        write_scores(series, [0.5], io.StringIO())


@pytest.mark.parametrize(
    ("content", "where", "problem"),
    [
        ("", "", "empty file"),
        ("timestamp,value\n", "", "header only"),
        ("time,value\n1,2\n", "line 1", "no 'timestamp' column"),
        ("timestamp\n1\n", "line 1", "no value column"),
        ("timestamp,value,value\n1,2,3\n", "line 1", "duplicate column"),
        ("timestamp,value\n1,2\n2,abc\n", "line 3, column 'value'", "not a number"),
        ("timestamp,value\n1,2\n2,nan\n", "line 3, column 'value'", "finite"),
        ("timestamp,value\n1,2\n2,inf\n", "line 3, column 'value'", "finite"),
        ("timestamp,value\n1,2\n2,\n", "line 3, column 'value'", "empty value"),
        ("timestamp,value\n1,2\n2,3,4\n", "line 3", "expected 2 fields"),
        ("timestamp,value\n1,2\nyesterday,3\n", "line 3, column 'timestamp'", "unparseable timestamp"),
        ("timestamp,value\n5,2\n4\n", "line 3", "expected 2 fields"),
        ("timestamp,value\n5,2\n4,x\n", "line 3, column 'value'", "not a number"),
    ],
)
def test_bad_input_names_file_line_and_column(tmp_path: Path, content: str, where: str, problem: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(InputFileError) as caught:
        read_series(path)
    error = caught.value
    assert error.path == str(path)
    assert error.where == where
    assert problem in error.problem
    assert str(path) in str(error)


def test_clock_steps_back_and_repeats_are_kept_in_file_order_and_counted(tmp_path: Path) -> None:
    text = "timestamp,value\n10,1\n20,2\n20,3\n5,4\n30,5\n25,6\n"
    series = read_series(write(tmp_path, text))
    assert series.timestamps_ms == [10_000, 20_000, 20_000, 5_000, 30_000, 25_000]
    assert series.rows == [(1.0,), (2.0,), (3.0,), (4.0,), (5.0,), (6.0,)]
    assert (series.steps_back, series.repeats, series.first_clock_line) == (2, 1, 4)
    warning = series.clock_warning()
    assert warning is not None and "\n" not in warning
    assert "2 rows step back" in warning and "1 repeat" in warning and "line 4" in warning


def test_a_clean_clock_has_no_warning(tmp_path: Path) -> None:
    series = read_series(write(tmp_path, "timestamp,value\n1,1\n2,2\n"))
    assert (series.steps_back, series.repeats, series.first_clock_line) == (0, 0, None)
    assert series.clock_warning() is None


def test_bad_encoding_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"timestamp,value\n1,2\n2,\xff\n")
    with pytest.raises(InputFileError) as caught:
        read_series(path)
    assert caught.value.where == "line 3"
    assert "UTF-8" in caught.value.problem


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot read"):
        read_series(tmp_path / "absent.csv")
