"""Export any of the eight tables as CSV, JSON Lines or JSON, streamed in constant memory.

SQLite itself turns each row into its output text (one string per row reaches Python), so memory stays
flat and the rate is set by SQLite, not by per-value Python work. In every format:

* timestamps are ISO-8601 UTC with milliseconds and ``Z`` (``2025-08-08T03:43:42.092Z``);
* ``metrics`` DECIMAL columns are given in plain units, decoded exactly as ``metrics_readable`` does
  (``cpu_usage`` 1234 -> ``12.34``, printed with the column's scale, e.g. ``0.1000`` for a load);
* UUIDs (users and every ``*_by`` column) are canonical text; booleans stay 0/1;
* JSON columns (``model_config``, ``permissions``, ...) are JSON text in CSV and nested JSON otherwise;
* REAL columns are written as SQLite prints them (15 significant digits).

``api_keys`` holds no key, only its SHA-256 digest, so no export can contain one.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from scops_tui.errors import ScopsError
from scops_tui.store.database import METRIC_SCALES, TABLES
from scops_tui.store.timestamps import now_ms
from scops_tui.transfer.output_file import OutputFileError, open_output
from scops_tui.transfer.series_csv import parse_timestamp_ms

__all__ = ["FORMATS", "ExportError", "ExportRequest", "export_table", "parse_time_bound", "write_atomically"]

FORMATS = ("csv", "jsonl", "json")

_TIME_COLUMNS = {"timestamp", "end_timestamp", "training_timestamp", "training_data_start", "training_data_end"}
_JSON_COLUMNS = {"model_config", "thresholds", "permissions", "model_features", "contributing_metrics", "top_processes"}
_RANGE_COLUMN = {"metrics": "timestamp", "anomaly_predictions": "timestamp"}
"""The time a row is about for --since/--until; other tables use created_at."""
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


class ExportError(ScopsError):
    """The export cannot run as asked: unknown table, column or format, bad time bound, unwritable file."""


@dataclass(frozen=True)
class ExportRequest:
    """What to export."""

    table: str
    file_format: str = "csv"
    since_ms: int | None = None
    until_ms: int | None = None
    """Exclusive upper bound."""
    source: str | None = None
    columns: tuple[str, ...] | None = None
    """Columns to write, in this order; all of the table's when None."""


def parse_time_bound(text: str, option: str, now: int | None = None) -> int:
    """`--since`/`--until` text to epoch ms: ISO-8601 (naive = UTC), epoch seconds, or an age like 24h, 7d."""
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2)
        return (now_ms() if now is None else now) - round(amount * _UNIT_MS[unit])
    try:
        cleaned = text.strip()
        if cleaned.endswith(("z", "Z")):
            cleaned = cleaned[:-1] + "+00:00"
        return parse_timestamp_ms(cleaned)
    except (ValueError, OverflowError):
        raise ExportError(
            f"{option} {text!r}: expected an ISO-8601 time (2025-08-08T12:00:00Z), epoch seconds, or an age such "
            "as 30m, 24h, 7d"
        ) from None


def _columns_of(conn: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return [(row[1], str(row[2]).upper()) for row in conn.execute(f"PRAGMA table_info({table})")]


def _uuid_text(expr: str) -> str:
    hexed = f"lower(hex({expr}))"
    return (
        f"substr({hexed}, 1, 8) || '-' || substr({hexed}, 9, 4) || '-' || substr({hexed}, 13, 4) || '-' || "
        f"substr({hexed}, 17, 4) || '-' || substr({hexed}, 21)"
    )


def _time_text(expr: str) -> str:
    # Integer arithmetic gives the exact millisecond; date() supplies the calendar day.
    return (
        f"printf('%sT%02d:%02d:%02d.%03dZ', date({expr} / 1000, 'unixepoch'), {expr} / 3600000 % 24, "
        f"{expr} / 60000 % 60, {expr} / 1000 % 60, {expr} % 1000)"
    )


def _decimal_text(expr: str, scale: int) -> str:
    digits = len(str(scale)) - 1
    return f"printf('%d.%0{digits}d', {expr} / {scale}, {expr} % {scale})"


@dataclass(frozen=True)
class _Column:
    name: str
    value: str
    """SQL for the value as it is exported (text for times, UUIDs and decimals)."""
    kind: str
    """`text`, `safe` (text that never needs CSV quoting: times, UUIDs), `number` (bare in JSON), `json`
    (nested in JSON) or `real`."""
    nullable: bool
    source: str = ""
    """The stored column (`t.name`)."""
    scale: int = 0
    """For a metrics DECIMAL column: its scale (value x scale is stored)."""


def _plan(conn: sqlite3.Connection, request: ExportRequest) -> tuple[list[_Column], str, list[object]]:
    """The exported columns, the FROM/WHERE/ORDER clause and its parameters."""
    if request.table not in TABLES:
        raise ExportError(f"unknown table {request.table!r} (one of {', '.join(TABLES)})")
    if request.file_format not in FORMATS:
        raise ExportError(f"unknown format {request.file_format!r} (one of {', '.join(FORMATS)})")
    info = _columns_of(conn, request.table)
    notnull = {row[1]: bool(row[3]) for row in conn.execute(f"PRAGMA table_info({request.table})")}
    names = [name for name, _type in info]
    wanted = list(request.columns) if request.columns else names
    for name in wanted:
        if name not in names:
            raise ExportError(f"table {request.table} has no column {name!r} (columns: {', '.join(names)})")
    if len(set(wanted)) != len(wanted):
        raise ExportError("--columns names a column twice")
    types = dict(info)
    users = [(bytes(row[0]), str(uuid.UUID(bytes=bytes(row[0])))) for row in conn.execute("SELECT id FROM users")]
    joins: list[str] = []
    columns: list[_Column] = []
    for name in wanted:
        ref = f"t.{name}"
        declared = types[name]
        if declared == "BLOB":
            if request.table == "users" and name == "id":
                value = _uuid_text(ref)
            elif len(users) <= 32:
                # A CASE over the few users' ids is far cheaper per row than a join (a row or two are per user).
                cases = " ".join(f"WHEN X'{blob.hex()}' THEN '{text}'" for blob, text in users)
                value = f"CASE {ref} {cases} ELSE NULL END"
            else:
                alias = f"u{len(joins)}"
                joins.append(f"LEFT JOIN users_text AS {alias} ON {alias}.id = {ref}")
                value = f"{alias}.txt"
            kind = "safe"
        elif declared == "INTEGER" and (name in _TIME_COLUMNS or name.endswith("_at")):
            value, kind = _time_text(ref), "safe"
        elif request.table == "metrics" and name in METRIC_SCALES:
            value, kind = _decimal_text(ref, METRIC_SCALES[name]), "number"
        elif name in _JSON_COLUMNS:
            value, kind = ref, "json"
        elif declared == "INTEGER":
            value, kind = ref, "number"
        elif declared == "REAL":
            value, kind = ref, "real"
        else:
            value, kind = ref, "text"
        nullable = not notnull.get(name, False) or declared == "BLOB"
        if nullable and value != ref and declared != "BLOB":
            value = f"CASE WHEN {ref} IS NULL THEN NULL ELSE {value} END"
        scale = METRIC_SCALES[name] if request.table == "metrics" and name in METRIC_SCALES else 0
        columns.append(_Column(name, value, kind, nullable, ref, scale))
    where: list[str] = []
    params: list[object] = []
    range_column = _RANGE_COLUMN.get(request.table, "created_at")
    if request.since_ms is not None:
        where.append(f"t.{range_column} >= ?")
        params.append(request.since_ms)
    if request.until_ms is not None:
        where.append(f"t.{range_column} < ?")
        params.append(request.until_ms)
    if request.source is not None:
        if "source" not in names:
            raise ExportError(
                f"table {request.table} has no source column; --source applies to metrics, "
                "anomaly_predictions and ml_models"
            )
        where.append("t.source = ?")
        params.append(request.source)
    clause = f"FROM {request.table} AS t " + " ".join(joins)
    if where:
        clause += " WHERE " + " AND ".join(where)
    order = "t.id" if "id" in names else "t.rowid"
    return columns, clause + f" ORDER BY {order}", params


def _printf_part(column: _Column) -> tuple[str, list[str]]:
    """(printf format, arguments) writing one CSV field; SQLite prints a NULL argument of %s as nothing."""
    ref = column.source
    if not column.nullable and column.kind == "safe" and column.value.startswith("printf('%sT"):
        hour, minute, second = f"{ref} / 3600000 % 24", f"{ref} / 60000 % 60", f"{ref} / 1000 % 60"
        return "%sT%02d:%02d:%02d.%03dZ", [f"date({ref} / 1000, 'unixepoch')", hour, minute, second, f"{ref} % 1000"]
    if not column.nullable and column.scale:
        return f"%d.%0{len(str(column.scale)) - 1}d", [f"{ref} / {column.scale}", f"{ref} % {column.scale}"]
    return "%s", [_csv_field(column)]


def _csv_line(columns: list[_Column]) -> str:
    """SQL for one CSV line: a single printf call is cheaper for SQLite than a chain of concatenations."""
    formats: list[str] = []
    arguments: list[str] = []
    for column in columns:
        part, args = _printf_part(column)
        formats.append(part)
        arguments.extend(args)
    if len(arguments) > 120:  # SQLite allows 127 arguments to a function
        return " || ',' || ".join(_csv_field(column) for column in columns) + " || char(10)"
    return "printf('" + ",".join(formats) + "' || char(10), " + ", ".join(arguments) + ")"


def _csv_field(column: _Column) -> str:
    if column.kind == "text" or column.kind == "json":
        # Quote only when needed, as csv.writer does (QUOTE_MINIMAL).
        ref = column.value
        needs_quotes = f"instr({ref}, ',') OR instr({ref}, '\"') OR instr({ref}, char(10)) OR instr({ref}, char(13))"
        value = f"iif({needs_quotes}, '\"' || replace({ref}, '\"', '\"\"') || '\"', {ref})"
    else:
        value = column.value
    return f"ifnull({value}, '')" if column.nullable or column.kind != "number" else value


def _json_value(column: _Column) -> str:
    if column.kind == "json":
        return f"json({column.value})"
    if column.kind == "number" and "printf" in column.value:
        return f"json({column.value})"
    return column.value


def _users_text_cte() -> str:
    return f"WITH users_text AS MATERIALIZED (SELECT id, {_uuid_text('id')} AS txt FROM users) "  # noqa: S608


def export_table(
    conn: sqlite3.Connection,
    request: ExportRequest,
    out: TextIO,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the selected rows of one table to `out`; returns the number of rows written.

    Rows are read with one cursor and written as they come: memory does not grow with the table.
    """
    columns, clause, params = _plan(conn, request)
    prefix = _users_text_cte()
    if request.file_format == "csv":
        out.write(",".join(_quote_header(column.name) for column in columns) + "\n")
        line = _csv_line(columns)
    else:
        pairs = ", ".join(f"'{column.name}', {_json_value(column)}" for column in columns)
        line = f"json_object({pairs})"
    cursor = conn.execute(f"{prefix}SELECT {line} {clause}", params)
    count = 0
    batch = 10_000
    if request.file_format == "json":
        out.write("[")
        separator = "\n"
        while rows := cursor.fetchmany(batch):
            for (text,) in rows:
                out.write(separator)
                out.write(text)
                separator = ",\n"
            count += len(rows)
            if progress:
                progress(len(rows))
        out.write("\n]\n" if count else "]\n")
        return count
    suffix = "" if request.file_format == "csv" else "\n"
    while rows := cursor.fetchmany(batch):
        if suffix:
            out.writelines(text + suffix for (text,) in rows)
        else:
            out.writelines(text for (text,) in rows)
        count += len(rows)
        if progress:
            progress(len(rows))
    return count


def _quote_header(name: str) -> str:
    return f'"{name}"' if any(char in name for char in ',"\n\r') else name


def count_rows(conn: sqlite3.Connection, request: ExportRequest) -> int:
    """How many rows `export_table` would write (for a progress bar)."""
    _columns, clause, params = _plan(conn, request)
    clause = clause.rsplit(" ORDER BY ", 1)[0]
    return int(conn.execute(f"{_users_text_cte()}SELECT count(*) {clause}", params).fetchone()[0])


@contextlib.contextmanager
def write_atomically(path: Path, *, force: bool = False) -> Iterator[TextIO]:
    """A text file that appears complete at `path` only when the block ends without error.

    See `output_file.open_output`: an unpredictable temporary file (mode 0600) moved to a new target, or
    over a plain one with `force` (without it an existing file is refused); an existing FIFO, device or
    symbolic link to one (``/dev/stdout``) is written through instead.
    """
    try:
        with open_output(path, force=force) as handle:
            yield handle
    except OutputFileError as exc:
        raise ExportError(str(exc)) from None
