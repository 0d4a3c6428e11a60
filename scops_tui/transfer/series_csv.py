"""Read a time series from CSV for `scops-tui detect`, and write it back with one anomaly score per row.

Input format: a header row with a ``timestamp`` column (any position, case-insensitive) and one or more
numeric columns; every non-timestamp column is a feature of the series.

* Timestamps are ISO-8601 (``2014-02-26 13:45:00``, ``2014-02-26T13:45:00.5+02:00``, ``...Z``) or epoch
  seconds (``1393422300`` or ``1393422300.25``). A timestamp without an offset is taken as UTC.
* Values must be finite numbers; an empty cell, ``nan`` or ``inf`` is an error.
* Fully blank lines are skipped (a trailing newline is common); every other line must have exactly as
  many fields as the header.
* **Rows are kept in file order, whatever their clock.** A timestamp that steps back (an NTP
  correction, the repeated hour of a daylight-saving change) or repeats the previous row's is accepted:
  each row is a separate sample, scored in input order, and gets its own output row (NAB's data has such
  rows; dropping or sorting them would shift the output against the input). :class:`Series` counts them
  (``steps_back``, ``repeats``, ``first_clock_line``) so the caller can say so once.

Every problem raises :class:`~scops_tui.errors.InputFileError` naming the file, the line (1-based,
the header is line 1) and, where there is one, the column.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

from scops_tui.errors import InputFileError

__all__ = ["SCORE_COLUMN", "Series", "parse_timestamp_ms", "read_series", "write_scores"]

#: Name of the column that `write_scores` appends.
SCORE_COLUMN = "anomaly_score"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# A plain decimal number (optionally signed, with fraction or exponent) is read as epoch seconds.
_EPOCH_SECONDS = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Series:
    """A multivariate time series read from one CSV file.

    ``header`` and ``raw_rows`` keep the input exactly as read (every column, as strings) so that a
    writer can echo the input; ``columns``, ``timestamps_ms`` and ``rows`` are the parsed view the
    detector consumes. Row ``i`` of each list describes the same input line.
    """

    path: str
    header: tuple[str, ...]
    timestamp_index: int
    columns: tuple[str, ...]
    timestamps_ms: list[int]
    rows: list[tuple[float, ...]]
    raw_rows: list[tuple[str, ...]]
    line_numbers: list[int]
    steps_back: int = 0
    """Rows whose timestamp is earlier than the previous row's."""
    repeats: int = 0
    """Rows whose timestamp equals the previous row's."""
    first_clock_line: int | None = None
    """Line of the first row that steps back or repeats (1-based, header = line 1), if any."""

    def clock_warning(self) -> str | None:
        """One line saying how many rows step back or repeat a timestamp, and where the first is; None if none."""
        if not (self.steps_back or self.repeats):
            return None
        parts = []
        if self.steps_back:
            parts.append(f"{self.steps_back:,} row{'s' if self.steps_back != 1 else ''} step back in time")
        if self.repeats:
            parts.append(f"{self.repeats:,} repeat the previous row's timestamp")
        return (
            f"{self.path}: {' and '.join(parts)} (first at line {self.first_clock_line}); "
            "all rows are scored in file order"
        )

    def __len__(self) -> int:
        return len(self.rows)


def parse_timestamp_ms(text: str) -> int:
    """Parse an ISO-8601 timestamp (naive means UTC) or epoch seconds to integer milliseconds since the epoch.

    Raises ValueError when the text is neither.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty timestamp")
    if _EPOCH_SECONDS.match(stripped):
        seconds = float(stripped)
        if not math.isfinite(seconds):
            raise ValueError(f"epoch seconds out of range: {stripped!r}")
        return round(seconds * 1000)
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"unparseable timestamp {stripped!r} (expected ISO-8601 like 2024-01-31 13:45:00 or epoch seconds)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Integer arithmetic on timedelta keeps milliseconds exact (no float rounding of large epochs).
    return (moment - _EPOCH) // _ONE_MS


def _decode(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputFileError(
            path, f"line {line}", f"not valid UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def _parse_value(path: str, line: int, column: str, text: str) -> float:
    where = f"line {line}, column {column!r}"
    stripped = text.strip()
    if not stripped:
        raise InputFileError(path, where, "empty value (expected a number)")
    try:
        value = float(stripped)
    except ValueError:
        raise InputFileError(path, where, f"not a number: {stripped!r}") from None
    if not math.isfinite(value):
        raise InputFileError(path, where, f"value must be a finite number, got {stripped!r}")
    return value


def read_series(path: str | os.PathLike[str]) -> Series:
    """Read and validate a ``timestamp,value[,...]`` CSV file; see the module docstring for the rules.

    Raises InputFileError for any malformed input (and for an unreadable file).
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InputFileError(name, "", f"cannot read file: {exc.strerror or exc}") from None
    text = _decode(name, data)
    if not text.strip():
        raise InputFileError(name, "", "empty file (expected a header with a 'timestamp' column)")

    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header_fields = next(reader)
    except csv.Error as exc:
        raise InputFileError(name, "line 1", f"malformed CSV: {exc}") from None
    header = tuple(field.strip() for field in header_fields)
    lowered = [field.lower() for field in header]
    if "timestamp" not in lowered:
        raise InputFileError(name, "line 1", f"no 'timestamp' column in header {list(header)}")
    if lowered.count("timestamp") > 1:
        raise InputFileError(name, "line 1", "more than one 'timestamp' column")
    for position, field in enumerate(header):
        if not field:
            raise InputFileError(name, "line 1", f"column {position + 1} has an empty name")
        if header.index(field) != position:
            raise InputFileError(name, "line 1", f"duplicate column name {field!r}")
    timestamp_index = lowered.index("timestamp")
    value_indices = [i for i in range(len(header)) if i != timestamp_index]
    if not value_indices:
        raise InputFileError(name, "line 1", "no value column next to 'timestamp'")
    columns = tuple(header[i] for i in value_indices)

    timestamps_ms: list[int] = []
    rows: list[tuple[float, ...]] = []
    raw_rows: list[tuple[str, ...]] = []
    line_numbers: list[int] = []
    previous_ms: int | None = None
    steps_back = repeats = 0
    first_clock_line: int | None = None
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputFileError(name, f"line {reader.line_num}", f"malformed CSV: {exc}") from None
        line = reader.line_num
        if not fields or (all(not field.strip() for field in fields) and len(fields) == 1):
            continue  # blank line
        if len(fields) != len(header):
            raise InputFileError(
                name, f"line {line}", f"expected {len(header)} fields like the header, found {len(fields)}"
            )
        try:
            timestamp_ms = parse_timestamp_ms(fields[timestamp_index])
        except ValueError as exc:
            raise InputFileError(name, f"line {line}, column {header[timestamp_index]!r}", str(exc)) from None
        values = tuple(_parse_value(name, line, header[i], fields[i]) for i in value_indices)
        timestamps_ms.append(timestamp_ms)
        rows.append(values)
        raw_rows.append(tuple(fields))
        line_numbers.append(line)
        if previous_ms is not None and timestamp_ms <= previous_ms:
            if timestamp_ms < previous_ms:
                steps_back += 1
            else:
                repeats += 1
            if first_clock_line is None:
                first_clock_line = line
        previous_ms = timestamp_ms

    if not rows:
        raise InputFileError(name, "", "header only: the file has no data rows")
    return Series(
        path=name,
        header=header,
        timestamp_index=timestamp_index,
        columns=columns,
        timestamps_ms=timestamps_ms,
        rows=rows,
        raw_rows=raw_rows,
        line_numbers=line_numbers,
        steps_back=steps_back,
        repeats=repeats,
        first_clock_line=first_clock_line,
    )


def write_scores(series: Series, scores: Sequence[float], out_stream: TextIO) -> None:
    """Write the input columns plus ``anomaly_score`` (6 decimals), one row per input row, in input order.

    If the input already has an ``anomaly_score`` column, its values are replaced rather than duplicated.
    Raises ValueError when the number of scores differs from the number of rows.
    """
    if len(scores) != len(series.raw_rows):
        raise ValueError(f"{len(scores)} scores for {len(series.raw_rows)} rows")
    writer = csv.writer(out_stream, lineterminator="\n")
    replace_at = series.header.index(SCORE_COLUMN) if SCORE_COLUMN in series.header else None
    writer.writerow(series.header if replace_at is not None else (*series.header, SCORE_COLUMN))
    for raw, score in zip(series.raw_rows, scores, strict=True):
        formatted = f"{score:.6f}"
        if replace_at is not None:
            writer.writerow((*raw[:replace_at], formatted, *raw[replace_at + 1 :]))
        else:
            writer.writerow((*raw, formatted))
