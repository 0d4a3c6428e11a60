"""Fixtures of the app tests: a seeded database with fixed data, a fixed clock and fixed processes."""

from __future__ import annotations

import asyncio
import inspect
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from scops_tui.config import Settings
from scops_tui.detection import registry, review
from scops_tui.detection.config import DetectorConfig
from scops_tui.recording.processes import ProcessUsage
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord
from scops_tui.tui.app import ScopsApp, create_app

SOURCE = "testhost"
NOW_MS = 1_800_000_000_000
"""The fixed "now" of every app test (2027-01-15 08:00 UTC); the seeded samples end here."""
STEP_MS = 5_000
SAMPLES = 4_000

EPISODES = (
    # (minutes before now, duration in minutes, severity, peak score, status, contributing metrics)
    (300, 4, "low", 0.35, "open", ["disk_io_write", "load_1m"]),
    (240, 6, "medium", 0.52, "resolved", ["memory_usage", "cpu_usage"]),
    (180, 3, "high", 0.71, "acknowledged", ["network_rx", "network_tx"]),
    (120, 5, "critical", 0.93, "open", ["cpu_usage", "load_1m", "memory_usage"]),
    (60, 2, "high", 0.66, "open", ["cpu_usage", "disk_io_read"]),
)
"""Five episodes, oldest first (ids 1..5): the newest (id 5) is the first row of the queue."""

FIXED_PROCESSES = [
    ProcessUsage(pid=4242, name="stress-ng", cpu_percent=97.5, memory_percent=1.2, username="root"),
    ProcessUsage(pid=1001, name="postgres", cpu_percent=12.0, memory_percent=8.5, username="postgres"),
    ProcessUsage(pid=777, name="python3", cpu_percent=3.3, memory_percent=2.1, username="ops"),
]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests in a fresh event loop (no async plugin needed)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**arguments))
    return True


def fixed_processes(limit: int) -> list[ProcessUsage]:
    return FIXED_PROCESSES[:limit]


def _in_episode(ts: int) -> tuple[float, bool]:
    for minutes_before, duration, _severity, peak, _status, _metrics in EPISODES:
        start = NOW_MS - minutes_before * 60_000
        if start <= ts <= start + duration * 60_000:
            return peak, True
    return 0.0, False


def _record(index: int) -> MetricRecord:
    ts = NOW_MS - (SAMPLES - 1 - index) * STEP_MS
    wave = (index % 120) / 120
    score, anomalous = _in_episode(ts)
    return MetricRecord(
        timestamp_ms=ts,
        source=SOURCE,
        cpu_usage=round(90.0 if anomalous else 10.0 + 20.0 * wave, 2),
        memory_usage=round(40.0 + 10.0 * wave, 2),
        disk_usage=55.0,
        load_1m=round(0.5 + wave, 4),
        load_5m=0.6,
        load_15m=0.7,
        disk_io_read=1000 + 10 * (index % 50),
        disk_io_write=5000 + 20 * (index % 70),
        network_rx=20_000 + 100 * (index % 30),
        network_tx=8_000 + 50 * (index % 40),
        response_time=1.5,
        is_anomaly=anomalous,
        anomaly_score=round(score if anomalous else 0.05 + 0.1 * wave, 4),
    )


def seed_database(path: Path) -> None:
    """A database with SAMPLES samples of SOURCE, five episodes and two model versions (v1 deployed)."""
    conn = store.open_database(path)
    try:
        system = store.user_id(conn, store.SYSTEM_USERNAME)
        store.insert_metrics(conn, (_record(i) for i in range(SAMPLES)), created_by=system, created_at=NOW_MS)
        first_ts = NOW_MS - (SAMPLES - 1) * STEP_MS
        with store.transaction(conn):
            v1 = registry.register_statistical(
                conn,
                SOURCE,
                DetectorConfig(),
                threshold=0.5,
                window=(first_ts, first_ts + 600_000),
                rows=120,
                created_by=system,
            )
            conn.execute(
                "UPDATE ml_model_versions SET training_timestamp = ? WHERE id = ?", (first_ts + 600_000, v1.id)
            )
            conn.execute(
                "INSERT INTO ml_model_versions (model_id, version, training_timestamp, training_data_start, "
                "training_data_end, training_data_size, model_config, thresholds, status, is_deployed, "
                "precision_score, recall_score, f1_score, created_by) "
                "VALUES (?, '2', ?, ?, ?, ?, ?, ?, 'ready', 0, 0.8, 0.6, 0.686, ?)",
                (
                    v1.model_id,
                    NOW_MS - 3_600_000,
                    first_ts,
                    NOW_MS - 3_600_000,
                    3_000,
                    json.dumps({"kind": registry.LEARNED, "metrics": list(registry.DETECTED_METRICS)}),
                    json.dumps({"anomaly_score": 0.5}),
                    system,
                ),
            )
            for number, (minutes_before, duration, severity, peak, _status, metrics) in enumerate(EPISODES, 1):
                start = NOW_MS - minutes_before * 60_000
                conn.execute(
                    "INSERT INTO anomaly_predictions (id, timestamp, end_timestamp, source, anomaly_detected, "
                    "severity, confidence_score, peak_score, sample_count, model_name, model_version, "
                    "model_version_id, contributing_metrics, top_processes) "
                    "VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, '1', ?, ?, ?)",
                    (
                        number,
                        start,
                        start + duration * 60_000,
                        SOURCE,
                        severity,
                        peak,
                        peak,
                        duration * 12,
                        registry.model_name_for(SOURCE),
                        v1.id,
                        json.dumps(
                            [{"metric": m, "deviation": round(8.0 - i * 2.5, 2)} for i, m in enumerate(metrics)]
                        ),
                        json.dumps([p.as_json() for p in FIXED_PROCESSES]),
                    ),
                )
        operator = store.operator_username()
        for number, (*_rest, status, _metrics) in enumerate(EPISODES, 1):
            if status == "acknowledged":
                review.acknowledge(conn, number, operator)
            elif status == "resolved":
                review.resolve(conn, number, operator, "disk cleanup job")
    finally:
        conn.close()


@pytest.fixture
def seeded_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A seeded database in the working directory (so screens show the same relative path on every run)."""
    monkeypatch.chdir(tmp_path)
    path = Path("scops.db")
    seed_database(path)
    return path


@pytest.fixture
def settings(seeded_db: Path) -> Settings:
    return Settings(db=seeded_db, source=SOURCE)


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., ScopsApp]:
    """Build the app on the seeded database: no recording, fixed clock, fixed processes, UTC (overridable)."""

    def build(**overrides: object) -> ScopsApp:
        options: dict[str, object] = {
            "record": False,
            "clock": lambda: NOW_MS,
            "process_reader": fixed_processes,
            "time_zone": "utc",
        }
        options.update(overrides)
        return create_app(settings, **options)  # type: ignore[arg-type]

    return build


def episode_row(path: Path, episode_id: int) -> sqlite3.Row:
    """One row of anomaly_predictions, read with a fresh connection."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM anomaly_predictions WHERE id = ?", (episode_id,)).fetchone()
        assert row is not None
        return row
    finally:
        conn.close()
