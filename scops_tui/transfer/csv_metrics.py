"""Read and check a CSV metrics file in chunks: the columns by name,
converted at numpy speed where the values allow it and row by row where they need a closer look.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import shlex
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

import numpy as np

from scops_tui.errors import InputFileError
from scops_tui.transfer.importer import MAX_MS, Progress, parse_time, show
from scops_tui.transfer.metric_rows import (
    DEFAULT_SOURCE,
    FIELDS,
    IGNORED_COLUMNS,
    KNOWN_COLUMNS,
    VALUE_COLUMNS,
    MetricField,
    Row,
    check_source,
)

__all__ = ["CHUNK_ROWS", "SINGLE_SERIES", "read_csv_metrics"]

SINGLE_SERIES = (
    "a timestamp,value file is a single series; storing it as metrics rows would make up every other metric, "
    "so it is not imported: score it with `scops-tui detect {file}`"
)
"""Why a single series is refused, and what to run instead (`detect` scores any timestamp,value CSV)."""

CHUNK_ROWS = 5_000
"""Lines of a CSV file read, checked and written at a time (and JSON records written at a time)."""

_BOOLEANS = {"0": 0, "1": 1, "false": 0, "true": 1, "False": 0, "True": 1, "FALSE": 0, "TRUE": 1}


@dataclass(frozen=True)
class _CsvPlan:
    """Where each stored column comes from in a CSV file."""

    width: int
    header: tuple[str, ...]
    timestamp: int
    source: int | None
    is_anomaly: int | None
    created_at: int | None
    values: dict[str, int]
    """Metric column -> field index; metrics absent from the file are not in it."""


def _csv_plan(name: str, header: list[str], notes: list[str]) -> _CsvPlan:
    fields = tuple(field.strip() for field in header)
    lowered = tuple(field.lower() for field in fields)
    for position, field in enumerate(lowered):
        if not field:
            raise InputFileError(name, "line 1", f"column {position + 1} has an empty name")
        if lowered.index(field) != position:
            raise InputFileError(name, "line 1", f"duplicate column name {fields[position]!r}")
    if "timestamp" not in lowered:
        raise InputFileError(name, "line 1", f"no 'timestamp' column in header {list(fields)}")
    mapped = list(lowered)
    if "value" in lowered:
        raise InputFileError(name, "line 1", SINGLE_SERIES.format(file=shlex.quote(name)))
    for position, field in enumerate(mapped):
        if field not in KNOWN_COLUMNS:
            raise InputFileError(
                name,
                f"line 1, column {fields[position]!r}",
                f"not a metrics column (known: timestamp, source, is_anomaly, {', '.join(VALUE_COLUMNS)})",
            )
    values = {field: i for i, field in enumerate(mapped) if field in FIELDS}
    zeroed = [field for field, spec in FIELDS.items() if field not in values and not spec.nullable]
    if zeroed:
        notes.append(f"absent from the file and stored as 0: {', '.join(zeroed)}")
    ignored = [field for field in mapped if field in IGNORED_COLUMNS]
    if ignored:
        notes.append(f"ignored columns: {', '.join(ignored)}")

    def find(key: str) -> int | None:
        return mapped.index(key) if key in mapped else None

    return _CsvPlan(
        width=len(fields),
        header=fields,
        timestamp=mapped.index("timestamp"),
        source=find("source"),
        is_anomaly=find("is_anomaly"),
        created_at=find("created_at"),
        values=values,
    )


def read_csv_metrics(
    name: str,
    source: str | None,
    zone: tzinfo,
    now: int,
    created_by: bytes,
    notes: list[str],
    progress: Progress | None,
) -> Iterator[tuple[list[int], list[Row]]]:
    """(line numbers, validated rows) in chunks, streaming the file (memory stays flat whatever its size)."""
    try:
        binary = open(name, "rb")  # noqa: SIM115 - closed below, after the generator is done
    except OSError as exc:
        raise InputFileError(name, "", f"cannot read file: {exc.strerror or exc}") from None
    with binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        try:
            first = text.readline()
        except UnicodeDecodeError:
            raise InputFileError(name, "line 1", "not valid UTF-8 text") from None
        header = next(csv.reader([first]), None)
        if header is None or not any(field.strip() for field in header):
            raise InputFileError(name, "", "empty file (expected a header with a 'timestamp' column)")
        plan = _csv_plan(name, header, notes)
        consumed = 1  # physical lines read so far
        done = 0
        while True:
            raw: list[str] = []
            try:
                for line in text:
                    raw.append(line)
                    if len(raw) >= CHUNK_ROWS:
                        break
                joined = "".join(raw)
                while joined.count('"') % 2:  # a quoted field goes on past the chunk: take its lines too
                    more = text.readline()
                    if not more:
                        break
                    raw.append(more)
                    joined += more
            except UnicodeDecodeError:
                bad_line, offset = _first_bad_utf8(name)
                raise InputFileError(name, f"line {bad_line}", f"not valid UTF-8 text (byte offset {offset})") from None
            if not raw:
                break
            lines, records = _split_lines(name, raw, joined, consumed)
            consumed += len(raw)
            if records:
                yield lines, _convert_chunk(name, plan, lines, records, source, zone, now, created_by)
            if progress:
                position = binary.tell()
                progress(position - done)
                done = position


def _split_lines(name: str, raw: list[str], joined: str, consumed: int) -> tuple[list[int], list[list[str]]]:
    """(line numbers, fields) of the records in `raw`, blank lines left out; plain split when nothing is quoted."""
    if '"' not in joined:
        records = [line.rstrip("\r\n").split(",") for line in raw]
        lines = list(range(consumed + 1, consumed + 1 + len(raw)))
    else:
        records, lines = [], []
        reader = csv.reader(raw)
        try:
            for fields in reader:
                records.append(fields)
                lines.append(consumed + reader.line_num)
        except csv.Error as exc:
            raise InputFileError(name, f"line {consumed + reader.line_num}", f"malformed CSV: {exc}") from None
    if any(len(fields) < 2 for fields in records):
        kept = [(n, f) for n, f in zip(lines, records, strict=True) if len(f) > 1 or (f and f[0].strip())]
        lines, records = [n for n, _f in kept], [f for _n, f in kept]
    return lines, records


def _first_bad_utf8(name: str) -> tuple[int, int]:
    """(line, byte offset) of the first byte of `name` that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = offset = 0
    with open(name, "rb") as handle:
        while block := handle.read(1 << 16):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                bad = max(exc.start - pending, 0)
                return newlines + block[:bad].count(b"\n") + 1, offset + bad
            newlines += block.count(b"\n")
            offset += len(block)
    return newlines + 1, offset


def _convert_chunk(
    name: str,
    plan: _CsvPlan,
    lines: list[int],
    records: list[list[str]],
    source: str | None,
    zone: tzinfo,
    now: int,
    created_by: bytes,
) -> list[Row]:
    """Vectorised conversion of a chunk; on any doubt the row-by-row path finds and names the first bad row."""
    if set(map(len, records)) != {plan.width}:
        for line, fields in zip(lines, records, strict=True):
            if len(fields) != plan.width:
                raise InputFileError(
                    name, f"line {line}", f"expected {plan.width} fields like the header, found {len(fields)}"
                )
    used = {plan.timestamp, plan.source, plan.is_anomaly, plan.created_at, *plan.values.values()}
    columns: dict[int, list[str]] = {
        index: [fields[index] for fields in records] for index in used if index is not None
    }
    converted: list[Any] = []
    fast_time = _fast_times(columns[plan.timestamp], zone)
    if fast_time is None:
        return _convert_slowly(name, plan, lines, records, source, zone, now, created_by)
    converted.append(fast_time)
    if source is not None:
        converted.append(itertools.repeat(source))
    elif plan.source is None:
        converted.append(itertools.repeat(DEFAULT_SOURCE))
    else:
        sources = columns[plan.source]
        if min(map(len, sources)) < 1 or max(map(len, sources)) > 100:
            return _convert_slowly(name, plan, lines, records, source, zone, now, created_by)
        converted.append(sources)
    encoded: dict[str, Any] = {}
    for field_name, field in FIELDS.items():
        index = plan.values.get(field_name)
        if index is None:
            encoded[field_name] = itertools.repeat(None if field.nullable else 0)
            continue
        values = _fast_numbers(columns[index], field)
        if values is None:
            return _convert_slowly(name, plan, lines, records, source, zone, now, created_by)
        encoded[field_name] = values
    if plan.is_anomaly is None:
        flags: Any = itertools.repeat(0)
    else:
        try:
            flags = [_BOOLEANS[value.strip()] for value in columns[plan.is_anomaly]]
        except KeyError:
            return _convert_slowly(name, plan, lines, records, source, zone, now, created_by)
    if plan.created_at is None:
        created: Any = itertools.repeat(now)
    else:
        created = _fast_times(columns[plan.created_at], zone)
        if created is None:
            return _convert_slowly(name, plan, lines, records, source, zone, now, created_by)
    ordered = [encoded[field] for field in VALUE_COLUMNS]
    return list(zip(*converted, *ordered[:12], flags, ordered[12], created, itertools.repeat(created_by), strict=False))


def _fast_times(column: Sequence[str], zone: tzinfo) -> list[int] | None:
    """ISO-8601 UTC times of a whole column at numpy speed, or None when the careful path must decide."""
    if zone is not UTC or min(map(len, column)) < 10:
        return None  # also keeps numpy's words ('now', 'today', 'NaT') away from it
    stripped = [text[:-1] if text.endswith("Z") else text for text in column]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an explicit offset makes numpy warn: read those row by row
            values = np.array(stripped, dtype="datetime64[ms]").astype(np.int64)
    except (ValueError, TypeError, OverflowError, Warning):
        return None
    if values.size == 0 or values.min() < 0 or values.max() > MAX_MS:
        return None
    result: list[int] = values.tolist()
    return result


def _fast_numbers(column: Sequence[str], field: MetricField) -> list[int | None] | None:
    """A whole numeric column validated and scaled at numpy speed, or None when a value needs a closer look."""
    if field.nullable and "" in column:
        try:
            return [None if not text.strip() else field.encode(float(text)) for text in column]
        except ValueError:
            return None
    try:
        with np.errstate(all="ignore"):
            values = np.array(column, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    if values.size == 0 or not np.isfinite(values).all() or values.min() < field.low or values.max() > field.high:
        return None
    result: list[int | None] = np.rint(values * field.scale).astype(np.int64).tolist()
    return result


def _csv_number(field: MetricField, text: str) -> int | None:
    stripped = text.strip()
    if not stripped:
        if field.nullable:
            return None
        raise ValueError("empty value (expected a number)")
    try:
        value = float(stripped)
    except ValueError:
        raise ValueError(f"value {show(stripped)} is not a number") from None
    return field.encode(value)


def _convert_slowly(
    name: str,
    plan: _CsvPlan,
    lines: list[int],
    records: list[list[str]],
    source: str | None,
    zone: tzinfo,
    now: int,
    created_by: bytes,
) -> list[Row]:
    rows: list[Row] = []
    for line, fields in zip(lines, records, strict=True):
        index = plan.timestamp
        try:
            timestamp = parse_time(fields[index], zone)
            row_source = source
            if row_source is None:
                row_source = DEFAULT_SOURCE
                if plan.source is not None:
                    index = plan.source
                    row_source = check_source(fields[index])
            values: list[int | None] = []
            for field_name, field in FIELDS.items():
                position = plan.values.get(field_name)
                if position is None:
                    values.append(None if field.nullable else 0)
                    continue
                index = position
                values.append(_csv_number(field, fields[position]))
            flag = 0
            if plan.is_anomaly is not None:
                index = plan.is_anomaly
                text = fields[index].strip()
                if text not in _BOOLEANS:
                    raise ValueError(f"value {show(text)} is not 0/1 or true/false")
                flag = _BOOLEANS[text]
            created_at = now
            if plan.created_at is not None:
                index = plan.created_at
                created_at = parse_time(fields[index], zone)
        except ValueError as exc:
            raise InputFileError(name, f"line {line}, column {plan.header[index]!r}", str(exc)) from None
        rows.append((timestamp, row_source, *values[:12], flag, values[12], created_at, created_by))
    return rows
