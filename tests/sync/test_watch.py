"""`sync --watch`: retries with backoff, syncs until stopped."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from scops_tui.store import database as store
from scops_tui.sync.target import resolve_target
from scops_tui.sync.watch import watch_sync
from tests.pg import T0, add_metrics, fill


def test_watch_retries_with_backoff_and_stops_on_the_event(db_path: Path) -> None:
    store.open_database(db_path).close()
    stop = threading.Event()
    waits: list[float] = []

    def failed(message: str, wait: float) -> None:
        assert "hunter2" not in message
        waits.append(wait)
        if len(waits) == 4:
            stop.set()

    outcome = watch_sync(db_path, resolve_target("postgresql://u:hunter2@127.0.0.1:1/x"), stop, on_error=failed)
    assert outcome.runs == 0 and outcome.failures == 4 and len(waits) == 4
    assert outcome.last_error is not None and "cannot reach" in outcome.last_error
    assert 0.125 <= waits[0] <= 0.25 and 1.0 <= waits[3] <= 2.0


def test_watch_syncs_until_stopped(conn: sqlite3.Connection, db_path: Path, pg_server: str) -> None:
    fill(conn, metrics=10)
    stop = threading.Event()
    reports: list[Any] = []

    def reported(report: Any) -> None:
        reports.append(report)
        if len(reports) == 1:
            add_metrics(conn, 5, start=T0 + 3_600_000)
        else:
            stop.set()

    outcome = watch_sync(db_path, resolve_target(pg_server), stop, interval=0.05, on_report=reported)
    assert (outcome.runs, outcome.failures, outcome.last_error) == (2, 0, None)
    assert reports[1].tables["metrics"].inserted == 5
