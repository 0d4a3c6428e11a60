"""`scops-tui alerts test` and `scops-tui alerts status [--json]` through the real command line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scops_tui.alerts.sender import AlertSender
from tests.alerts.helpers import T0, EpisodeWriter, FakeClock, Receiver, fields_of, free_port, settings, write_config


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scops_tui", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def test_alerts_test_reaches_every_channel_and_says_so(scops_home: Path, receiver: Receiver, tmp_path: Path) -> None:
    got = tmp_path / "stdin.json"
    script = tmp_path / "page-me.py"
    script.write_text(f"import sys, pathlib\npathlib.Path({str(got)!r}).write_text(sys.stdin.read())\n")
    write_config(scops_home, [receiver.url], command=f"{sys.executable} {script}")
    result = run_cli("alerts", "test")
    assert result.returncode == 0, result.stderr
    assert [line.rsplit(None, 1) for line in result.stdout.splitlines()] == [
        [f"json://127.0.0.1:{receiver.port}/***", "ok"],
        [f"command {sys.executable} ***", "ok"],
    ]
    [post] = receiver.wait_for(1)
    assert post["title"].startswith("scops-tui: test alert from ")
    assert "host" in fields_of(post)
    assert json.loads(got.read_text())["alert"] == "test"


def test_alerts_test_fails_when_a_channel_fails(scops_home: Path, receiver: Receiver) -> None:
    dead = f"json://127.0.0.1:{free_port()}/hook"
    write_config(scops_home, [receiver.url, dead, "bogus://nothing"])
    result = run_cli("alerts", "test")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].endswith("  ok")
    assert lines[1].startswith(f"json://127.0.0.1:{dead.split(':')[2].split('/')[0]}/***")
    assert " failed: " in lines[1]
    assert "Connection" in lines[1]
    assert lines[2].startswith("bogus://***")
    assert lines[2].endswith("  failed: apprise does not understand this URL (unknown scheme or a missing part)")
    assert result.stderr == "scops-tui: error: 2 of 3 alert channels failed\n"
    assert len(receiver.wait_for(1)) == 1


def test_alerts_test_without_channels_is_one_error_line(scops_home: Path) -> None:
    result = run_cli("alerts", "test")
    assert result.returncode == 2  # a configuration error, like any other
    assert result.stderr.startswith("scops-tui: error: no alert channel is configured: add urls = [...]")
    assert result.stderr.count("\n") == 1


def test_alerts_status_json_reports_channels_pending_and_failed(scops_home: Path, receiver: Receiver) -> None:
    from scops_tui.store import database as store

    dead = f"json://127.0.0.1:{free_port()}/hook?token=S3CRET"
    write_config(scops_home, [receiver.url, dead])
    db = scops_home / "scops.db"
    conn = store.open_database(db)
    try:
        clock = FakeClock()
        sender = AlertSender(db, settings([receiver.url, dead]), clock=clock, process_wait_ms=0)
        episode = EpisodeWriter(conn, sender.outbox).open(T0, 0.7)
        sender.deliver_due(conn)
    finally:
        conn.close()
    result = run_cli("alerts", "status", "--json")
    assert result.returncode == 0, result.stderr
    assert "S3CRET" not in result.stdout
    report = json.loads(result.stdout)
    assert report["enabled"] is True and report["min_severity"] == "medium"
    good, bad = report["channels"]
    assert good["channel"] == f"json://127.0.0.1:{receiver.port}/***"
    assert good["last_success_at"] == "2026-11-30T00:53:20.000Z" and good["last_error"] is None
    assert bad["channel"] == dead.split("/hook")[0] + "/***" and bad["last_success_at"] is None
    assert "Connection" in bad["last_error"]
    [pending] = report["pending"]
    assert (pending["episode_id"], pending["kind"], pending["severity"], pending["attempts"]) == (
        episode,
        "opened",
        "high",
        1,
    )
    assert report["failed"] == [] and report["failed_total"] == 0 and report["sent_total"] == 0
    text = run_cli("alerts", "status")
    assert text.returncode == 0
    assert f"episode {episode}: opened high" in text.stdout and "pending: 1" in text.stdout
    assert "S3CRET" not in text.stdout


def test_alerts_status_on_a_database_never_alerted(scops_home: Path, conn: sqlite3.Connection, db_path: Path) -> None:
    result = run_cli("--db", str(db_path), "alerts", "status", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "enabled": False,
        "min_severity": "medium",
        "cooldown_minutes": 15.0,
        "channels": [],
        "pending": [],
        "failed": [],
        "failed_total": 0,
        "sent_total": 0,
    }


def test_alerts_status_on_a_database_from_before_alerts_says_to_upgrade(scops_home: Path, db_path: Path) -> None:
    from scops_tui.store import database as store
    from scops_tui.store.migrations import apply_migrations

    conn = store.connect(db_path)
    apply_migrations(conn, target=5)
    conn.close()
    result = run_cli("--db", str(db_path), "alerts", "status")
    assert result.returncode == 1
    assert result.stderr == (
        f"scops-tui: error: database {db_path} is at schema version 5 (current: 6): it has no alert outbox yet; "
        "run `scops-tui db upgrade` (a recorder does it when it starts)\n"
    )
