"""The bounded multi-process torture (bench/torture.py): the recording app against CLI commands, with kills.

About 45 s: the app process (recorder thread, reader threads, extra writes), `record` refused by the lock,
exports, `anomalies list --json`, verified `db backup`s and `sync --watch` to the test PostgreSQL server,
with the app, backups and syncs SIGKILLed in between. Nothing may be corrupt, lost or unexpected.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import pg

TORTURE = Path(__file__).resolve().parents[1] / "bench" / "torture.py"


def test_torture_of_one_database_by_many_processes_loses_and_corrupts_nothing() -> None:
    pg._server_or_fail().close()  # in CI an unreachable server fails the test; elsewhere it skips
    result = subprocess.run(
        [sys.executable, str(TORTURE), "--seconds", "45", "--json", "--pg-url", pg.ADMIN_URL],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.stdout.strip(), result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["errors"] == [], figures
    assert figures["wal_vanished"] == 0
    assert figures["corrupt"] == 0
    assert figures["rows_lost"] == 0
    assert figures["burst_rows_stored"] >= figures["burst_rows_committed"] > 0
    assert figures["samples_stored"] > 0
    assert figures["app_kills"] > 0
    assert figures["backups_verified"] > 0
    assert figures["commands"].get("record (refused)", 0) > 0
    assert figures["commands"].get("anomalies list --json", 0) > 0
    assert figures["commands"].get("export", 0) > 0
    assert figures["server_rows"] == figures["local_rows"] > 0
    assert result.returncode == 0
