"""Import legacy SmartCloudOps files and CSV series into the store: metrics (with their labels), models, API keys.

JSON files: a key given twice in one object is refused; so is text that is not valid Unicode (a lone
surrogate) wherever it is stored, and (model files, stored whole) nesting deeper than 32 levels.

Every import is all or nothing: records are validated and written inside one transaction, and the first
bad record rolls it back and raises :class:`~scops_tui.errors.InputFileError` naming the file, the
record (JSON, counted from 1) or line (CSV, the header is line 1), the field, the value and why. Nothing
from a bad file is ever committed. Importing the same file twice adds nothing the second time.

Metrics
    * Legacy JSON (``real_training_data.json``): an array of flat records. ``disk_io`` and ``network_io``
      are derived sums with no column: they are ignored (the report counts records where they differ
      from read + write / rx + tx). Absent ``load_15m``, ``error_rate``, ``anomaly_score`` stay NULL.
    * CSV: a ``timestamp`` column plus metric columns by name (the columns of ``scops-tui export metrics``
      are all understood; ``id`` and ``created_by`` are ignored, ``created_at`` is kept when present), or
      a ``timestamp,value`` series whose value column is stored as the metric named by ``column``. A
      required metric absent from the file is stored as 0 (the schema has no NULL for it) and the
      report says which; a nullable one stays NULL.
    * Naive timestamps are read in ``timezone`` (UTC by default) and stored as UTC epoch milliseconds
      (finer digits cut). A naive time that a daylight-saving change in ``timezone`` skips or repeats
      has no single UTC instant and is refused (the file can give it an offset).
    * Rows are keyed by (source, timestamp). A key stored before the import is skipped and counted as
      present (a note says how many of those differ from the file; the stored row is kept). Records of
      the file that share a key are imported once and counted as duplicates when they are the same
      sample (metrics, ``is_anomaly``, ``anomaly_score``), and refuse the file naming both when not.
    * Labels: a record's ``is_anomaly`` is kept on its row. With ``labels`` (the default for legacy
      JSON), it is also recorded as ground truth where operator verdicts live: one
      ``model_predictions`` row per imported sample, for version ``1`` of the model ``labels@<source>``
      (type ``rule_based``, config kind ``imported_labels``), with ``predicted_anomaly`` =
      ``actual_anomaly`` = the label. Other versions are measured against it with :func:`evaluate_rules`.

Models
    Legacy model descriptions (``real_data_model.json``, ``production_model.json``) become an
    ``ml_models`` row and a ``ready`` version each. Legacy rule-based types map to ``rule_based`` (the
    original type is kept in the version's config); any other type is refused with a message, never
    dropped. :func:`score_with_thresholds` scores a sample with such a version exactly as the legacy
    engine did.

API keys
    The legacy key file (raw key -> {name, level, created, rate_limit}) becomes ``api_keys`` rows that
    hold only the SHA-256 hex digest of each key. Error messages name a key by its record number and
    digest prefix, never by the key.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
import math
import os
import re
import reprlib
import sqlite3
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from scops_tui.detection.registry import ModelVersion, get_version
from scops_tui.errors import InputFileError, ScopsError
from scops_tui.store.database import METRIC_COLUMNS, transaction
from scops_tui.store.timestamps import iso, now_ms
from scops_tui.transfer.series_csv import parse_timestamp_ms

__all__ = [
    "DEFAULT_SOURCE",
    "ImportOptionError",
    "ImportReport",
    "RuleScore",
    "check_metrics_options",
    "check_option",
    "check_text",
    "evaluate_rules",
    "import_api_keys",
    "import_metrics",
    "import_models",
    "labels_model_name",
    "resolve_timezone",
    "score_with_thresholds",
]

DEFAULT_SOURCE = "historical_data"
"""Source of imported rows when neither the file nor ``--source`` names one (the original migration's)."""

Progress = Callable[[int], None]
"""Called with the amount of work done since the last call (records, or bytes for CSV)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_EPOCH_SECONDS = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_CHUNK_ROWS = 5_000
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_DEPTH = 32
"""Deepest nesting of arrays and objects an imported JSON file may have (the legacy files have 4)."""


class ImportOptionError(ScopsError):
    """An import cannot run (bad option, unknown format); problems inside a file are InputFileErrors."""


@dataclass(frozen=True)
class ImportReport:
    """What one import did."""

    path: str
    noun: str
    """What was counted: `rows`, `model versions`, `API keys`."""
    added: int
    present: int
    """Records skipped because a row with the same key was stored before this import."""
    notes: tuple[str, ...] = ()
    duplicates: int = 0
    """Records that repeat an earlier record of the same file exactly (imported once)."""

    def summary(self) -> str:
        """One line for the user, e.g. `file.json: 0 new rows, 145 already present`."""
        text = f"{self.path}: {self.added:,} new {self.noun}, {self.present:,} already present"
        if self.duplicates:
            text += f", {self.duplicates:,} duplicates in the file (imported once)"
        return text + "".join(f"; {note}" for note in self.notes)


def resolve_timezone(name: str | None) -> tzinfo:
    """The zone naive timestamps are read in: UTC by default, else any IANA name."""
    if name is None or name.strip().upper() in ("UTC", "Z", ""):
        return UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportOptionError(
            f"unknown time zone {name!r} (expected an IANA name such as Europe/Berlin, or UTC)"
        ) from None


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlong = 60


def check_option(option: str, value: str | None) -> None:
    """Refuse a `--source` or `--name` value that cannot be stored: 1 to 100 characters of valid Unicode."""
    if value is None:
        return
    try:
        check_text(value, 1, 100)
    except ValueError as exc:
        raise ImportOptionError(f"{option}: {exc}") from None


def _show(value: object) -> str:
    """A short printable form of a value: never deeper than 3 levels, lone surrogates escaped, at most 60 chars."""
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _lone_surrogate(text: str) -> bool:
    """True when `text` holds a UTF-16 surrogate on its own (JSON's "\\ud800"): not Unicode, SQLite refuses it."""
    return _SURROGATE.search(text) is not None


def check_text(value: object, low: int, high: int) -> str:
    """`value` if it is text of `low` to `high` characters that is valid Unicode; else ValueError saying why."""
    if not isinstance(value, str):
        raise ValueError(f"value {_show(value)} is not text")
    if _lone_surrogate(value):
        raise ValueError(f"value {_show(value)} holds a lone surrogate (not valid Unicode text)")
    if not low <= len(value) <= high:
        raise ValueError(f"value {_show(value)} must be {low} to {high} characters")
    return value


def parse_time(text: str, zone: tzinfo, *, allow_epoch: bool = True) -> int:
    """ISO-8601 (naive read in `zone`) or, if allowed, epoch seconds to UTC epoch ms; ValueError when unusable."""
    if not allow_epoch and _EPOCH_SECONDS.match(text):
        raise ValueError(f"value {_show(text)} is not an ISO-8601 time")
    if zone is UTC or _EPOCH_SECONDS.match(text):
        ms = parse_timestamp_ms(text)
    else:
        stripped = text.strip()
        try:
            moment = datetime.fromisoformat(stripped)
        except ValueError:
            raise ValueError(f"unparseable timestamp {stripped!r} (expected ISO-8601 or epoch seconds)") from None
        if moment.tzinfo is None:
            moment = _local_moment(moment, zone, stripped)
        ms = (moment - _EPOCH) // _ONE_MS
    if not 0 <= ms <= _MAX_MS:
        raise ValueError(f"timestamp {text.strip()!r} is outside 1970-01-01 .. 9999-12-31")
    return ms


def _local_moment(naive: datetime, zone: tzinfo, text: str) -> datetime:
    """`naive` read in `zone`; ValueError for a wall time that a daylight-saving change skips or repeats.

    Such a time has no single UTC instant (it would collide with, or be read as, another sample), so it is
    refused rather than guessed: give it an offset in the file, or read the file in UTC.
    """
    early = naive.replace(tzinfo=zone, fold=0)
    late = naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early
    round_trip = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    name = getattr(zone, "key", str(zone))
    if round_trip != naive:
        raise ValueError(
            f"local time {text!r} does not exist in {name} (skipped by a daylight-saving change); "
            "give its UTC offset in the file"
        )
    raise ValueError(
        f"local time {text!r} occurs twice in {name} (repeated by a daylight-saving change), so it is ambiguous; "
        "give its UTC offset in the file"
    )


# --------------------------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class _Field:
    """How one metric column is validated and encoded (value x scale, rounded, as in `store.encode_metric`)."""

    name: str
    scale: int
    low: float
    high: float
    nullable: bool

    def encode(self, value: float) -> int:
        if not math.isfinite(value):
            raise ValueError(f"value {_show(value)} is not a finite number")
        if value < self.low or value > self.high:
            raise ValueError(f"value {_show(value)} is outside {self.low:g} .. {self.high:g}")
        return round(value * self.scale)


_PERCENT = (0.0, 100.0)
_FIELDS: dict[str, _Field] = {
    field.name: field
    for field in (
        _Field("cpu_usage", 100, *_PERCENT, False),
        _Field("memory_usage", 100, *_PERCENT, False),
        _Field("disk_usage", 100, *_PERCENT, False),
        _Field("load_1m", 10_000, 0.0, 1e9, False),
        _Field("load_5m", 10_000, 0.0, 1e9, False),
        _Field("load_15m", 10_000, 0.0, 1e9, True),
        _Field("disk_io_read", 1, 0.0, 2.0**53, False),
        _Field("disk_io_write", 1, 0.0, 2.0**53, False),
        _Field("network_rx", 1, 0.0, 2.0**53, False),
        _Field("network_tx", 1, 0.0, 2.0**53, False),
        _Field("response_time", 1000, 0.0, 1e12, False),
        _Field("error_rate", 100, *_PERCENT, True),
        _Field("anomaly_score", 10_000, 0.0, 1.0, True),
    )
}
_VALUE_COLUMNS = tuple(_FIELDS)
_IGNORED_COLUMNS = {
    "id": "row ids are given by the target database",
    "created_by": "imported rows belong to the target database's system user",
    "disk_io": "derived sum of disk_io_read and disk_io_write",
    "network_io": "derived sum of network_rx and network_tx",
}
_BOOLEANS = {"0": 0, "1": 1, "false": 0, "true": 1, "False": 0, "True": 1, "FALSE": 0, "TRUE": 1}
_LEGACY_KEYS = {"timestamp", "is_anomaly", "source", "created_at", *_VALUE_COLUMNS, *_IGNORED_COLUMNS}

_ROWS_PER_STATEMENT = 50
"""Rows per multi-row INSERT: one statement run per 50 rows costs SQLite about 1 us less per row than one
per row (docs/benchmarks-foundation.md, section 3); 50 x 18 = 900 parameters, far below SQLite's limit."""


def _insert_sql(rows: int) -> str:
    placeholders = "(" + ", ".join("?" * len(METRIC_COLUMNS)) + ")"
    # Built from the constant column list; every value is a bound parameter.
    return "INSERT INTO metrics ({}) VALUES {} ON CONFLICT (source, timestamp) DO NOTHING".format(  # noqa: S608
        ", ".join(METRIC_COLUMNS), ", ".join([placeholders] * rows)
    )


_INSERT_ONE = _insert_sql(1)
_INSERT_MANY = _insert_sql(_ROWS_PER_STATEMENT)

Row = tuple[Any, ...]
"""A metrics row in `store.METRIC_COLUMNS` order, DECIMALs already scaled."""


def labels_model_name(source: str) -> str:
    """The model whose version 1 holds the imported ground-truth labels of `source`."""
    return f"labels@{source}"[:100]


def _check_source(value: object) -> str:
    return check_text(value, 1, 100)


_COMPARED = slice(2, 16)
"""The part of a metrics row that two records of one (source, timestamp) must share to be the same sample:
every metric, `is_anomaly` and `anomaly_score` (not `created_at`)."""
_COMPARED_NAMES = METRIC_COLUMNS[_COMPARED]
_SEEN_TABLE = "temp.scops_import_seen"
"""Keys of this import that were already stored, with the first record's values (a TEMP table: the
database file is not touched, and memory stays flat however large the file)."""


@dataclass
class _MetricsWriter:
    """Writes validated rows in the caller's transaction and keeps the counts.

    Rows are keyed by (source, timestamp). A row whose key was stored before the import counts as
    `present` (and `present_differ` when its values differ: the stored row is kept). A row whose key an
    earlier row of the same file already had is a duplicate when it is the same sample (counted), and
    refuses the file when it differs. Nothing extra happens for a chunk without conflicts.
    """

    conn: sqlite3.Connection
    path: str = ""
    unit: str = "record"
    """How a row's number is named in messages: `record` (JSON) or `line` (CSV)."""
    locate: Callable[[str, int], int] | None = None
    """Number of the first record/line of the file with this (source, timestamp), for error messages."""
    submitted: int = 0
    inserted: int = 0
    present: int = 0
    present_differ: int = 0
    duplicates: int = 0
    first_id: int | None = None
    _seen_table: bool = False

    def write(self, rows: Sequence[Row], numbers: Sequence[int] | None = None) -> None:
        """Insert `rows` (record or line `numbers[i]` of the file); sort out the conflicts, if any."""
        found = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'metrics'").fetchone()
        chunk_first_id = int(found[0]) + 1 if found else 1
        if self.first_id is None:
            self.first_id = chunk_first_id
        before = self.conn.total_changes
        whole = len(rows) - len(rows) % _ROWS_PER_STATEMENT
        if whole:
            flat = itertools.chain.from_iterable
            self.conn.executemany(
                _INSERT_MANY,
                (
                    tuple(flat(rows[start : start + _ROWS_PER_STATEMENT]))
                    for start in range(0, whole, _ROWS_PER_STATEMENT)
                ),
            )
        if whole < len(rows):
            self.conn.executemany(_INSERT_ONE, rows[whole:])
        added = self.conn.total_changes - before
        self.inserted += added
        self.submitted += len(rows)
        if added < len(rows):
            self._resolve(rows, numbers, chunk_first_id)

    def _resolve(self, rows: Sequence[Row], numbers: Sequence[int] | None, chunk_first_id: int) -> None:
        first_id = self.first_id or chunk_first_id
        inserted_here: dict[tuple[str, int], int] = {}
        for index, row in enumerate(rows):
            key = (row[1], row[0])
            label = self._label(numbers[index] if numbers else None)
            stored = self.conn.execute(
                f"SELECT id, {', '.join(_COMPARED_NAMES)} FROM metrics "  # noqa: S608 - constant column names
                "WHERE source = ? AND timestamp = ?",
                key,
            ).fetchone()
            if stored[0] >= first_id:
                if stored[0] >= chunk_first_id and key not in inserted_here:
                    inserted_here[key] = index  # this row is the one inserted
                    continue
                if key in inserted_here:
                    first = self._label(numbers[inserted_here[key]] if numbers else None)
                else:
                    first = self._label(self.locate(*key) if self.locate else None)
                self._same_or_refuse(tuple(stored[1:]), row, first, label)
                self.duplicates += 1
                continue
            self._create_seen_table()
            prior = self.conn.execute(
                f"SELECT label, {', '.join(_COMPARED_NAMES)} FROM {_SEEN_TABLE} "  # noqa: S608 - constants
                "WHERE source = ? AND timestamp = ?",
                key,
            ).fetchone()
            if prior is None:
                self.conn.execute(
                    f"INSERT INTO {_SEEN_TABLE} VALUES ({', '.join('?' * (3 + len(_COMPARED_NAMES)))})",  # noqa: S608
                    (*key, label, *row[_COMPARED]),
                )
                self.present += 1
                self.present_differ += tuple(stored[1:]) != tuple(row[_COMPARED])
            else:
                self._same_or_refuse(tuple(prior[1:]), row, prior[0], label)
                self.duplicates += 1

    def _label(self, number: int | None) -> str:
        return f"{self.unit} {number}" if number is not None else f"an earlier {self.unit}"

    def _create_seen_table(self) -> None:
        if not self._seen_table:
            self.conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS scops_import_seen (source TEXT, timestamp INTEGER, label TEXT, "
                f"{', '.join(_COMPARED_NAMES)}, PRIMARY KEY (source, timestamp))"
            )
            self.conn.execute(f"DELETE FROM {_SEEN_TABLE}")  # noqa: S608 - constant name
            self._seen_table = True

    def drop_seen_table(self) -> None:
        """Forget this import's TEMP table (called once the import's transaction has ended)."""
        if self._seen_table:
            self.conn.execute(f"DROP TABLE IF EXISTS {_SEEN_TABLE}")
            self._seen_table = False

    def _same_or_refuse(self, first: tuple[Any, ...], row: Row, first_label: str, label: str) -> None:
        values = tuple(row[_COMPARED])
        if first == values:
            return
        column = next(i for i, (a, b) in enumerate(zip(first, values, strict=True)) if a != b)
        name = _COMPARED_NAMES[column]
        scale = _FIELDS[name].scale if name in _FIELDS else 1
        shown = [
            value if value is None else value / scale if scale != 1 else value
            for value in (first[column], values[column])
        ]
        raise InputFileError(
            self.path,
            f"{label}, {'column' if self.unit == 'line' else 'field'} {name!r}",
            f"same source {row[1]!r} and time {iso(row[0])} as {first_label}, but {name} is {shown[1]!r} here and "
            f"{shown[0]!r} there: a file holds one sample per source and time (compared in UTC, to the millisecond)",
        )


def import_metrics(
    conn: sqlite3.Connection,
    path: str | os.PathLike[str],
    *,
    created_by: bytes,
    file_format: str | None = None,
    source: str | None = None,
    timezone: tzinfo = UTC,
    column: str | None = None,
    labels: bool | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a legacy JSON array or a CSV file of metrics; see the module docstring for the rules.

    `labels` (default: on for JSON, off for CSV) also records each row's `is_anomaly` as ground truth.
    """
    name = os.fspath(path)
    fmt = check_metrics_options(name, file_format=file_format, source=source, column=column)
    with_labels = (fmt == "json") if labels is None else labels
    now = now_ms()
    notes: list[str] = []
    writer = _MetricsWriter(conn, path=name, unit="record" if fmt == "json" else "line")
    try:
        if fmt == "json":
            rows = _read_json_metrics(name, source, timezone, column, now, created_by, notes)

            def locate_record(row_source: str, timestamp: int) -> int:
                return next(i for i, row in enumerate(rows, start=1) if (row[1], row[0]) == (row_source, timestamp))

            writer.locate = locate_record
            with transaction(conn):
                for start in range(0, len(rows), _CHUNK_ROWS):
                    chunk = rows[start : start + _CHUNK_ROWS]
                    writer.write(chunk, range(start + 1, start + 1 + len(chunk)))
                    if progress:
                        progress(len(chunk))
                label_note = _record_labels(conn, writer, created_by, now) if with_labels else None
        else:

            def locate_line(row_source: str, timestamp: int) -> int:
                for lines, chunk in _read_csv_metrics(name, source, timezone, column, now, created_by, [], None):
                    for line, row in zip(lines, chunk, strict=True):
                        if (row[1], row[0]) == (row_source, timestamp):
                            return line
                return 0

            writer.locate = locate_line
            with transaction(conn):
                for lines, chunk in _read_csv_metrics(name, source, timezone, column, now, created_by, notes, progress):
                    writer.write(chunk, lines)
                    chunk.clear()  # free this chunk's rows before the next one is built: peak memory is one chunk
                if writer.submitted == 0:
                    raise InputFileError(name, "", "header only: the file has no data rows")
                label_note = _record_labels(conn, writer, created_by, now) if with_labels else None
    finally:
        writer.drop_seen_table()
    if label_note:
        notes.insert(0, label_note)
    if writer.present_differ:
        notes.append(
            f"{writer.present_differ:,} of the rows already present differ from this file (the stored rows are kept)"
        )
    return ImportReport(name, "rows", writer.inserted, writer.present, tuple(notes), duplicates=writer.duplicates)


def check_metrics_options(
    path: str | os.PathLike[str], *, file_format: str | None, source: str | None, column: str | None
) -> str:
    """Check the options of a metrics import before anything is opened; return the format (json or csv)."""
    fmt = (file_format or _guess_format(os.fspath(path))).lower()
    if fmt not in ("json", "csv"):
        raise ImportOptionError(f"unknown metrics format {_show(fmt)} (expected json or csv)")
    check_option("--source", source)
    if column is not None and column not in _FIELDS:
        raise ImportOptionError(f"--column {_show(column)} is not a metric column (one of {', '.join(_VALUE_COLUMNS)})")
    return fmt


def _guess_format(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".json", ".csv"):
        return suffix[1:]
    raise ImportOptionError(f"{name}: cannot tell the format from the extension {suffix or '(none)'!r}; use --format")


def _read_bytes(name: str) -> bytes:
    try:
        with open(name, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputFileError(name, "", f"cannot read file: {exc.strerror or exc}") from None


def _load_json(name: str, *, walk: bool = False, secret_keys: bool = False) -> Any:
    """Parse a JSON file; every problem is an InputFileError naming the file and where.

    A key given twice in one object is refused (never last-one-wins). An integer literal too long for
    Python is read as a float (infinite: refused by the field's check). With `walk`, the whole document is
    also checked to be nested at most `_MAX_DEPTH` levels and to hold no lone surrogates (for files that
    are stored whole). `secret_keys`: the top-level keys are secrets, named by position and digest only.
    """
    data = _read_bytes(name)
    if not data.strip():
        raise InputFileError(name, "", "empty file (expected JSON)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputFileError(name, f"line {line}", f"not valid UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    repeated: list[tuple[dict[str, Any], str, int, int]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items) and not repeated:
            first: dict[str, int] = {}
            for position, (key, _value) in enumerate(items):
                if key in first:
                    repeated.append((result, key, first[key], position))
                    break
                first[key] = position
        return result

    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise InputFileError(name, f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}") from None
    except ValueError as exc:
        raise InputFileError(name, "", f"invalid JSON: {exc}") from None
    except RecursionError:
        line, column = _too_deep_at(text)
        raise InputFileError(
            name, f"line {line}, column {column}", f"invalid JSON: nested more than {_MAX_DEPTH} levels deep"
        ) from None
    if repeated:
        container, key, first, second = repeated[0]
        path = _path_to(document, container)
        if secret_keys and not path:
            where = f"record {second + 1} (key sha256 {_digest(key)[:12]}...)"
            raise InputFileError(name, where, f"the same key appears twice (records {first + 1} and {second + 1})")
        raise InputFileError(
            name,
            _where(document, [*path, key], secret_keys=secret_keys),
            "this key appears twice in one object (each key may be given once)",
        )
    if walk:
        found = _first_unsafe(document)
        if found is not None:
            path, problem = found
            raise InputFileError(name, _where(document, path, secret_keys=secret_keys), problem)
    return document


def _parse_int(text: str) -> int | float:
    """An integer literal; one too long for Python's int parser (over 4,300 digits) becomes a float."""
    return int(text) if len(text) <= 4000 else float(text)


def _too_deep_at(text: str) -> tuple[int, int]:
    """(line, column) where `text` first nests deeper than `_MAX_DEPTH` (for the error message only)."""
    depth = 0
    in_string = escaped = False
    line, line_start = 1, 0
    for position, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return line, position - line_start + 1
        elif char in "]}":
            depth -= 1
        if char == "\n":
            line, line_start = line + 1, position + 1
    return line, 1


def _children(node: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(node, dict):
        yield from node.items()
    elif isinstance(node, list):
        yield from enumerate(node)


def _path_to(document: Any, target: object) -> list[str | int]:
    """The keys and indexes that lead from `document` to the object `target` (iterative: any depth)."""
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        stack.extend((child, [*path, key]) for key, child in _children(node))
    return []


def _first_unsafe(document: Any) -> tuple[list[str | int], str] | None:
    """The path and problem of the first place nested deeper than `_MAX_DEPTH`, or text with a lone surrogate."""
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str) and _lone_surrogate(node):
            return path, f"value {_show(node)} holds a lone surrogate (not valid Unicode text)"
        if not isinstance(node, dict | list):
            continue
        if len(path) >= _MAX_DEPTH:
            return path, f"nested more than {_MAX_DEPTH} levels deep"
        for key, child in reversed(list(_children(node))):
            if isinstance(key, str) and _lone_surrogate(key):
                return [*path, key], "the key holds a lone surrogate (not valid Unicode text)"
            stack.append((child, [*path, key]))
    return None


def _where(document: Any, path: Sequence[str | int], *, secret_keys: bool = False) -> str:
    """`record N, field 'a.b[2]'` for a path into a parsed file (record: an item of a top-level array or,
    with `secret_keys`, a top-level key, named by number and digest prefix)."""
    parts: list[str] = []
    rest = list(path)
    if rest and isinstance(rest[0], int) and isinstance(document, list):
        parts.append(f"record {int(rest.pop(0)) + 1}")
    elif rest and secret_keys and isinstance(document, dict):
        key = str(rest.pop(0))
        index = list(document).index(key) + 1 if key in document else 1
        parts.append(f"record {index} (key sha256 {_digest(key)[:12]}...)")
    if rest:
        field = ""
        if len(rest) > 6:  # a path into deep nesting: its start and depth say enough
            rest = [*rest[:3], f"...({len(rest) - 3} levels more)"]
        for step in rest:
            field += f"[{step}]" if isinstance(step, int) else (f".{step}" if field else step)
        parts.append(f"field {field!r}")
    return ", ".join(parts)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _refuse_constant(token: str) -> float:
    raise ValueError(f"{token} is not a JSON number")


def _json_number(field: _Field, value: object) -> int | None:
    if value is None:
        if field.nullable:
            return None
        raise ValueError("missing value (null)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"value {_show(value)} is not a number")
    try:
        return field.encode(float(value))
    except OverflowError:
        raise ValueError(f"value {_show(value)} is too large") from None


def _finite(value: object) -> float | None:
    """`value` as a float if it is a finite JSON number (not a bool), else None (huge integers included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _json_bool(value: object) -> int:
    if value in (0, 1) and isinstance(value, int | bool):
        return int(value)
    raise ValueError(f"value {_show(value)} is not 0/1 or true/false")


def _read_json_metrics(
    name: str,
    source: str | None,
    zone: tzinfo,
    column: str | None,
    now: int,
    created_by: bytes,
    notes: list[str],
) -> list[Row]:
    document = _load_json(name)
    if not isinstance(document, list):
        raise InputFileError(name, "", f"expected a JSON array of metric records, found {type(document).__name__}")
    if not document:
        raise InputFileError(name, "", "the array holds no records")
    rows: list[Row] = []
    derived_mismatch = 0
    absent: set[str] = set()
    for index, record in enumerate(document, start=1):
        where = f"record {index}"
        if not isinstance(record, dict):
            raise InputFileError(name, where, f"expected an object, found {_show(record)}")
        if column is not None and "value" in record:
            record = {(column if key == "value" else key): value for key, value in record.items()}
        unknown = sorted(set(record) - _LEGACY_KEYS)
        if unknown:
            raise InputFileError(name, f"{where}, field {unknown[0]!r}", "not a metrics field")
        field_name = "timestamp"
        try:
            raw_time = record.get("timestamp")
            if raw_time is None:
                raise ValueError("missing")
            if not isinstance(raw_time, str):
                raise ValueError(f"value {_show(raw_time)} is not an ISO-8601 string")
            timestamp = parse_time(raw_time, zone, allow_epoch=False)
            field_name = "source"
            row_source = source if source is not None else _check_source(record.get("source", DEFAULT_SOURCE))
            values: list[int | None] = []
            for field in _FIELDS.values():
                field_name = field.name
                if field.name not in record:
                    if field.nullable:
                        values.append(None)
                        continue
                    raise ValueError("missing")
                values.append(_json_number(field, record[field.name]))
            field_name = "is_anomaly"
            if "is_anomaly" not in record:
                raise ValueError("missing")
            flag = _json_bool(record["is_anomaly"])
            field_name = "created_at"
            created_at = now
            if "created_at" in record:
                if not isinstance(record["created_at"], str):
                    raise ValueError(f"value {_show(record['created_at'])} is not an ISO-8601 string")
                created_at = parse_time(record["created_at"], zone, allow_epoch=False)
            field_name = "disk_io"
            derived_mismatch += _derived_differs(record)
        except ValueError as exc:
            raise InputFileError(name, f"{where}, field {field_name!r}", str(exc)) from None
        absent.update(key for key in ("load_15m", "error_rate", "anomaly_score") if key not in record)
        rows.append((timestamp, row_source, *values[:12], flag, values[12], created_at, created_by))
    notes.append(_derived_note(derived_mismatch))
    if absent:
        notes.append(f"absent and left NULL: {', '.join(sorted(absent))}")
    return rows


def _derived_differs(record: Mapping[str, Any]) -> int:
    """1 when a legacy derived sum (disk_io, network_io) disagrees with its parts, else 0."""
    for total, parts in (("disk_io", ("disk_io_read", "disk_io_write")), ("network_io", ("network_rx", "network_tx"))):
        if total not in record:
            continue
        value = _finite(record[total])
        if value is None:
            raise ValueError(f"value {_show(record[total])} of {total} is not a finite number")
        summed = sum(float(record.get(part) or 0) for part in parts)
        if not math.isclose(value, summed, rel_tol=1e-9, abs_tol=1e-6):
            return 1
    return 0


def _derived_note(mismatches: int) -> str:
    base = "disk_io/network_io not stored (derived sums)"
    return base if mismatches == 0 else f"{base}; {mismatches:,} records where they differ from their parts"


# CSV ---------------------------------------------------------------------------------------------------


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


def _csv_plan(name: str, header: list[str], column: str | None, notes: list[str]) -> _CsvPlan:
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
    if column is not None:
        extra = [i for i, field in enumerate(lowered) if field not in ("timestamp", "source", "is_anomaly")]
        if len(extra) != 1:
            raise InputFileError(
                name,
                "line 1",
                f"--column needs a timestamp,value file; found value columns {[fields[i] for i in extra]}",
            )
        mapped[extra[0]] = column
    elif "value" in lowered:
        raise InputFileError(name, "line 1", "a 'value' column needs --column to say which metric it holds")
    known = {"timestamp", "source", "is_anomaly", "created_at", *_VALUE_COLUMNS, *_IGNORED_COLUMNS}
    for position, field in enumerate(mapped):
        if field not in known:
            raise InputFileError(
                name,
                f"line 1, column {fields[position]!r}",
                f"not a metrics column (known: timestamp, source, is_anomaly, {', '.join(_VALUE_COLUMNS)})",
            )
    values = {field: i for i, field in enumerate(mapped) if field in _FIELDS}
    zeroed = [field for field, spec in _FIELDS.items() if field not in values and not spec.nullable]
    if zeroed:
        notes.append(f"absent from the file and stored as 0: {', '.join(zeroed)}")
    ignored = [field for field in mapped if field in _IGNORED_COLUMNS]
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


def _read_csv_metrics(
    name: str,
    source: str | None,
    zone: tzinfo,
    column: str | None,
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
        plan = _csv_plan(name, header, column, notes)
        consumed = 1  # physical lines read so far
        done = 0
        while True:
            raw: list[str] = []
            try:
                for line in text:
                    raw.append(line)
                    if len(raw) >= _CHUNK_ROWS:
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
    for field_name, field in _FIELDS.items():
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
    ordered = [encoded[field] for field in _VALUE_COLUMNS]
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
    if values.size == 0 or values.min() < 0 or values.max() > _MAX_MS:
        return None
    result: list[int] = values.tolist()
    return result


def _fast_numbers(column: Sequence[str], field: _Field) -> list[int | None] | None:
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


def _csv_number(field: _Field, text: str) -> int | None:
    stripped = text.strip()
    if not stripped:
        if field.nullable:
            return None
        raise ValueError("empty value (expected a number)")
    try:
        value = float(stripped)
    except ValueError:
        raise ValueError(f"value {_show(stripped)} is not a number") from None
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
                    row_source = _check_source(fields[index])
            values: list[int | None] = []
            for field_name, field in _FIELDS.items():
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
                    raise ValueError(f"value {_show(text)} is not 0/1 or true/false")
                flag = _BOOLEANS[text]
            created_at = now
            if plan.created_at is not None:
                index = plan.created_at
                created_at = parse_time(fields[index], zone)
        except ValueError as exc:
            raise InputFileError(name, f"line {line}, column {plan.header[index]!r}", str(exc)) from None
        rows.append((timestamp, row_source, *values[:12], flag, values[12], created_at, created_by))
    return rows


# Labels --------------------------------------------------------------------------------------------------


def _record_labels(conn: sqlite3.Connection, writer: _MetricsWriter, created_by: bytes, now: int) -> str | None:
    """Ground truth for the rows this import inserted: one prediction row each, on `labels@<source>` v1."""
    if not writer.inserted or writer.first_id is None:
        return None
    sources = [row[0] for row in conn.execute("SELECT DISTINCT source FROM metrics WHERE id >= ?", (writer.first_id,))]
    flagged = 0
    for source in sources:
        version_id = _labels_version(conn, source, created_by, now)
        conn.execute(
            "INSERT INTO model_predictions (model_version_id, metrics_id, predicted_anomaly, confidence_score, "
            "prediction_time_ms, actual_anomaly, feedback_provided_at, feedback_provided_by) "
            "SELECT ?, id, is_anomaly, 1.0, 0, is_anomaly, ?, ? FROM metrics WHERE id >= ? AND source = ?",
            (version_id, now, created_by, writer.first_id, source),
        )
        conn.execute(
            "UPDATE ml_model_versions SET (training_data_start, training_data_end, training_data_size) = "
            "(SELECT min(m.timestamp), max(m.timestamp), count(*) FROM model_predictions AS p "
            "JOIN metrics AS m ON m.id = p.metrics_id WHERE p.model_version_id = ?) WHERE id = ?",
            (version_id, version_id),
        )
        flagged += conn.execute(
            "SELECT count(*) FROM metrics WHERE id >= ? AND source = ? AND is_anomaly = 1", (writer.first_id, source)
        ).fetchone()[0]
    names = ", ".join(labels_model_name(source) for source in sources)
    return f"{flagged:,} labelled anomalies recorded as ground truth (model {names}, version 1)"


def _labels_version(conn: sqlite3.Connection, source: str, created_by: bytes, now: int) -> int:
    name = labels_model_name(source)
    row = conn.execute("SELECT id FROM ml_models WHERE model_name = ?", (name,)).fetchone()
    if row is None:
        model_id = conn.execute(
            "INSERT INTO ml_models (model_name, model_type, description, is_active, created_by, source) "
            "VALUES (?, 'rule_based', ?, 0, ?, ?)",
            (
                name,
                f"Ground truth imported for {source}: the earlier system's is_anomaly labels (its collector's rules "
                "cpu>80 or mem>90 or load_1m>2 or disk>85, plus injected anomalies). Holds labels; does not score.",
                created_by,
                source,
            ),
        ).lastrowid
    else:
        model_id = row[0]
    found = conn.execute(
        "SELECT id FROM ml_model_versions WHERE model_id = ? AND version = '1'", (model_id,)
    ).fetchone()
    if found:
        return int(found[0])
    config = {"kind": "imported_labels", "scores": False, "label_column": "metrics.is_anomaly"}
    cursor = conn.execute(
        "INSERT INTO ml_model_versions (model_id, version, training_timestamp, training_data_start, "
        "training_data_end, training_data_size, model_config, thresholds, status, deployment_notes, created_by) "
        "VALUES (?, '1', ?, 0, 0, 1, ?, '{}', 'ready', ?, ?)",
        (
            model_id,
            now,
            json.dumps(config, sort_keys=True),
            "holds imported ground-truth labels in model_predictions.actual_anomaly; it does not score",
            created_by,
        ),
    )
    return int(cursor.lastrowid or 0)


# ---------------------------------------------------------------------------------------------- models

_ALLOWED_TYPES = ("isolation_forest", "prophet", "rule_based", "ensemble", "robust_statistical")
_LEGACY_NAMES = {"rule_based_real_data": "real_data_anomaly_detector"}
"""Model names the original migration gave (others are named after their legacy type)."""
_THRESHOLD_KEYS = {
    "cpu_threshold": "cpu_usage",
    "memory_threshold": "memory_usage",
    "load_threshold": "load_1m",
    "disk_threshold": "disk_usage",
}
_PERFORMANCE_KEYS = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1_score": "f1"}
ANY_THRESHOLD = "legacy_any_threshold"
"""RealDataInferenceEngine: anomalous when any threshold is exceeded; confidence .3 cpu/mem, .2 load/disk."""
WEIGHTED = "legacy_weighted"
"""SecureMLInferenceEngine: two thresholds exceeded, or one with cpu/mem above 1.5x; weighted confidence."""
_RULE_WEIGHTS = {
    ANY_THRESHOLD: {"cpu_usage": 0.3, "memory_usage": 0.3, "load_1m": 0.2, "disk_usage": 0.2},
    WEIGHTED: {"cpu_usage": 0.35, "memory_usage": 0.35, "load_1m": 0.20, "disk_usage": 0.10},
}


def _map_model_type(legacy: str) -> tuple[str, str]:
    """(schema model_type, rule set) of a legacy type; ValueError for a type with no mapping."""
    if legacy == "rule_based_real_data" or legacy == "rule_based":
        return "rule_based", ANY_THRESHOLD
    if legacy.startswith("enhanced_rule_based"):
        return "rule_based", WEIGHTED
    if legacy in _ALLOWED_TYPES:
        raise ValueError(
            f"a legacy {legacy!r} model cannot be imported: its learned artifact is not in the file "
            "(only rule-based models, whose thresholds are the whole model, can be)"
        )
    raise ValueError(
        f"model type {legacy!r} is not one of {', '.join(_ALLOWED_TYPES)} and has no mapping (known legacy "
        "types: rule_based_real_data, enhanced_rule_based_v2); nothing was imported"
    )


@dataclass(frozen=True)
class _LegacyModel:
    name: str
    version: str
    model_type: str
    description: str | None
    training_ms: int
    training_size: int
    performance: dict[str, float | None]
    thresholds: dict[str, float]
    config: dict[str, Any]


def _parse_model(document: dict[str, Any], zone: tzinfo, name_override: str | None, path: str) -> _LegacyModel:
    field = "model_type"
    try:
        legacy_type = document.get("model_type")
        if not isinstance(legacy_type, str) or not legacy_type:
            raise ValueError(f"value {_show(legacy_type)} is not a model type name")
        model_type, rules = _map_model_type(legacy_type)
        field = "version"
        version = check_text(document.get("version", "1.0.0"), 1, 20)
        field = "training_timestamp"
        stamp = document.get("training_timestamp")
        if not isinstance(stamp, str):
            raise ValueError(f"value {_show(stamp)} is not an ISO-8601 string")
        training_ms = parse_time(stamp, zone, allow_epoch=False)
        field = "training_data_size"
        size = document.get("training_data_size")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size < 2**63:
            raise ValueError(f"value {_show(size)} is not a positive whole number")
        field = "thresholds"
        raw_thresholds = document.get("thresholds")
        if not isinstance(raw_thresholds, dict):
            raise ValueError(f"value {_show(raw_thresholds)} is not an object of thresholds")
        thresholds: dict[str, float] = {}
        for key, metric in _THRESHOLD_KEYS.items():
            field = f"thresholds.{key}"
            value = raw_thresholds.get(key)
            number = _finite(value)
            if number is None or number < 0:
                raise ValueError(f"value {_show(value)} is not a finite number >= 0")
            thresholds[metric] = number
        field = "performance"
        raw_performance = document.get("performance", {})
        if not isinstance(raw_performance, dict):
            raise ValueError(f"value {_show(raw_performance)} is not an object")
        performance: dict[str, float | None] = {}
        for key, target in _PERFORMANCE_KEYS.items():
            field = f"performance.{key}"
            value = raw_performance.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
            ):
                raise ValueError(f"value {_show(value)} is not a number between 0 and 1")
            performance[target] = None if value is None else float(value)
        field = "description"
        description = document.get("description")
        if description is not None:
            description = check_text(description, 0, 10_000)
    except ValueError as exc:
        raise InputFileError(path, f"field {field!r}", str(exc)) from None
    name = name_override or _LEGACY_NAMES.get(legacy_type, legacy_type)
    config = {
        "kind": "rule_based",
        "rules": rules,
        "legacy_model_type": legacy_type,
        "metrics": list(_THRESHOLD_KEYS.values()),
        "imported_from": os.path.basename(path),
        "legacy": {key: value for key, value in document.items() if key not in ("thresholds",)},
    }
    return _LegacyModel(
        name=name[:100],
        version=version,
        model_type=model_type,
        description=description or f"Imported legacy {legacy_type} model (thresholds on cpu, memory, load, disk)",
        training_ms=training_ms,
        training_size=size,
        performance=performance,
        thresholds=thresholds,
        config=config,
    )


def import_models(
    conn: sqlite3.Connection,
    path: str | os.PathLike[str],
    *,
    created_by: bytes,
    timezone: tzinfo = UTC,
    name: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one legacy model description (or a JSON array of them) as models and `ready` versions."""
    path_text = os.fspath(path)
    check_option("--name", name)
    document = _load_json(path_text, walk=True)
    documents = document if isinstance(document, list) else [document]
    if not documents:
        raise InputFileError(path_text, "", "the array holds no model descriptions")
    if name is not None and len(documents) > 1:
        raise ImportOptionError("--name applies to a file with one model description")
    models: list[_LegacyModel] = []
    for index, item in enumerate(documents, start=1):
        if not isinstance(item, dict):
            raise InputFileError(
                path_text, f"record {index}", f"expected a model description object, found {_show(item)}"
            )
        try:
            models.append(_parse_model(item, timezone, name, path_text))
        except InputFileError as exc:
            if len(documents) == 1:
                raise
            raise InputFileError(path_text, f"record {index}, {exc.where}", exc.problem) from None
    added = present = 0
    with transaction(conn):
        for index, model in enumerate(models, start=1):
            if _store_model(conn, model, created_by, path_text, index if len(models) > 1 else None):
                added += 1
            else:
                present += 1
            if progress:
                progress(1)
    return ImportReport(path_text, "model versions", added, present)


def _store_model(
    conn: sqlite3.Connection, model: _LegacyModel, created_by: bytes, path: str, index: int | None
) -> bool:
    where = f"record {index}, field 'model_type'" if index else "field 'model_type'"
    row = conn.execute("SELECT id, model_type FROM ml_models WHERE model_name = ?", (model.name,)).fetchone()
    if row is None:
        model_id = int(
            conn.execute(
                "INSERT INTO ml_models (model_name, model_type, description, is_active, created_by) "
                "VALUES (?, ?, ?, 1, ?)",
                (model.name, model.model_type, model.description, created_by),
            ).lastrowid
            or 0
        )
    else:
        model_id, existing_type = int(row[0]), row[1]
        if existing_type != model.model_type:
            raise InputFileError(
                path,
                where,
                f"model {model.name!r} already exists with type {existing_type!r}, not {model.model_type!r}",
            )
    thresholds = json.dumps(model.thresholds, sort_keys=True)
    config = json.dumps(model.config, sort_keys=True)
    existing = conn.execute(
        "SELECT thresholds, model_config FROM ml_model_versions WHERE model_id = ? AND version = ?",
        (model_id, model.version),
    ).fetchone()
    if existing is not None:
        if (
            json.loads(existing[0]) != model.thresholds
            or json.loads(existing[1]).get("legacy") != model.config["legacy"]
        ):
            raise InputFileError(
                path,
                where.replace("model_type", "version"),
                f"version {model.version!r} of model {model.name!r} already exists with different content",
            )
        return False
    conn.execute(
        "INSERT INTO ml_model_versions (model_id, version, training_timestamp, training_data_start, "
        "training_data_end, training_data_size, model_config, thresholds, accuracy, precision_score, "
        "recall_score, f1_score, status, deployment_notes, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ready', ?, ?)",
        (
            model_id,
            model.version,
            model.training_ms,
            model.training_ms,
            model.training_ms,
            model.training_size,
            config,
            thresholds,
            model.performance["accuracy"],
            model.performance["precision"],
            model.performance["recall"],
            model.performance["f1"],
            f"imported from {os.path.basename(path)}: scores with its thresholds (rules {model.config['rules']})",
            created_by,
        ),
    )
    return True


@dataclass(frozen=True)
class RuleScore:
    """What a legacy rule-based version says about one sample."""

    anomaly: bool
    confidence: float
    """0..1, computed as the legacy engine did."""
    exceeded: tuple[str, ...]
    """Metrics above their threshold, in the order cpu, memory, load, disk."""


def score_with_thresholds(version: ModelVersion, metrics: Mapping[str, float]) -> RuleScore:
    """Score one sample (plain units, keys as metrics columns) with an imported rule-based version.

    `legacy_any_threshold` (rule_based_real_data): anomalous when any metric exceeds its threshold;
    confidence adds .3 for cpu and memory and .2 for load and disk, capped at 1.
    `legacy_weighted` (enhanced_rule_based_v2): values clamped to 0..100; anomalous when two thresholds are
    exceeded, or one while cpu or memory is above 1.5x its threshold; confidence = sum of weight x
    min(2, 1 + excess ratio) over exceeded metrics (weights .35/.35/.20/.10), times (0.7 F1 + 0.3 precision)
    when the version has those figures, capped at 1.
    """
    rules = version.config.get("rules")
    if version.config.get("kind") != "rule_based" or rules not in _RULE_WEIGHTS:
        raise ScopsError(
            f"model version {version.id} is not an imported rule-based version; it cannot score by thresholds"
        )
    weights = _RULE_WEIGHTS[rules]
    exceeded: list[str] = []
    confidence = 0.0
    strong = False
    for metric, weight in weights.items():
        threshold = float(version.thresholds[metric])
        value = float(metrics.get(metric, 0.0))
        if rules == WEIGHTED:
            value = min(max(value, 0.0), 100.0)
        if value <= threshold:
            continue
        exceeded.append(metric)
        if rules == ANY_THRESHOLD:
            confidence += weight
        else:
            ratio = (value - threshold) / threshold if threshold > 0 else 1.0
            confidence += weight * min(2.0, 1.0 + ratio)
            if metric in ("cpu_usage", "memory_usage") and value > 1.5 * threshold:
                strong = True
    if rules == ANY_THRESHOLD:
        anomaly = bool(exceeded)
    else:
        anomaly = len(exceeded) >= 2 or (len(exceeded) == 1 and strong)
        if version.f1 is not None and version.precision is not None:
            confidence *= 0.7 * version.f1 + 0.3 * version.precision
    return RuleScore(anomaly=anomaly, confidence=min(1.0, confidence), exceeded=tuple(exceeded))


def evaluate_rules(conn: sqlite3.Connection, version_id: int, source: str, created_by: bytes) -> int:
    """Score `source`'s labelled samples with a rule-based version and record its predictions.

    Each prediction carries the imported label as `actual_anomaly`, so `registry.evaluate(version_id)`
    (`scops-tui model evaluate`) measures the version against the ground truth. Samples already
    predicted by this version are skipped. Returns the number of predictions written.
    """
    version = get_version(conn, version_id)
    labels = conn.execute(
        "SELECT v.id FROM ml_model_versions AS v JOIN ml_models AS m ON m.id = v.model_id "
        "WHERE m.model_name = ? AND v.version = '1'",
        (labels_model_name(source),),
    ).fetchone()
    if labels is None:
        raise ScopsError(f"no imported labels for source {source!r} (import its metrics with labels first)")
    columns = ", ".join(f"m.{metric}" for metric in _THRESHOLD_KEYS.values())
    rows = conn.execute(
        f"SELECT m.id, p.actual_anomaly, {columns} FROM model_predictions AS p "  # noqa: S608
        "JOIN metrics AS m ON m.id = p.metrics_id WHERE p.model_version_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM model_predictions AS q WHERE q.metrics_id = m.id AND q.model_version_id = ?) ORDER BY m.id",
        (labels[0], version_id),
    ).fetchall()
    scales = (100, 100, 10_000, 100)
    now = now_ms()
    written = []
    for metrics_id, actual, *scaled in rows:
        sample = {
            metric: value / scale for metric, value, scale in zip(_THRESHOLD_KEYS.values(), scaled, scales, strict=True)
        }
        score = score_with_thresholds(version, sample)
        written.append(
            (
                version_id,
                metrics_id,
                int(score.anomaly),
                round(score.confidence, 6),
                json.dumps(sample),
                actual,
                now,
                created_by,
            )
        )
    with transaction(conn):
        conn.executemany(
            "INSERT INTO model_predictions (model_version_id, metrics_id, predicted_anomaly, confidence_score, "
            "prediction_time_ms, model_features, actual_anomaly, feedback_provided_at, feedback_provided_by) "
            "VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
            written,
        )
    return len(written)


# -------------------------------------------------------------------------------------------- API keys

_LEVELS = {"read": ["read"], "write": ["read", "write"], "admin": ["read", "write", "admin"]}
"""A legacy level grants itself and every lower level."""


def import_api_keys(
    conn: sqlite3.Connection,
    path: str | os.PathLike[str],
    *,
    created_by: bytes,
    timezone: tzinfo = UTC,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the legacy key file; only each key's SHA-256 digest is stored, never the key."""
    name = os.fspath(path)
    document = _load_json(name, secret_keys=True)
    if not isinstance(document, dict):
        raise InputFileError(
            name, "", f"expected a JSON object from key to key details, found {type(document).__name__}"
        )
    if not document:
        raise InputFileError(name, "", "the object holds no keys")
    rows: list[tuple[Any, ...]] = []
    for index, (key, details) in enumerate(document.items(), start=1):
        digest = _digest(key)
        where = f"record {index} (key sha256 {digest[:12]}...)"
        if not 16 <= len(key) <= 512 or not key.isprintable() or key != key.strip():
            raise InputFileError(
                name, where, "the key must be 16 to 512 printable characters without surrounding spaces"
            )
        if not isinstance(details, dict):
            raise InputFileError(name, where, f"expected an object of key details, found {type(details).__name__}")
        field = "name"
        try:
            key_name = check_text(details.get("name"), 1, 100)
            field = "level"
            level = details.get("level")
            if not isinstance(level, str) or level not in _LEVELS:
                raise ValueError(f"value {_show(level)} is not one of read, write, admin")
            field = "created"
            created = details.get("created")
            if not isinstance(created, str):
                raise ValueError(f"value {_show(created)} is not an ISO-8601 string")
            created_ms = parse_time(created, timezone, allow_epoch=False)
            field = "rate_limit"
            limit = details.get("rate_limit")
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit < 2**31):
                raise ValueError(f"value {_show(limit)} is not a positive whole number of requests per hour")
            unknown = sorted(set(details) - {"name", "level", "created", "rate_limit"})
            if unknown:
                field = unknown[0]
                raise ValueError("not a key detail this import understands (name, level, created, rate_limit)")
        except ValueError as exc:
            raise InputFileError(name, f"{where}, field {field!r}", str(exc)) from None
        description = f"imported from {os.path.basename(name)} (legacy level {level})"
        rows.append(
            (key_name, digest, json.dumps(_LEVELS[level]), description, limit, created_ms, created_ms, created_by)
        )
    digests = [row[1] for row in rows]
    if len(set(digests)) != len(digests):
        raise InputFileError(name, "", "the same key appears twice")
    with transaction(conn):
        before = conn.total_changes
        conn.executemany(
            "INSERT INTO api_keys (key_name, key_hash, permissions, description, rate_limit_per_hour, created_at, "
            "updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING",
            rows,
        )
        added = conn.total_changes - before
        if progress:
            progress(len(rows))
    return ImportReport(name, "API keys", added, len(rows) - added)
