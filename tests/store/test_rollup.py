"""The minute and hour rollup: every sample counted once, and wide history windows read from it exactly."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from scops_tui.store import database as store
from scops_tui.store import history, rollup
from scops_tui.store.migrations import apply_migrations
from scops_tui.store.records import MetricRecord

T0 = 1_800_000_000_000 - 1_800_000_000_000 % 3_600_000  # an hour boundary


def records(n: int, start: int = T0, step: int = 5000, seed: int = 1, source: str = "h") -> list[MetricRecord]:
    rng = random.Random(seed)
    return [
        MetricRecord(
            start + i * step,
            source,
            round(rng.uniform(0, 100), 2),
            round(rng.uniform(0, 100), 2),
            50.0,
            round(rng.uniform(0, 4), 4),
            0.5,
            0.5,
            rng.randint(0, 10**6),
            rng.randint(0, 10**6),
            rng.randint(0, 10**5),
            rng.randint(0, 10**5),
            1.0,
            None,
            rng.random() < 0.05,
            round(rng.random(), 4),
        )
        for i in range(n)
    ]


def write(conn: sqlite3.Connection, rows: list[MetricRecord]) -> None:
    store.insert_metrics(conn, rows, created_by=store.user_id(conn, "system"), created_at=T0)


def raw_buckets(conn: sqlite3.Connection, start: int, end: int, buckets: int) -> list[history.HistoryBucket]:
    """The same window read straight from the samples (the path narrow windows take)."""
    original = history.ROLLUP_MIN_WIDTH_MS
    history.ROLLUP_MIN_WIDTH_MS = 10**15
    try:
        return history.load_history(conn, "h", start, end, buckets)
    finally:
        history.ROLLUP_MIN_WIDTH_MS = original


def assert_same(a: list[history.HistoryBucket], b: list[history.HistoryBucket]) -> None:
    assert [(x.start_ms, x.samples, x.anomalous) for x in a] == [(y.start_ms, y.samples, y.anomalous) for y in b]
    for x, y in zip(a, b, strict=True):
        for name in history.CHART_METRICS:
            assert abs(x.averages[name] - y.averages[name]) < 1e-6 * max(1.0, abs(y.averages[name]))
            assert x.maxima[name] == y.maxima[name]
        assert x.max_score == y.max_score


def test_catch_up_counts_every_row_once(conn: sqlite3.Connection) -> None:
    write(conn, records(1000))
    assert rollup.pending(conn) == 1000
    assert rollup.catch_up(conn) == 1000
    assert rollup.catch_up(conn) == 0
    write(conn, records(500, start=T0 + 1000 * 5000, seed=2))
    assert rollup.catch_up(conn) == 500
    total = conn.execute("SELECT sum(samples), sum(cpu_sum) FROM metrics_rollup WHERE span_ms = 60000").fetchone()
    hours = conn.execute("SELECT sum(samples), sum(cpu_sum) FROM metrics_rollup WHERE span_ms = 3600000").fetchone()
    raw = conn.execute("SELECT count(*), sum(cpu_usage) FROM metrics").fetchone()
    assert total == raw
    assert hours == raw


def test_wide_windows_from_the_rollup_equal_the_raw_samples(conn: sqlite3.Connection) -> None:
    write(conn, records(12 * 60 * 6))  # 6 hours at 5 s
    rollup.catch_up(conn)
    start, end = T0, T0 + 6 * 3_600_000
    from_rollup = history.load_history(conn, "h", start, end, 60)  # 6-minute buckets
    assert_same(from_rollup, raw_buckets(conn, start, end, 60))


def test_windows_of_days_read_the_hour_rows_and_equal_the_raw_samples(conn: sqlite3.Connection) -> None:
    write(conn, records(3 * 24 * 60, step=60_000))  # 3 days at 1 min
    rollup.catch_up(conn)
    start, end = T0, T0 + 3 * 86_400_000
    from_hours = history.load_history(conn, "h", start, end, 36)  # 2-hour buckets
    assert len(from_hours) == 36
    assert_same(from_hours, raw_buckets(conn, start, end, 36))


def test_samples_not_yet_rolled_up_are_still_counted(conn: sqlite3.Connection) -> None:
    write(conn, records(720))
    rollup.catch_up(conn)
    write(conn, records(720, start=T0 + 720 * 5000, seed=3))  # one more hour, not caught up
    start, end = T0, T0 + 2 * 3_600_000
    assert_same(history.load_history(conn, "h", start, end, 20), raw_buckets(conn, start, end, 20))


def test_late_rows_of_an_old_minute_are_folded_in(conn: sqlite3.Connection) -> None:
    write(conn, records(120, step=10_000))
    rollup.catch_up(conn)
    write(conn, records(60, start=T0 + 5000, step=10_000, seed=4))  # fills the gaps of the same minutes
    rollup.catch_up(conn)
    assert conn.execute("SELECT sum(samples) FROM metrics_rollup WHERE span_ms = 60000").fetchone()[0] == 180
    assert_same(history.load_history(conn, "h", T0, T0 + 1_200_000, 5), raw_buckets(conn, T0, T0 + 1_200_000, 5))


def test_upgrade_fills_the_rollup_from_existing_samples(db_path: Path) -> None:
    conn = store.connect(db_path)
    apply_migrations(conn, target=4)
    conn.execute(
        "INSERT INTO users (id, username, email, role) VALUES (?, 'system', 'system@h', 'admin')", (b"s" * 16,)
    )
    write(conn, records(300))
    conn.close()
    conn = store.open_database(db_path)
    assert rollup.pending(conn) == 0
    assert conn.execute("SELECT sum(samples) FROM metrics_rollup WHERE span_ms = 3600000").fetchone()[0] == 300
    conn.close()
