"""What the endpoints read from the database: health, each source's newest sample and episodes, and
the 24-hour summary of `/ml/metrics` (plain SQLite, no HTTP)."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scops_tui.store.database import METRIC_COLUMNS, database_id, decode_metric
from scops_tui.store.migrations import current_version
from scops_tui.store.recorder_lock import RecorderLock
from scops_tui.store.timestamps import iso, now_ms

SEVERITIES = ("low", "medium", "high", "critical")
SUMMARY_METRICS = (
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "load_1m",
    "load_5m",
    "load_15m",
    "disk_io_read",
    "disk_io_write",
    "network_rx",
    "network_tx",
    "response_time",
    "anomaly_score",
)

# Distinct sources by index seeks (one per source), not a scan of every row.
_SOURCES = """
WITH RECURSIVE s(source) AS (
    SELECT min(source) FROM metrics
    UNION ALL
    SELECT (SELECT min(source) FROM metrics WHERE source > s.source) FROM s WHERE s.source IS NOT NULL
)
SELECT source FROM s WHERE source IS NOT NULL
"""


def sources(conn: sqlite3.Connection) -> list[str]:
    """Every source with samples."""
    return [str(row[0]) for row in conn.execute(_SOURCES)]


def newest_samples(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Each source's newest sample (plain units, as MetricRecord fields)."""
    found: dict[str, dict[str, Any]] = {}
    select = f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE source = ? ORDER BY timestamp DESC LIMIT 1"  # noqa: S608
    for source in sources(conn):
        row = conn.execute(select, (source,)).fetchone()
        if row is not None:
            record = decode_metric(row)
            found[source] = {name: getattr(record, name) for name in record.__slots__}
    return found


def episode_counts(conn: sqlite3.Connection) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(open episodes, all episodes) by (source, severity); open = not acknowledged and not resolved."""
    opened: dict[tuple[str, str], int] = {}
    total: dict[tuple[str, str], int] = {}
    for source, severity, count, waiting in conn.execute(
        "SELECT source, severity, count(*), sum(acknowledged = 0 AND resolved_at IS NULL) FROM anomaly_predictions "
        "WHERE severity IS NOT NULL GROUP BY source, severity"
    ):
        total[(source, severity)] = int(count)
        opened[(source, severity)] = int(waiting or 0)
    return opened, total


@dataclass(frozen=True)
class Health:
    """The body of `/health`."""

    status: str
    schema_version: int
    recorder_running: bool
    newest_sample_age_s: float | None
    database_id: str

    def as_json(self) -> dict[str, Any]:
        """The JSON object served."""
        return {
            "status": self.status,
            "schema_version": self.schema_version,
            "recorder_running": self.recorder_running,
            "newest_sample_age_s": self.newest_sample_age_s,
            "database_id": self.database_id,
        }


def health(conn: sqlite3.Connection, db_path: Path, stale_after_s: float) -> Health:
    """ok while a recorder runs and the newest sample is at most `stale_after_s` old; degraded otherwise."""
    version = current_version(conn)
    identity = str(database_id(conn))
    newest: int | None = None
    for source in sources(conn):
        row = conn.execute("SELECT max(timestamp) FROM metrics WHERE source = ?", (source,)).fetchone()
        if row and row[0] is not None:
            newest = max(newest or 0, int(row[0]))
    age = None if newest is None else round(max(now_ms() - newest, 0) / 1000, 3)
    running = RecorderLock(db_path).held_by_other()
    ok = running and age is not None and age <= stale_after_s
    return Health("ok" if ok else "degraded", version, running, age, identity)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def ml_metrics(conn: sqlite3.Connection, source: str, *, latest: int, episodes: int) -> dict[str, Any]:
    """The body of `/ml/metrics`: 24-hour summary per metric, latest rows, recent episodes, deployed model."""
    from scops_tui.detection import registry, review
    from scops_tui.detection.quality import measure_quality

    now = now_ms()
    since = now - 86_400_000
    rows = conn.execute(
        f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE source = ? AND timestamp >= ? "  # noqa: S608
        "ORDER BY timestamp",
        (source, since),
    ).fetchall()
    records = [decode_metric(row) for row in rows]
    summary: dict[str, Any] = {}
    for name in SUMMARY_METRICS:
        values = [float(v) for v in (getattr(r, name) for r in records) if v is not None]
        summary[name] = (
            {"min": min(values), "mean": sum(values) / len(values), "max": max(values), "p95": _p95(values)}
            if values
            else None
        )
    newest = conn.execute(
        f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE source = ? ORDER BY timestamp DESC LIMIT ?",  # noqa: S608
        (source, latest),
    ).fetchall()
    latest_rows = []
    for row in newest:
        record = decode_metric(row)
        item: dict[str, Any] = {name: getattr(record, name) for name in record.__slots__}
        item["timestamp"] = iso(item.pop("timestamp_ms"))
        latest_rows.append(item)
    recent = [
        {
            "id": e.id,
            "start": iso(e.timestamp),
            "end": None if e.end_timestamp is None else iso(e.end_timestamp),
            "severity": e.severity,
            "status": e.status,
            "verdict": e.verdict,
            "peak_score": e.peak_score if e.peak_score is not None else e.confidence_score,
            "metrics": [item.get("metric") for item in e.contributing_metrics[:3]],
        }
        for e in review.list_episodes(conn, "all", None, 1000)
        if e.source == source
    ][:episodes]
    deployed = registry.deployed_version(conn, source)
    model = None
    if deployed is not None:
        quality = measure_quality(conn, deployed.id)
        model = {
            **deployed.as_json(),
            "threshold": deployed.thresholds.get("anomaly_score"),
            "labelled_predictions": quality.labelled,
        }
    return {
        "source": source,
        "window": {"start": iso(since), "end": iso(now), "samples": len(records)},
        "summary": summary,
        "latest": latest_rows,
        "episodes": recent,
        "model": model,
    }
