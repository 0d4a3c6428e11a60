"""Import metrics: check the options, read the file by its format (legacy JSON or CSV), store the rows
(all or nothing) and report what was added, present and repeated.

* Legacy JSON (``real_training_data.json``): an array of flat records. ``disk_io`` and ``network_io``
  are derived sums with no column: they are ignored (the report counts records where they differ
  from read + write / rx + tx). Absent ``load_15m``, ``error_rate``, ``anomaly_score`` stay NULL.
* CSV: a ``timestamp`` column plus metric columns by name (the columns of ``scops-tui export metrics``
  are all understood; ``id`` and ``created_by`` are ignored, ``created_at`` is kept when present). A
  required metric absent from the file is stored as 0 (the schema has no NULL for it) and the
  report says which; a nullable one stays NULL.
* A single series (a ``timestamp,value`` file, or any file with ``column`` naming the metric it holds)
  is refused: as metrics rows it would need every other metric made up. ``scops-tui detect FILE.csv``
  scores such a series instead.
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
  ``actual_anomaly`` = the label. Other versions are measured against it with
  :func:`~scops_tui.detection.rules.evaluate_rules`.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from datetime import UTC, tzinfo
from pathlib import Path

from scops_tui.errors import InputFileError
from scops_tui.store.database import transaction
from scops_tui.store.timestamps import now_ms
from scops_tui.transfer.csv_metrics import CHUNK_ROWS, SINGLE_SERIES, read_csv_metrics
from scops_tui.transfer.importer import ImportOptionError, ImportReport, Progress, check_option, show
from scops_tui.transfer.legacy_metrics import read_json_metrics
from scops_tui.transfer.metric_rows import FIELDS, VALUE_COLUMNS, MetricsWriter, record_labels

__all__ = ["check_metrics_options", "import_metrics"]


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
    writer = MetricsWriter(conn, path=name, unit="record" if fmt == "json" else "line")
    try:
        if fmt == "json":
            rows = read_json_metrics(name, source, timezone, now, created_by, notes)

            def locate_record(row_source: str, timestamp: int) -> int:
                return next(i for i, row in enumerate(rows, start=1) if (row[1], row[0]) == (row_source, timestamp))

            writer.locate = locate_record
            with transaction(conn):
                for start in range(0, len(rows), CHUNK_ROWS):
                    chunk = rows[start : start + CHUNK_ROWS]
                    writer.write(chunk, range(start + 1, start + 1 + len(chunk)))
                    if progress:
                        progress(len(chunk))
                label_note = record_labels(conn, writer, created_by, now) if with_labels else None
        else:

            def locate_line(row_source: str, timestamp: int) -> int:
                for lines, chunk in read_csv_metrics(name, source, timezone, now, created_by, [], None):
                    for line, row in zip(lines, chunk, strict=True):
                        if (row[1], row[0]) == (row_source, timestamp):
                            return line
                return 0

            writer.locate = locate_line
            with transaction(conn):
                for lines, chunk in read_csv_metrics(name, source, timezone, now, created_by, notes, progress):
                    writer.write(chunk, lines)
                    chunk.clear()  # free this chunk's rows before the next one is built: peak memory is one chunk
                if writer.submitted == 0:
                    raise InputFileError(name, "", "header only: the file has no data rows")
                label_note = record_labels(conn, writer, created_by, now) if with_labels else None
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
        raise ImportOptionError(f"unknown metrics format {show(fmt)} (expected json or csv)")
    check_option("--source", source)
    if column is not None:
        if column not in FIELDS:
            raise ImportOptionError(
                f"--column {show(column)} is not a metric column (one of {', '.join(VALUE_COLUMNS)})"
            )
        raise ImportOptionError(f"--column {column}: {SINGLE_SERIES.format(file=shlex.quote(os.fspath(path)))}")
    return fmt


def _guess_format(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".json", ".csv"):
        return suffix[1:]
    raise ImportOptionError(f"{name}: cannot tell the format from the extension {suffix or '(none)'!r}; use --format")
