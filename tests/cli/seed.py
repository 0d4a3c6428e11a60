"""A database with fixed data for the command-line tests, and the installed `scops-tui` command to run on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scops_tui.detection import registry, review
from scops_tui.detection.config import DetectorConfig
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord

_INSTALLED = Path(sys.executable).with_name("scops-tui")
SCOPS_COMMAND = [str(_INSTALLED)] if _INSTALLED.exists() else [sys.executable, "-m", "scops_tui"]
"""The console script pip installed beside this interpreter (the command a user runs)."""

SOURCE = "web-01"
LONG_SOURCE = "a-host-name-far-too-long-for-any-table-column.example.org"
START_MS = 1_767_225_600_000
"""2026-01-01 00:00 UTC: the first sample."""
STEP_MS = 5_000


def run_installed(*args: str, env: dict[str, str], **options: object) -> subprocess.CompletedProcess[str]:
    """Run the installed command with `args` and `env`, capturing its output as text."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*SCOPS_COMMAND, *args], env=env, capture_output=True, text=True, timeout=120, check=False, **options
    )


def record(index: int, source: str = SOURCE, score: float = 0.05) -> MetricRecord:
    """One plain sample, `index` steps after START_MS."""
    return MetricRecord(
        timestamp_ms=START_MS + index * STEP_MS,
        source=source,
        cpu_usage=10.0 + index % 7,
        memory_usage=40.0,
        disk_usage=55.0,
        load_1m=0.5,
        load_5m=0.6,
        load_15m=0.7,
        disk_io_read=1024,
        disk_io_write=4096,
        network_rx=20_000,
        network_tx=8_000,
        response_time=1.5,
        is_anomaly=score >= 0.5,
        anomaly_score=score,
    )


def seed(path: Path, *, samples: int = 100, episodes: int = 4) -> None:
    """`samples` samples of SOURCE, `episodes` episodes (the first acknowledged as a false positive, the second
    resolved), a deployed statistical version of SOURCE and one of LONG_SOURCE."""
    conn = store.open_database(path)
    try:
        system = store.user_id(conn, store.SYSTEM_USERNAME)
        store.insert_metrics(conn, (record(i) for i in range(samples)), created_by=system, created_at=START_MS)
        with store.transaction(conn):
            version = None
            for source in (SOURCE, LONG_SOURCE):
                version = registry.register_statistical(
                    conn,
                    source,
                    DetectorConfig(),
                    threshold=0.5,
                    window=(START_MS, START_MS + samples * STEP_MS),
                    rows=samples,
                    created_by=system,
                )
            assert version is not None
            for number in range(1, episodes + 1):
                start = START_MS + number * 60_000
                conn.execute(
                    "INSERT INTO anomaly_predictions (id, timestamp, end_timestamp, source, anomaly_detected, "
                    "severity, confidence_score, peak_score, sample_count, model_name, model_version, "
                    "model_version_id, contributing_metrics, top_processes) "
                    "VALUES (?, ?, ?, ?, 1, 'high', 0.7, 0.7, 12, ?, '1', ?, ?, '[]')",
                    (
                        number,
                        start,
                        start + 60_000,
                        SOURCE,
                        registry.model_name_for(SOURCE),
                        version.id,
                        json.dumps([{"metric": "cpu_usage", "deviation": 8.0}]),
                    ),
                )
        operator = store.operator_username()
        if episodes >= 1:
            review.give_verdict(conn, 1, operator, confirmed=False)
        if episodes >= 2:
            review.resolve(conn, 2, operator, "a backup job")
    finally:
        conn.close()
