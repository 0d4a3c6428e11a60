"""Detection while recording: a CPU burn after a calm period opens an episode, with predictions stored."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scops_tui.detection import review
from scops_tui.detection.detector import Score
from scops_tui.detection.live import DetectionSettings, LiveDetection
from scops_tui.recording.recorder import Recorder
from scops_tui.recording.sampler import CounterReading, HostSampler
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord


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


class ScriptedDetector:
    """Stands in for the scorer: a fixed score per sample, so the test is about episodes, not scoring."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = scores
        self.rows_seen = 0

    def score(self, timestamp_ms: int, values: list[float]) -> Score:
        value = self.scores[self.rows_seen] if self.rows_seen < len(self.scores) else 0.0
        self.rows_seen += 1
        return Score(value=value, contributions=tuple(10.0 * value if i == 0 else 0.0 for i in range(len(values))))


class ScriptedLive:
    """A `LiveDetection` on a real database whose scores are scripted, fed host samples one fake second apart."""

    def __init__(self, db_path: Path, scores: list[float], burn_from: int = 10_000) -> None:
        self.conn = store.open_database(db_path)
        self.system = store.user_id(self.conn, "system")
        self.detection = LiveDetection(
            db_path, "host", self.system, settings=DetectionSettings(train_in_background=False)
        )
        self.detection.start(self.conn)
        self.detection.detector = ScriptedDetector(scores)  # type: ignore[assignment]
        self.fake = FakeTime()
        self.sampler = HostSampler(
            "host",
            CalmThenBurn(burn_from=burn_from),
            wall_clock=lambda: 1_800_000_000 + self.fake.now,
            monotonic=self.fake.clock,
        )
        self.sampler.prime()

    def score(self, count: int) -> list[MetricRecord]:
        """Score the next `count` samples; return them as scored."""
        scored = []
        for _ in range(count):
            self.fake.now += 1.0
            scored.append(self.detection.score(self.sampler.sample()))
        return scored

    def wait_for_processes(self) -> None:
        """Until a top-processes measurement has come back (at most 10 s)."""
        deadline = time.monotonic() + 10
        while self.detection._processes.empty() and time.monotonic() < deadline:
            time.sleep(0.01)

    def write(self, batch: list[MetricRecord]) -> None:
        """Write a batch and its detection rows as the recorder does."""
        with store.transaction(self.conn):
            written = store.write_metrics(self.conn, batch, created_by=self.system, created_at=0)
            self.detection.persist(self.conn, written.first_id)
        self.detection.after_commit()


def test_an_episode_that_closes_within_one_batch_still_gets_its_top_processes(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scops_tui.recording import processes

    measured = [processes.ProcessUsage(4242, "stress-ng-cpu", 198.5, 0.1, "root")]
    monkeypatch.setattr(processes, "top_processes", lambda limit=10, window=0.5: measured)
    # Two flagged samples (the shortest episode at 1 s), then quiet: the episode opens and closes before
    # the batch is written.
    live = ScriptedLive(db_path, [0.0] * 5 + [0.9, 0.9] + [0.0] * 13)
    batch = live.score(20)
    assert live.detection.grouper.current is None, "the episode is already closed"
    live.wait_for_processes()
    live.write(batch)
    (episode,) = review.list_episodes(live.conn, "all")
    assert episode.samples == 2
    assert episode.top_processes == [p.as_json() for p in measured]
    live.conn.close()


def test_top_processes_measured_after_the_episode_row_was_written_still_reach_it(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scops_tui.recording import processes

    release = threading.Event()
    measured = [processes.ProcessUsage(7, "dd", 3.0, 0.5, "root")]

    def slow(limit: int = 10, window: float = 0.5) -> list[processes.ProcessUsage]:
        release.wait(10)
        return measured

    monkeypatch.setattr(processes, "top_processes", slow)
    live = ScriptedLive(db_path, [0.9, 0.9] + [0.0] * 28)
    for batch_number in range(3):  # three batches of 10; the measurement comes back only before the last one
        if batch_number == 2:
            release.set()
            live.wait_for_processes()
        live.write(live.score(10))
    (episode,) = review.list_episodes(live.conn, "all")
    assert episode.end_timestamp == episode.timestamp + 1000  # a two-sample episode, closed in the first batch
    assert episode.top_processes == [p.as_json() for p in measured]
    live.conn.close()


def count_scans(monkeypatch: pytest.MonkeyPatch, measured: list[Any]) -> list[int]:
    """Replace the top-processes scan by one that returns `measured`; each scan appends to the list returned."""
    from scops_tui.recording import processes

    calls: list[int] = []

    def top(limit: int = 10, window: float = 0.5) -> list[Any]:
        calls.append(1)
        return measured

    monkeypatch.setattr(processes, "top_processes", top)
    return calls


def test_top_processes_are_measured_at_the_onset_before_the_episode_is_confirmed(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scops_tui.recording import processes

    measured = [processes.ProcessUsage(99, "burner", 100.0, 0.1, "root")]
    calls = count_scans(monkeypatch, measured)
    live = ScriptedLive(db_path, [0.0] * 5 + [0.9, 0.9, 0.9] + [0.0] * 12)
    live.score(6)  # five calm samples, then the onset
    assert live.detection.grouper.current is None, "one abnormal sample is not yet an episode"
    live.wait_for_processes()
    assert calls == [1], "the measurement starts at the onset"
    live.score(14)
    assert calls == [1], "measured once per onset"
    live.conn.close()


def test_onsets_seconds_apart_share_one_process_scan(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scops_tui.recording import processes

    measured = [processes.ProcessUsage(77, "indexer", 55.0, 0.1, "root")]
    calls = count_scans(monkeypatch, measured)
    # A blip at 5 s (never an episode), an episode 7 s later, and another 22 s after that, all led by the
    # CPU, busy at 97 % throughout.
    scores = [0.0] * 5 + [0.9] + [0.0] * 6 + [0.9, 0.9] + [0.0] * 20 + [0.9, 0.9] + [0.0] * 8
    live = ScriptedLive(db_path, scores, burn_from=0)
    batch = live.score(22)
    live.wait_for_processes()
    live.write(batch)
    assert calls == [1], "the episode 7 s after the blip reuses the blip's scan"
    batch = live.score(len(scores) - 22)
    live.wait_for_processes()
    live.write(batch)
    assert calls == [1, 1], "an onset 20 s later is measured anew"
    episodes = review.list_episodes(live.conn, "all")
    assert len(episodes) == 2
    assert all(e.top_processes == [p.as_json() for p in measured] for e in episodes)
    live.conn.close()


def test_a_change_led_by_other_metrics_is_scanned_anew(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_scans(monkeypatch, [])
    # The CPU burns from the 8th sample on: the onset at 5 s is led by a CPU below its median, the one
    # at 12 s by a CPU above it. Not the same change: two scans although only 7 s apart.
    scores = [0.0] * 5 + [0.9] + [0.0] * 6 + [0.9, 0.9] + [0.0] * 6
    live = ScriptedLive(db_path, scores, burn_from=8)
    live.score(len(scores))
    live.wait_for_processes()
    assert calls == [1, 1]
    live.conn.close()
