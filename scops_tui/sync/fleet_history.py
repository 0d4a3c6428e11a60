"""A host's history on the central PostgreSQL: the SQL that buckets its raw rows or its hourly rollup, the exact
figures of a window, samples as records. Used by `sync.fleet`; plain statements, every value bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scops_tui.store.history import CHART_METRICS, HistoryBucket, WindowSummary, combine_summaries
from scops_tui.store.records import MetricRecord

if TYPE_CHECKING:
    import psycopg

HOUR_MS = 3_600_000
_MS = "(extract(epoch FROM {0}) * 1000)::int8"


def ms(column: str) -> str:
    """SQL for a timestamptz expression as epoch milliseconds (int8)."""
    return _MS.format(column)


_ms = ms


def window(source_db: str, source: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    """The parameters of one host's window, for every statement here."""
    return {"db": source_db, "source": source, "start": start_ms, "end": end_ms}


_TS = '"timestamp"'
_IN_WINDOW = (
    "source_db = %(db)s::uuid AND source = %(source)s "
    f"AND {_TS} >= to_timestamp(%(start)s::float8 / 1000) AND {_TS} < to_timestamp(%(end)s::float8 / 1000)"
)
# Raw rows: each chart metric's average and maximum per bucket, the top score and whether any was flagged.
RAW_SQL = (
    f"SELECT floor(({_ms(_TS)} - %(start)s) / %(width)s::float8)::int8 AS bucket, count(*), "  # noqa: S608 - constant
    + ", ".join(f"avg({m})::float8, max({m})::float8" for m in CHART_METRICS)
    + f", max(anomaly_score)::float8, bool_or(is_anomaly) FROM metrics WHERE {_IN_WINDOW} GROUP BY 1 ORDER BY 1"
)
ROLLUP_SOURCES = {
    "cpu_usage": ("sum_cpu", "max_cpu"),
    "memory_usage": ("sum_memory", "max_memory"),
    "disk_usage": ("sum_disk", "max_disk"),
    "load_1m": ("sum_load_1m", "max_load_1m"),
    "disk_io_read": ("sum_io_read", "max_io_read"),
    "disk_io_write": ("sum_io_write", "max_io_write"),
    "network_rx": ("sum_rx", "max_rx"),
    "network_tx": ("sum_tx", "max_tx"),
}
"""The hourly rollup's sum and peak column of each chart metric (server migrations 2 and 6)."""
_HOURS = (
    "source_db = %(db)s::uuid AND source = %(source)s "
    "AND hour >= to_timestamp(%(start)s::float8 / 1000) AND hour < to_timestamp(%(end)s::float8 / 1000)"
)
ROLLUP_SQL = (
    f"SELECT floor(({_ms('hour')} - %(start)s) / %(width)s::float8)::int8 AS bucket, sum(total_metrics)::int8, "  # noqa: S608 - constant
    + ", ".join(f"sum({total})::float8, max({peak})::float8" for total, peak in ROLLUP_SOURCES.values())
    + f", max(max_score)::float8, sum(anomaly_count) > 0 FROM metrics_hourly WHERE {_HOURS} GROUP BY 1 ORDER BY 1"
)
SPANS_SQL = (
    f"SELECT local_id, {_ms(_TS)}, {_ms(f'coalesce(end_timestamp, {_TS})')}, severity FROM anomaly_predictions "  # noqa: S608 - constant
    "WHERE source_db = %(db)s::uuid AND source = %(source)s AND "
    f"{_TS} < to_timestamp(%(end)s::float8 / 1000) "
    f"AND coalesce(end_timestamp, {_TS}) >= to_timestamp(%(start)s::float8 / 1000) ORDER BY {_TS}, local_id"
)
RECORD_COLUMNS = (
    f"{_ms(_TS)}, source, cpu_usage::float8, memory_usage::float8, disk_usage::float8, load_1m::float8, "
    "load_5m::float8, load_15m::float8, disk_io_read, disk_io_write, network_rx, network_tx, response_time::float8, "
    "error_rate::float8, is_anomaly, anomaly_score::float8"
)
_SUMMARY_RAW = (
    "SELECT count(*), "  # noqa: S608 - constant
    + ", ".join(f"max({m})::float8" for m in CHART_METRICS)
    + f", max(anomaly_score)::float8 FROM metrics WHERE {_IN_WINDOW}"
)
_SUMMARY_ROLLUP = (
    "SELECT sum(total_metrics)::int8, "  # noqa: S608 - constant
    + ", ".join(f"max({peak})::float8" for _total, peak in ROLLUP_SOURCES.values())
    + f", max(max_score)::float8 FROM metrics_hourly WHERE {_HOURS}"
)
_LATEST_IN_WINDOW = f"SELECT {RECORD_COLUMNS} FROM metrics WHERE {_IN_WINDOW} ORDER BY {_TS} DESC LIMIT 1"  # noqa: S608


def bucket(row: Sequence[Any], start_ms: int, width: int, *, summed: bool) -> HistoryBucket:
    """One row of `RAW_SQL` or `ROLLUP_SQL` as a bucket in plain units (sums divided when `summed`)."""
    samples = int(row[1])
    averages: dict[str, float] = {}
    maxima: dict[str, float] = {}
    for index, name in enumerate(CHART_METRICS):
        first = float(row[2 + 2 * index] or 0.0)
        averages[name] = first / samples if summed and samples else first
        maxima[name] = float(row[3 + 2 * index] or 0.0)
    score = row[2 + 2 * len(CHART_METRICS)]
    return HistoryBucket(
        start_ms=start_ms + int(row[0]) * width,
        samples=samples,
        averages=averages,
        maxima=maxima,
        max_score=None if score is None else float(score),
        anomalous=bool(row[3 + 2 * len(CHART_METRICS)]),
    )


def summary(
    conn: psycopg.Connection[Any], source_db: str, source: str, start_ms: int, end_ms: int, wide: bool
) -> WindowSummary:
    """Exact sample count and maxima of the window: whole hours from the rollup (wide windows), the rest raw;
    and its newest sample."""
    parts: list[Sequence[Any] | None] = []
    lo = -(-start_ms // HOUR_MS) * HOUR_MS
    hi = max(end_ms // HOUR_MS * HOUR_MS, lo)
    if wide and hi > lo:
        parts.append(conn.execute(_SUMMARY_ROLLUP, window(source_db, source, lo, hi)).fetchone())
        for a, b in ((start_ms, lo), (hi, end_ms)):
            if b > a:
                parts.append(conn.execute(_SUMMARY_RAW, window(source_db, source, a, b)).fetchone())
    else:
        parts.append(conn.execute(_SUMMARY_RAW, window(source_db, source, start_ms, end_ms)).fetchone())
    count, maxima = combine_summaries(parts)
    latest = conn.execute(_LATEST_IN_WINDOW, window(source_db, source, start_ms, end_ms)).fetchone()
    return WindowSummary(count, maxima, None if latest is None else record(latest))


def record(row: Sequence[Any]) -> MetricRecord:
    """A row selected as `RECORD_COLUMNS` as a MetricRecord."""
    return MetricRecord(
        timestamp_ms=int(row[0]),
        source=str(row[1]),
        cpu_usage=float(row[2]),
        memory_usage=float(row[3]),
        disk_usage=float(row[4]),
        load_1m=float(row[5]),
        load_5m=float(row[6]),
        load_15m=None if row[7] is None else float(row[7]),
        disk_io_read=int(row[8]),
        disk_io_write=int(row[9]),
        network_rx=int(row[10]),
        network_tx=int(row[11]),
        response_time=float(row[12]),
        error_rate=None if row[13] is None else float(row[13]),
        is_anomaly=bool(row[14]),
        anomaly_score=None if row[15] is None else float(row[15]),
    )
