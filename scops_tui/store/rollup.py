"""The per-minute and per-hour summary of metrics that long history charts read, brought up to date by id."""

from __future__ import annotations

import sqlite3

from scops_tui.store.database import transaction

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
SPANS = (MINUTE_MS, HOUR_MS)
"""The bucket lengths the rollup keeps."""

# Column pairs (sum, max) of the rollup, in the order of history.CHART_METRICS.
ROLLUP_COLUMNS = {
    "cpu_usage": ("cpu_sum", "cpu_max"),
    "memory_usage": ("memory_sum", "memory_max"),
    "disk_usage": ("disk_sum", "disk_max"),
    "load_1m": ("load_sum", "load_max"),
    "disk_io_read": ("read_sum", "read_max"),
    "disk_io_write": ("write_sum", "write_max"),
    "network_rx": ("rx_sum", "rx_max"),
    "network_tx": ("tx_sum", "tx_max"),
}


def _catch_up_sql() -> str:
    targets, sources, updates = [], [], []
    for metric, (total, peak) in ROLLUP_COLUMNS.items():
        targets += [total, peak]
        sources += [f"sum({metric})", f"max({metric})"]
        updates += [f"{total} = {total} + excluded.{total}", f"{peak} = max({peak}, excluded.{peak})"]
    # Built from the constant column names above; the id is a bound parameter.
    return (
        "INSERT INTO metrics_rollup (source, span_ms, bucket_start, samples, "  # noqa: S608
        f"{', '.join(targets)}, score_max, anomalous) "
        f"SELECT source, :span, timestamp / :span * :span, count(*), {', '.join(sources)}, max(anomaly_score), "
        "max(is_anomaly) FROM metrics WHERE id > :last GROUP BY source, timestamp / :span "
        "ON CONFLICT (source, span_ms, bucket_start) DO UPDATE SET samples = samples + excluded.samples, "
        + ", ".join(updates)
        + ", score_max = max(coalesce(score_max, excluded.score_max), coalesce(excluded.score_max, score_max)), "
        "anomalous = max(anomalous, excluded.anomalous)"
    )


_CATCH_UP = _catch_up_sql()


def pending(conn: sqlite3.Connection) -> int:
    """Metrics rows not yet in the summary."""
    row = conn.execute("SELECT count(*) FROM metrics WHERE id > (SELECT last_id FROM metrics_rollup_state)").fetchone()
    return int(row[0])


def catch_up(conn: sqlite3.Connection) -> int:
    """Fold the metrics rows written since the last catch-up into the summary (one transaction).

    Rows are taken by id, which AUTOINCREMENT never reuses, so each row is counted exactly once, whatever
    wrote it (the recorder, an import). Returns the number of rows folded in.
    """
    with transaction(conn):
        last_id = conn.execute("SELECT last_id FROM metrics_rollup_state").fetchone()[0]
        newest = conn.execute("SELECT coalesce(max(id), 0) FROM metrics").fetchone()[0]
        if newest <= last_id:
            return 0
        for span in SPANS:
            conn.execute(_CATCH_UP, {"span": span, "last": last_id})
        conn.execute("UPDATE metrics_rollup_state SET last_id = ?", (newest,))
    return int(newest - last_id)
