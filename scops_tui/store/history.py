"""Reading history for charts: metrics downsampled into time buckets in SQL, episode spans, latest samples."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scops_tui.store.database import METRIC_COLUMNS, METRIC_SCALES, decode_metric
from scops_tui.store.records import MetricRecord
from scops_tui.store.rollup import HOUR_MS, MINUTE_MS, ROLLUP_COLUMNS

CHART_METRICS = tuple(ROLLUP_COLUMNS)
"""The metrics a history bucket summarises, in chart order (those the per-minute rollup keeps)."""


@dataclass(frozen=True)
class HistoryBucket:
    """One time bucket of a source's history, in plain units."""

    start_ms: int
    """Start of the bucket (inclusive); the bucket spans `width_ms` from here."""
    samples: int
    averages: Mapping[str, float]
    maxima: Mapping[str, float]
    max_score: float | None
    """Highest anomaly score of the bucket's samples (None when none was scored)."""
    anomalous: bool
    """True when any sample in the bucket was flagged."""


@dataclass(frozen=True)
class EpisodeSpan:
    """Where an episode lies in time, for marking it on a chart."""

    id: int
    start_ms: int
    end_ms: int
    severity: str | None


def bucket_width(start_ms: int, end_ms: int, buckets: int) -> int:
    """Milliseconds per bucket so that `buckets` buckets cover [start, end) (at least 1 ms)."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    return max(-(-(end_ms - start_ms) // buckets), 1)


def _bucket_sql() -> str:
    aggregates = []
    for name in CHART_METRICS:
        aggregates.append(f"avg({name})")
        aggregates.append(f"max({name})")
    # Built from the constant CHART_METRICS; every value is a bound parameter.
    return (
        "SELECT (timestamp - ?) / ? AS bucket, count(*), "  # noqa: S608
        + ", ".join(aggregates)
        + ", max(anomaly_score), max(is_anomaly) FROM metrics "
        "WHERE source = ? AND timestamp >= ? AND timestamp < ? GROUP BY bucket ORDER BY bucket"
    )


_BUCKET_SQL = _bucket_sql()

ROLLUP_MIN_WIDTH_MS = 2 * 60_000
"""Buckets at least this wide are summed from the per-minute rollup instead of the raw samples."""


def _rollup_bucket_sql() -> str:
    rolled, raw, outer = [], [], []
    for name in CHART_METRICS:
        total, peak = ROLLUP_COLUMNS[name]
        rolled += [f"{total} AS {name}_sum", f"{peak} AS {name}_max"]
        raw += [f"{name}", f"{name}"]
        outer += [f"sum({name}_sum)", f"max({name}_max)"]
    # Built from constant column names; every value is a bound parameter. The second half reads the
    # samples not yet folded into the rollup, so the result is exact whenever the rollup last caught up;
    # the unary + keeps SQLite from scanning the (source, timestamp) index there instead of the few
    # newest ids.
    return (
        f"SELECT bucket, sum(n), {', '.join(outer)}, max(score), max(flag) FROM ("  # noqa: S608
        f"SELECT (bucket_start - :start) / :width AS bucket, samples AS n, {', '.join(rolled)}, "
        "score_max AS score, anomalous AS flag FROM metrics_rollup WHERE source = :source AND span_ms = :span "
        "AND bucket_start >= :start AND bucket_start < :end "
        f"UNION ALL SELECT (timestamp - :start) / :width, 1, {', '.join(raw)}, anomaly_score, is_anomaly "
        "FROM metrics WHERE id > (SELECT last_id FROM metrics_rollup_state) AND +source = :source "
        "AND +timestamp >= :start AND +timestamp < :end) GROUP BY bucket ORDER BY bucket"
    )


_ROLLUP_BUCKET_SQL = _rollup_bucket_sql()


def load_history(
    conn: sqlite3.Connection, source: str, start_ms: int, end_ms: int, buckets: int
) -> list[HistoryBucket]:
    """`source`'s samples in [start, end) summarised into at most `buckets` equal time buckets.

    The grouping happens in SQL (`GROUP BY (timestamp - start) / width`), so the cost is one indexed
    range scan and the result is never larger than `buckets` rows; empty buckets are left out.
    """
    if end_ms <= start_ms:
        return []
    width = bucket_width(start_ms, end_ms, buckets)
    if width >= ROLLUP_MIN_WIDTH_MS:
        # Hour rows for buckets of an hour or more, minute rows below: never more than ~60 rows a bucket.
        span = HOUR_MS if width >= HOUR_MS else MINUTE_MS
        parameters = {"start": start_ms, "width": width, "source": source, "end": end_ms, "span": span}
        cursor = conn.execute(_ROLLUP_BUCKET_SQL, parameters)
        summed = True
    else:
        cursor = conn.execute(_BUCKET_SQL, (start_ms, width, source, start_ms, end_ms))
        summed = False
    result = []
    for row in cursor:
        averages: dict[str, float] = {}
        maxima: dict[str, float] = {}
        for index, name in enumerate(CHART_METRICS):
            scale = METRIC_SCALES.get(name, 1)
            first = float(row[2 + 2 * index])
            averages[name] = (first / int(row[1]) if summed else first) / scale
            maxima[name] = float(row[3 + 2 * index]) / scale
        score = row[2 + 2 * len(CHART_METRICS)]
        result.append(
            HistoryBucket(
                start_ms=start_ms + int(row[0]) * width,
                samples=int(row[1]),
                averages=averages,
                maxima=maxima,
                max_score=None if score is None else score / METRIC_SCALES["anomaly_score"],
                anomalous=bool(row[3 + 2 * len(CHART_METRICS)]),
            )
        )
    return result


def dense_series(
    rows: Sequence[HistoryBucket], start_ms: int, end_ms: int, buckets: int, metric: str, *, peak: bool = False
) -> list[float]:
    """One value per bucket (0 where there is no data): the average of `metric`, or its maximum if `peak`."""
    width = bucket_width(start_ms, end_ms, buckets)
    count = max(-(-(end_ms - start_ms) // width), 1)
    values = [0.0] * count
    for row in rows:
        index = (row.start_ms - start_ms) // width
        if 0 <= index < count:
            values[index] = (row.maxima if peak else row.averages)[metric]
    return values


def dense_scores(rows: Sequence[HistoryBucket], start_ms: int, end_ms: int, buckets: int) -> list[float]:
    """The highest anomaly score per bucket (0 where nothing was scored)."""
    width = bucket_width(start_ms, end_ms, buckets)
    count = max(-(-(end_ms - start_ms) // width), 1)
    values = [0.0] * count
    for row in rows:
        index = (row.start_ms - start_ms) // width
        if 0 <= index < count and row.max_score is not None:
            values[index] = row.max_score
    return values


def data_bounds(conn: sqlite3.Connection, source: str) -> tuple[int, int] | None:
    """The first and last sample times of `source`, or None without samples."""
    row = conn.execute("SELECT min(timestamp), max(timestamp) FROM metrics WHERE source = ?", (source,)).fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def episode_spans(conn: sqlite3.Connection, source: str, start_ms: int, end_ms: int) -> list[EpisodeSpan]:
    """Episodes of `source` that overlap [start, end), oldest first."""
    rows = conn.execute(
        "SELECT id, timestamp, coalesce(end_timestamp, timestamp), severity FROM anomaly_predictions "
        "WHERE source = ? AND timestamp < ? AND coalesce(end_timestamp, timestamp) >= ? ORDER BY timestamp, id",
        (source, end_ms, start_ms),
    ).fetchall()
    return [EpisodeSpan(int(r[0]), int(r[1]), int(r[2]), r[3]) for r in rows]


def latest_records(conn: sqlite3.Connection, source: str, limit: int) -> list[MetricRecord]:
    """The newest `limit` samples of `source`, oldest first."""
    # Built from the constant column list; every value is a bound parameter.
    rows = conn.execute(
        f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE source = ? "  # noqa: S608
        "ORDER BY timestamp DESC LIMIT ?",
        (source, int(limit)),
    ).fetchall()
    return [decode_metric(row) for row in reversed(rows)]


@dataclass(frozen=True)
class WindowSummary:
    """Exact figures of a window, whatever the chart's width: sample count, true maxima, the last sample."""

    samples: int
    maxima: Mapping[str, float]
    """The largest value of each chart metric (and `anomaly_score`) among the window's samples."""
    latest: MetricRecord | None
    """The newest sample in the window."""


def _summary_parts() -> tuple[str, str]:
    rolled = ", ".join(f"max({ROLLUP_COLUMNS[name][1]})" for name in CHART_METRICS)
    raw = ", ".join(f"max({name})" for name in CHART_METRICS)
    # Built from constant column names; every value is a bound parameter.
    minutes = (
        f"SELECT sum(samples), {rolled}, max(score_max) FROM metrics_rollup "  # noqa: S608
        "WHERE source = :source AND span_ms = :span AND bucket_start >= :lo AND bucket_start < :hi"
    )
    samples = (
        f"SELECT count(*), {raw}, max(anomaly_score) FROM metrics WHERE source = :source "  # noqa: S608
        "AND ((timestamp >= :start AND timestamp < :lo) OR (timestamp >= :hi AND timestamp < :end))"
    )
    return minutes, samples


_SUMMARY_MINUTES, _SUMMARY_EDGES = _summary_parts()
_SUMMARY_PENDING = (
    f"SELECT count(*), {', '.join(f'max({name})' for name in CHART_METRICS)}, max(anomaly_score) "  # noqa: S608
    "FROM metrics WHERE id > (SELECT last_id FROM metrics_rollup_state) AND +source = :source "
    "AND +timestamp >= :lo AND +timestamp < :hi"
)


def window_summary(conn: sqlite3.Connection, source: str, start_ms: int, end_ms: int) -> WindowSummary:
    """The exact sample count and maxima of [start, end), and its newest sample.

    Whole hours inside the window are read from the hourly rollup, the whole minutes around them from the
    per-minute rollup (plus the rows not yet folded into it), the partial minutes at either edge from the
    samples: the same figures at any chart width, at the cost of a few short range scans.
    """
    lo = -(-start_ms // MINUTE_MS) * MINUTE_MS
    hi = max(end_ms // MINUTE_MS * MINUTE_MS, lo)
    if hi <= lo:
        lo = hi = end_ms
    base = {"source": source, "start": start_ms, "end": end_ms, "lo": lo, "hi": hi}
    parts = [conn.execute(_SUMMARY_EDGES, base).fetchone()]
    if lo < hi:
        parts.append(conn.execute(_SUMMARY_PENDING, base).fetchone())
        # Whole hours from the hour rows, the minutes around them from the minute rows.
        hour_lo = -(-lo // HOUR_MS) * HOUR_MS
        hour_hi = max(hi // HOUR_MS * HOUR_MS, hour_lo)
        ranges = [(HOUR_MS, hour_lo, hour_hi), (MINUTE_MS, lo, hour_lo), (MINUTE_MS, hour_hi, hi)]
        if hour_lo >= hour_hi:
            ranges = [(MINUTE_MS, lo, hi)]
        for span, range_lo, range_hi in ranges:
            if range_lo < range_hi:
                params = {"source": source, "span": span, "lo": range_lo, "hi": range_hi}
                parts.append(conn.execute(_SUMMARY_MINUTES, params).fetchone())
    count, maxima = combine_summaries(parts, METRIC_SCALES)
    latest_row = conn.execute(
        f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE source = ? AND timestamp >= ? "  # noqa: S608
        "AND timestamp < ? ORDER BY timestamp DESC LIMIT 1",
        (source, start_ms, end_ms),
    ).fetchone()
    return WindowSummary(count, maxima, None if latest_row is None else decode_metric(latest_row))


def combine_summaries(
    parts: Sequence[Sequence[Any] | None], scales: Mapping[str, int] | None = None
) -> tuple[int, dict[str, float]]:
    """Add up summary rows of one window's pieces (each `count, max of CHART_METRICS..., max score`):
    the sample count and each metric's maximum, divided by its storage scale where `scales` gives one."""
    count = 0
    maxima: dict[str, float] = {}
    for row in parts:
        if row is None or not row[0]:
            continue
        count += int(row[0])
        for index, name in enumerate((*CHART_METRICS, "anomaly_score")):
            value = row[1 + index]
            if value is not None:
                plain = float(value) / (scales or {}).get(name, 1)
                maxima[name] = max(maxima.get(name, plain), plain)
    return count, maxima


def sources(conn: sqlite3.Connection) -> list[str]:
    """Every source with samples in the database (this host and imported series), by name."""
    rows = conn.execute(
        "WITH RECURSIVE s(name) AS (SELECT min(source) FROM metrics UNION ALL "
        "SELECT (SELECT min(source) FROM metrics WHERE source > s.name) FROM s WHERE s.name IS NOT NULL) "
        "SELECT name FROM s WHERE name IS NOT NULL"
    ).fetchall()
    return [str(row[0]) for row in rows]


def label_times(conn: sqlite3.Connection, source: str, start_ms: int, end_ms: int, buckets: int) -> list[int]:
    """Where samples of [start, end) carry a ground-truth anomaly label (imported or marked missed), one time
    per bucket holding any: the marks under a history chart."""
    if end_ms <= start_ms:
        return []
    width = bucket_width(start_ms, end_ms, buckets)
    rows = conn.execute(
        "SELECT DISTINCT (m.timestamp - ?) / ? FROM model_predictions AS p CROSS JOIN metrics AS m "
        "ON m.id = p.metrics_id WHERE p.actual_anomaly = 1 AND m.source = ? AND m.timestamp >= ? "
        "AND m.timestamp < ? ORDER BY 1",
        (start_ms, width, source, start_ms, end_ms),
    ).fetchall()
    return [start_ms + int(row[0]) * width for row in rows]
