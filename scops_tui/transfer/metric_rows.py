"""A metrics row of an import: its fields' checks and encoding, the writer that stores rows keyed by
(source, timestamp) and sorts out the keys seen twice, and the labels it records as ground truth.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from scops_tui.detection.rules import labels_model_name
from scops_tui.errors import InputFileError
from scops_tui.store.database import METRIC_COLUMNS
from scops_tui.store.timestamps import iso
from scops_tui.transfer.importer import check_text, show

__all__ = [
    "DEFAULT_SOURCE",
    "FIELDS",
    "IGNORED_COLUMNS",
    "KNOWN_COLUMNS",
    "VALUE_COLUMNS",
    "MetricField",
    "MetricsWriter",
    "Row",
    "check_source",
    "record_labels",
]

DEFAULT_SOURCE = "historical_data"
"""Source of imported rows when neither the file nor ``--source`` names one (the original migration's)."""


@dataclass(frozen=True)
class MetricField:
    """How one metric column is validated and encoded (value x scale, rounded, as in `store.encode_metric`)."""

    name: str
    scale: int
    low: float
    high: float
    nullable: bool

    def encode(self, value: float) -> int:
        """`value` scaled and rounded for its column; ValueError when it is not finite or out of range."""
        if not math.isfinite(value):
            raise ValueError(f"value {show(value)} is not a finite number")
        if value < self.low or value > self.high:
            raise ValueError(f"value {show(value)} is outside {self.low:g} .. {self.high:g}")
        return round(value * self.scale)


_PERCENT = (0.0, 100.0)
FIELDS: dict[str, MetricField] = {
    field.name: field
    for field in (
        MetricField("cpu_usage", 100, *_PERCENT, False),
        MetricField("memory_usage", 100, *_PERCENT, False),
        MetricField("disk_usage", 100, *_PERCENT, False),
        MetricField("load_1m", 10_000, 0.0, 1e9, False),
        MetricField("load_5m", 10_000, 0.0, 1e9, False),
        MetricField("load_15m", 10_000, 0.0, 1e9, True),
        MetricField("disk_io_read", 1, 0.0, 2.0**53, False),
        MetricField("disk_io_write", 1, 0.0, 2.0**53, False),
        MetricField("network_rx", 1, 0.0, 2.0**53, False),
        MetricField("network_tx", 1, 0.0, 2.0**53, False),
        MetricField("response_time", 1000, 0.0, 1e12, False),
        MetricField("error_rate", 100, *_PERCENT, True),
        MetricField("anomaly_score", 10_000, 0.0, 1.0, True),
    )
}
"""How each metric column an import fills is checked and encoded, by name, in `store.METRIC_COLUMNS` order."""
VALUE_COLUMNS = tuple(FIELDS)
IGNORED_COLUMNS = {
    "id": "row ids are given by the target database",
    "created_by": "imported rows belong to the target database's system user",
    "disk_io": "derived sum of disk_io_read and disk_io_write",
    "network_io": "derived sum of network_rx and network_tx",
}
"""Columns (and legacy fields) an import understands and does not store, with the reason."""
KNOWN_COLUMNS = {"timestamp", "source", "is_anomaly", "created_at", *VALUE_COLUMNS, *IGNORED_COLUMNS}
"""Every column (CSV) or field (legacy JSON) a metrics import understands: stored, or knowingly ignored."""

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


def check_source(value: object) -> str:
    """`value` if it can be a row's source (1 to 100 characters of valid Unicode); else ValueError saying why."""
    return check_text(value, 1, 100)


_COMPARED = slice(2, 16)
"""The part of a metrics row that two records of one (source, timestamp) must share to be the same sample:
every metric, `is_anomaly` and `anomaly_score` (not `created_at`)."""
_COMPARED_NAMES = METRIC_COLUMNS[_COMPARED]
_SEEN_TABLE = "temp.scops_import_seen"
"""Keys of this import that were already stored, with the first record's values (a TEMP table: the
database file is not touched, and memory stays flat however large the file)."""


@dataclass
class MetricsWriter:
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
        scale = FIELDS[name].scale if name in FIELDS else 1
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


def record_labels(conn: sqlite3.Connection, writer: MetricsWriter, created_by: bytes, now: int) -> str | None:
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
