"""Detection while recording: a CPU burn after a calm period opens an episode, with predictions stored."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from pathlib import Path

import pytest

from scops_tui.detection import review
from scops_tui.detection.live import DetectionSettings, LiveDetection
from scops_tui.recording.recorder import Recorder
from scops_tui.recording.sampler import CounterReading, HostSampler
from scops_tui.store import database as store


class CalmThenBurn:
    """A host idling at a few percent CPU that, from sample `burn_from` on, burns every core."""

    def __init__(self, burn_from: int, seed: int = 3) -> None:
        self.burn_from = burn_from
        self.reads = 0
        self.busy = 0.0
        self.total = 0.0
        self.rng = random.Random(seed)

    def read(self) -> CounterReading:
        n = self.reads
        self.reads += 1
        share = 0.97 if n > self.burn_from else 0.03 + 0.02 * self.rng.random()
        self.total += 2.0
        self.busy += 2.0 * share
        return CounterReading(
            cpu_busy_seconds=self.busy,
            cpu_total_seconds=self.total,
            memory_percent=30.0 + self.rng.random(),
            disk_percent=50.0,
            load=(0.2 + 0.05 * self.rng.random(), 0.2, 0.2),
            disk_read_bytes=1000 * n,
            disk_write_bytes=2000 * n + self.rng.randint(0, 500),
            net_rx_bytes=500 * n + self.rng.randint(0, 200),
            net_tx_bytes=300 * n,
        )


class FakeTime:
    """A monotonic clock that the recorder's waits move forward instantly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        self.now += seconds
        return event.is_set()


def record_fake(db_path: Path, counters: CalmThenBurn, seconds: float, **settings: object) -> Recorder:
    fake = FakeTime()
    sampler = HostSampler("burner", counters, wall_clock=lambda: 1_800_000_000 + fake.now, monotonic=fake.clock)
    recorder = Recorder(
        db_path,
        sampler,
        interval=1.0,
        flush_interval=10.0,
        detection=DetectionSettings(train_in_background=False, capture_processes=False, **settings),  # type: ignore[arg-type]
        clock=fake.clock,
        wait=fake.wait,
    )
    recorder.run(threading.Event(), duration=seconds)
    return recorder


def test_cpu_burn_after_a_calm_period_opens_an_episode(db_path: Path) -> None:
    record_fake(db_path, CalmThenBurn(burn_from=300), seconds=330)
    conn = store.open_database(db_path)
    episodes = review.list_episodes(conn, "open")
    assert len(episodes) == 1, [e.as_json() for e in episodes]
    episode = episodes[0]
    assert episode.contributing_metrics[0]["metric"] == "cpu_usage"
    assert episode.severity in ("medium", "high", "critical")
    assert episode.model_name == "detector@burner"
    burn_start = conn.execute("SELECT min(timestamp) FROM metrics WHERE cpu_usage > 5000").fetchone()[0]
    assert burn_start <= episode.timestamp <= burn_start + 5000
    calm_flags = conn.execute("SELECT count(*) FROM metrics WHERE is_anomaly = 1 AND cpu_usage < 1000").fetchone()[0]
    assert calm_flags <= 3
    flagged = conn.execute(
        "SELECT m.cpu_usage, m.anomaly_score, p.confidence_score, p.model_features FROM model_predictions p "
        "JOIN metrics m ON m.id = p.metrics_id ORDER BY m.id"
    ).fetchall()
    assert flagged, "every flagged sample has a prediction row"
    burning = [row for row in flagged if row[0] > 5000]
    assert burning and all(abs(row[1] / 10000 - row[2]) < 1e-3 for row in burning)
    assert json.loads(burning[0][3])["cpu_usage"] > 50
    scored = conn.execute("SELECT count(*) FROM metrics WHERE anomaly_score IS NULL").fetchone()[0]
    assert scored == 0, "every recorded row carries a score"
    conn.close()


def test_calm_recording_opens_no_episode_and_registers_the_statistical_version(db_path: Path) -> None:
    record_fake(db_path, CalmThenBurn(burn_from=10_000), seconds=200)
    conn = store.open_database(db_path)
    assert review.list_episodes(conn, "all") == []
    versions = conn.execute("SELECT version, status FROM ml_model_versions").fetchall()
    assert versions == [("1", "deployed")]
    conn.close()


def test_restart_replays_history_instead_of_warming_up_again(db_path: Path) -> None:
    record_fake(db_path, CalmThenBurn(burn_from=10_000), seconds=120)
    conn = store.open_database(db_path)
    detection = LiveDetection(db_path, "burner", store.user_id(conn, "system"))
    detection.start(conn)
    assert detection.detector.rows_seen == 121
    assert detection.version is not None and detection.version.version == "1"
    conn.close()


def test_a_refused_detection_row_never_costs_the_samples(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> int:
        raise sqlite3.IntegrityError("CHECK constraint failed: simulated")

    monkeypatch.setattr(review, "open_episode", refuse)
    recorder = record_fake(db_path, CalmThenBurn(burn_from=300), seconds=330)
    conn = store.open_database(db_path)
    assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == recorder.stats.samples == 331
    assert any("not stored" in error for error in recorder.stats.errors)
    conn.close()
