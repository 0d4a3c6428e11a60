"""The recording loop: exact rows from a fake source, batching, stop event, lock, and write failures."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from scops_tui.errors import DatabaseError
from scops_tui.recording.recorder import Recorder
from scops_tui.recording.sampler import CounterReading, HostSampler
from scops_tui.store import database as store
from scops_tui.store.recorder_lock import RecorderLock


class RisingCounters:
    """Each read advances every counter by a fixed step, so every sample's values are known."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self) -> CounterReading:
        n = self.reads
        self.reads += 1
        return CounterReading(
            cpu_busy_seconds=1.0 * n,
            cpu_total_seconds=4.0 * n,
            memory_percent=50.0,
            disk_percent=20.0,
            load=(1.5, 1.0, 0.5),
            disk_read_bytes=0,
            disk_write_bytes=0,
            net_rx_bytes=0,
            net_tx_bytes=0,
        )


def make_recorder(path: Path, **kwargs: object) -> Recorder:
    ticks = iter(range(1_800_000_000_000, 1_900_000_000_000, 1000))
    sampler = HostSampler("fake-host", RisingCounters(), wall_clock=lambda: next(ticks) / 1000)
    return Recorder(path, sampler, **kwargs)  # type: ignore[arg-type]


def rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT timestamp, source, cpu_usage, memory_usage, disk_usage, load_1m, load_5m, load_15m, "
            "disk_io_read, network_tx, is_anomaly, u.username FROM metrics JOIN users u ON u.id = created_by "
            "ORDER BY metrics.id"
        ).fetchall()
    finally:
        conn.close()


def test_fake_source_gives_exact_rows_created_by_system(db_path: Path) -> None:
    recorder = make_recorder(db_path, interval=1.0, flush_interval=60.0)
    stats = recorder.run(threading.Event(), duration=2.0)
    expected = [
        (1_800_000_000_000 + 1000 * i, "fake-host", 2500, 5000, 2000, 15000, 10000, 5000, 0, 0, 0, "system")
        for i in range(3)
    ]
    assert rows(db_path) == expected
    assert stats.samples == stats.written == 3
    # The first sample is written at once; the rest wait for the flush interval or the stop.
    assert stats.flushes == 2
    assert stats.first_write_after is not None


def test_users_system_and_operator_exist_after_the_first_run(db_path: Path) -> None:
    make_recorder(db_path, interval=1.0).run(threading.Event(), duration=0.6)
    conn = sqlite3.connect(db_path)
    names = {row[0]: row[1] for row in conn.execute("SELECT username, role FROM users")}
    conn.close()
    assert names == {"system": "admin", store.operator_username(): "admin"}


def test_stop_event_ends_the_loop_and_flushes_the_buffer(db_path: Path) -> None:
    stop = threading.Event()
    seen: list[int] = []

    def on_sample(record: object) -> None:
        seen.append(1)
        if len(seen) == 2:
            stop.set()

    recorder = make_recorder(db_path, interval=1.0, flush_interval=3600.0, on_sample=on_sample)
    stats = recorder.run(stop)  # no duration: only the stop event ends it
    assert stats.samples == 2
    assert len(rows(db_path)) == 2


def test_a_second_recorder_on_the_same_database_is_refused(db_path: Path) -> None:
    lock = RecorderLock(db_path)
    lock.acquire()
    try:
        with pytest.raises(DatabaseError, match="already recording"):
            make_recorder(db_path).run(threading.Event(), duration=0.6)
        assert RecorderLock(db_path).held_by_other()
    finally:
        lock.release()
    assert not RecorderLock(db_path).held_by_other()


def test_a_locked_database_delays_the_batch_and_loses_no_sample(db_path: Path) -> None:
    store.open_database(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    errors: list[str] = []
    count = 0

    def on_sample(record: object) -> None:
        nonlocal count
        count += 1
        if count == 2:
            blocker.execute("COMMIT")  # release the lock after one failed write

    blocker.execute("BEGIN EXCLUSIVE")
    recorder = make_recorder(
        db_path,
        interval=1.0,
        flush_interval=0.0,
        busy_timeout_ms=50,
        on_sample=on_sample,
        on_error=errors.append,
    )
    stats = recorder.run(threading.Event(), duration=2.0)
    blocker.close()
    assert len(errors) == 1 and "locked" in errors[0]
    assert stats.failed_flushes == 1
    assert stats.written == stats.samples == 3
    assert len(rows(db_path)) == 3


def test_interval_below_one_second_is_refused(db_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1 second"):
        make_recorder(db_path, interval=0.5)


def test_samples_beyond_the_buffer_limit_are_dropped_loudly(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import scops_tui.recording.recorder as recorder_module

    monkeypatch.setattr(recorder_module, "MAX_BUFFERED_SAMPLES", 2)
    store.open_database(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    errors: list[str] = []
    recorder = make_recorder(db_path, interval=1.0, flush_interval=0.0, busy_timeout_ms=20, on_error=errors.append)
    try:
        with pytest.raises(DatabaseError, match="locked"):
            recorder.run(threading.Event(), duration=3.0)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert recorder.stats.samples == 4
    assert recorder.stats.dropped == 2
    assert any("oldest samples dropped" in message for message in errors)


def test_retention_prunes_old_raw_rows_while_recording_and_keeps_their_summary(db_path: Path) -> None:
    from scops_tui.store.records import MetricRecord

    conn = store.open_database(db_path)
    old = [
        MetricRecord(1_000_000 + i * 60_000, "fake-host", 5.0, 5.0, 5.0, 0, 0, 0, 0, 0, 0, 0, 1.0) for i in range(10)
    ]
    store.insert_metrics(conn, old, created_by=store.user_id(conn, "system"), created_at=1_000_000)
    conn.close()
    make_recorder(db_path, interval=1.0, retention_days=30.0).run(threading.Event(), duration=0.6)
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM metrics WHERE timestamp < 2000000000").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 1
    kept = conn.execute("SELECT sum(samples) FROM metrics_rollup WHERE span_ms = 60000 AND bucket_start < 2000000000")
    assert kept.fetchone()[0] == 10
    conn.close()
