"""Read and check a legacy JSON metrics file (``real_training_data.json``): an array of flat records,
each checked field by field and turned into a metrics row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from scops_tui.errors import InputFileError
from scops_tui.transfer.importer import parse_time, show
from scops_tui.transfer.legacy_json import finite_number, load_json
from scops_tui.transfer.metric_rows import DEFAULT_SOURCE, FIELDS, KNOWN_COLUMNS, MetricField, Row, check_source

__all__ = ["read_json_metrics"]


def _json_number(field: MetricField, value: object) -> int | None:
    if value is None:
        if field.nullable:
            return None
        raise ValueError("missing value (null)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"value {show(value)} is not a number")
    try:
        return field.encode(float(value))
    except OverflowError:
        raise ValueError(f"value {show(value)} is too large") from None


def _json_bool(value: object) -> int:
    if value in (0, 1) and isinstance(value, int | bool):
        return int(value)
    raise ValueError(f"value {show(value)} is not 0/1 or true/false")


def read_json_metrics(
    name: str,
    source: str | None,
    zone: tzinfo,
    now: int,
    created_by: bytes,
    notes: list[str],
) -> list[Row]:
    """Every record of the file as a checked metrics row; `notes` gets what the report should say."""
    document = load_json(name)
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
            raise InputFileError(name, where, f"expected an object, found {show(record)}")
        unknown = sorted(set(record) - KNOWN_COLUMNS)
        if unknown:
            raise InputFileError(name, f"{where}, field {unknown[0]!r}", "not a metrics field")
        field_name = "timestamp"
        try:
            raw_time = record.get("timestamp")
            if raw_time is None:
                raise ValueError("missing")
            if not isinstance(raw_time, str):
                raise ValueError(f"value {show(raw_time)} is not an ISO-8601 string")
            timestamp = parse_time(raw_time, zone, allow_epoch=False)
            field_name = "source"
            row_source = source if source is not None else check_source(record.get("source", DEFAULT_SOURCE))
            values: list[int | None] = []
            for field in FIELDS.values():
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
                    raise ValueError(f"value {show(record['created_at'])} is not an ISO-8601 string")
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
        value = finite_number(record[total])
        if value is None:
            raise ValueError(f"value {show(record[total])} of {total} is not a finite number")
        summed = sum(float(record.get(part) or 0) for part in parts)
        if not math.isclose(value, summed, rel_tol=1e-9, abs_tol=1e-6):
            return 1
    return 0


def _derived_note(mismatches: int) -> str:
    base = "disk_io/network_io not stored (derived sums)"
    return base if mismatches == 0 else f"{base}; {mismatches:,} records where they differ from their parts"
