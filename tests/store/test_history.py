"""History for charts: SQL downsampling into buckets, episode spans, bounds and the latest samples."""

from __future__ import annotations

import sqlite3

import pytest

from scops_tui.store import database as store
from scops_tui.store import history
from scops_tui.store.records import MetricRecord

SOURCE = "host-a"
T0 = 1_800_000_000_000


def sample(
    ts: int, cpu: float, *, source: str = SOURCE, score: float | None = None, flagged: bool = False
) -> MetricRecord:
    return MetricRecord(
        timestamp_ms=ts,
        source=source,
        cpu_usage=cpu,
        memory_usage=50.0,
        disk_usage=10.0,
        load_1m=cpu / 100,
        load_5m=0.1,
        load_15m=None,
        disk_io_read=100,
        disk_io_write=int(cpu * 10),
        network_rx=0,
        network_tx=0,
        response_time=1.0,
        is_anomaly=flagged,
        anomaly_score=score,
    )


def insert(conn: sqlite3.Connection, records: list[MetricRecord]) -> None:
    store.insert_metrics(conn, records, created_by=None, created_at=T0)


def test_buckets_average_and_peak_in_plain_units(conn: sqlite3.Connection) -> None:
    insert(conn, [sample(T0 + i * 1000, float(i), score=0.1 * i, flagged=i == 7) for i in range(10)])
    rows = history.load_history(conn, SOURCE, T0, T0 + 10_000, 2)
    assert [r.start_ms for r in rows] == [T0, T0 + 5000]
    assert [r.samples for r in rows] == [5, 5]
    assert rows[0].averages["cpu_usage"] == pytest.approx(2.0)
    assert rows[1].maxima["cpu_usage"] == pytest.approx(9.0)
    assert rows[1].maxima["load_1m"] == pytest.approx(0.09)
    assert rows[1].maxima["disk_io_write"] == pytest.approx(90.0)
    assert rows[0].max_score == pytest.approx(0.4)
    assert (rows[0].anomalous, rows[1].anomalous) == (False, True)


def test_window_is_half_open_other_sources_ignored_and_empty_buckets_left_out(conn: sqlite3.Connection) -> None:
    insert(conn, [sample(T0, 1.0), sample(T0 + 9000, 2.0), sample(T0 + 10_000, 3.0), sample(T0, 99.0, source="b")])
    rows = history.load_history(conn, SOURCE, T0, T0 + 10_000, 10)
    assert [(r.start_ms, r.samples) for r in rows] == [(T0, 1), (T0 + 9000, 1)]
    assert rows[0].max_score is None
    assert history.load_history(conn, SOURCE, T0, T0, 10) == []


def test_never_more_rows_than_buckets(conn: sqlite3.Connection) -> None:
    insert(conn, [sample(T0 + i * 5000, 5.0) for i in range(1000)])
    for buckets in (1, 7, 120, 999, 5000):
        rows = history.load_history(conn, SOURCE, T0, T0 + 1000 * 5000, buckets)
        assert 1 <= len(rows) <= buckets
        assert sum(r.samples for r in rows) == 1000


def test_dense_series_fill_gaps_with_zero(conn: sqlite3.Connection) -> None:
    insert(conn, [sample(T0, 10.0, score=0.5), sample(T0 + 3500, 30.0)])
    rows = history.load_history(conn, SOURCE, T0, T0 + 4000, 4)
    assert history.dense_series(rows, T0, T0 + 4000, 4, "cpu_usage") == [10.0, 0.0, 0.0, 30.0]
    assert history.dense_scores(rows, T0, T0 + 4000, 4) == [0.5, 0.0, 0.0, 0.0]


def test_bounds_and_latest_records(conn: sqlite3.Connection) -> None:
    assert history.data_bounds(conn, SOURCE) is None
    insert(conn, [sample(T0 + i * 1000, float(i)) for i in range(5)])
    assert history.data_bounds(conn, SOURCE) == (T0, T0 + 4000)
    latest = history.latest_records(conn, SOURCE, 3)
    assert [r.timestamp_ms for r in latest] == [T0 + 2000, T0 + 3000, T0 + 4000]
    assert latest[-1].cpu_usage == 4.0


def test_episode_spans_overlapping_the_window(conn: sqlite3.Connection) -> None:
    for ts, end, severity in (
        (T0, T0 + 1000, "low"),
        (T0 + 5000, None, "high"),
        (T0 + 20_000, T0 + 30_000, "critical"),
    ):
        conn.execute(
            "INSERT INTO anomaly_predictions (timestamp, end_timestamp, source, anomaly_detected, severity, "
            "confidence_score, model_name, model_version) VALUES (?, ?, ?, 1, ?, 0.9, 'm', '1')",
            (ts, end, SOURCE, severity),
        )
    spans = history.episode_spans(conn, SOURCE, T0 + 500, T0 + 21_000)
    assert [(s.severity, s.start_ms, s.end_ms) for s in spans] == [
        ("low", T0, T0 + 1000),
        ("high", T0 + 5000, T0 + 5000),
        ("critical", T0 + 20_000, T0 + 30_000),
    ]
    assert history.episode_spans(conn, "other", T0, T0 + 50_000) == []


def test_thirty_days_of_five_second_data_is_one_indexed_scan_into_few_rows(conn: sqlite3.Connection) -> None:
    count = 30 * 24 * 720  # 518,400 samples
    conn.execute(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?) "
        "INSERT INTO metrics (timestamp, source, cpu_usage, memory_usage, disk_usage, load_1m, load_5m, "
        "disk_io_read, disk_io_write, network_rx, network_tx, response_time, is_anomaly, anomaly_score) "
        "SELECT ? + i * 5000, ?, i % 10000, 5000, 1000, 100, 100, 1, 2, 3, 4, 1000, i % 1000 = 0, i % 10000 FROM seq",
        (count, T0, SOURCE),
    )
    end = T0 + count * 5000
    plan = " ".join(
        str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + history._BUCKET_SQL, (T0, 1, SOURCE, T0, end))
    )
    assert "USING INDEX" in plan and "timestamp>" in plan.replace(" ", "")
    rows = history.load_history(conn, SOURCE, T0, end, 120)
    assert len(rows) == 120
    assert sum(r.samples for r in rows) == count
    assert all(r.anomalous for r in rows)
    assert max(r.maxima["cpu_usage"] for r in rows) == pytest.approx(99.99)


def test_window_summary_is_exact_at_any_edge_and_whatever_the_rollup_holds(conn: sqlite3.Connection) -> None:
    import random

    from scops_tui.store import rollup

    rng = random.Random(7)
    # Three hours of 7-second samples with random CPU; half folded into the rollup, half not yet.
    records = [sample(T0 + i * 7000, round(rng.random() * 100, 2), score=rng.random()) for i in range(1543)]
    insert(conn, records[:800])
    rollup.catch_up(conn)
    insert(conn, records[800:])
    for start, end in [(T0, T0 + 3 * 3_600_000), (T0 + 12_345, T0 + 7_777_777), (T0 + 61_000, T0 + 119_000)]:
        inside = [r for r in records if start <= r.timestamp_ms < end]
        summary = history.window_summary(conn, SOURCE, start, end)
        assert summary.samples == len(inside)
        assert summary.maxima["cpu_usage"] == max(r.cpu_usage for r in inside)
        assert summary.maxima["disk_io_write"] == max(r.disk_io_write for r in inside)
        assert summary.maxima["anomaly_score"] == pytest.approx(max(r.anomaly_score or 0 for r in inside), abs=1e-4)
        assert summary.latest is not None and summary.latest.timestamp_ms == inside[-1].timestamp_ms
    assert history.window_summary(conn, SOURCE, T0 - 10_000, T0).samples == 0


def test_sources_and_label_times(conn: sqlite3.Connection) -> None:
    insert(conn, [sample(T0 + i * 1000, 1.0) for i in range(10)])
    insert(conn, [sample(T0 + i * 1000, 1.0, source="imported") for i in range(3)])
    assert history.sources(conn) == ["host-a", "imported"]
    ids = [row[0] for row in conn.execute("SELECT id FROM metrics WHERE source = ? ORDER BY timestamp", (SOURCE,))]
    system = store.user_id(conn, store.SYSTEM_USERNAME)
    version = conn.execute(
        "INSERT INTO ml_models (model_name, model_type, created_by) VALUES ('m', 'rule_based', ?) RETURNING id",
        (system,),
    ).fetchone()[0]
    version_id = conn.execute(
        "INSERT INTO ml_model_versions (model_id, version, training_timestamp, training_data_start, "
        "training_data_end, training_data_size, model_config, thresholds, status, created_by) "
        "VALUES (?, '1', ?, ?, ?, 1, '{}', '{}', 'ready', ?) RETURNING id",
        (version, T0, T0, T0, system),
    ).fetchone()[0]
    for metrics_id in (ids[2], ids[3], ids[8]):
        conn.execute(
            "INSERT INTO model_predictions (model_version_id, metrics_id, predicted_anomaly, confidence_score, "
            "prediction_time_ms, actual_anomaly, feedback_provided_at, feedback_provided_by) "
            "VALUES (?, ?, 0, 0, 0, 1, ?, ?)",
            (version_id, metrics_id, T0, system),
        )
    assert history.label_times(conn, SOURCE, T0, T0 + 10_000, 5) == [T0 + 2000, T0 + 8000]
    assert history.label_times(conn, "imported", T0, T0 + 10_000, 5) == []
