"""The installed app in a real terminal (tmux): open, go to the queue, acknowledge, quit, check the database."""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.tui.conftest import SOURCE, seed_database

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: no real terminal to drive")

TIMEOUT = 30.0
INSTALLED = Path(sys.executable).with_name("scops-tui")
"""The console script pip installed beside this interpreter: the app as a user starts it."""


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Run tmux commands on a private server (its own socket), killed afterwards."""
    socket = f"scops-test-{os.getpid()}-{tmp_path.name}"

    def run(*args: str) -> str:
        result = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=False)
        return result.stdout

    yield run
    run("kill-server")


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def metric_rows(path: Path) -> int:
    """Rows in `metrics` (0 while the file or its tables do not exist yet), read through SQLite."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM metrics").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def acknowledged(path: Path, episode_id: int) -> bool:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT acknowledged FROM anomaly_predictions WHERE id = ?", (episode_id,)).fetchone()
    finally:
        conn.close()
    return bool(row and row[0])


def test_acknowledge_in_a_real_terminal(tmp_path: Path, tmux: Callable[..., str], scops_home: Path) -> None:
    db = tmp_path / "terminal.db"
    seed_database(db)
    status_file = tmp_path / "exit-status"
    command = (
        # COLUMNS/LINES (set by some test runners) would override the size of the tmux window.
        f"env -u COLUMNS -u LINES SCOPS_HOME={shlex.quote(str(scops_home))} "
        f"{shlex.quote(str(INSTALLED))} --db {shlex.quote(str(db))} tui --source {SOURCE} --no-record; "
        f"echo $? > {shlex.quote(str(status_file))}"
    )
    tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "app")

    poll(lambda: "Dashboard" in screen() and "open anomalies: 3" in screen(), "the dashboard")
    tmux("send-keys", "-t", "app", "3")
    poll(lambda: "status: open" in screen() and "critical" in screen(), "the anomalies queue")
    assert not acknowledged(db, 5)
    tmux("send-keys", "-t", "app", "a")
    poll(lambda: acknowledged(db, 5), "the acknowledgement in the database")
    tmux("send-keys", "-t", "app", "q")
    poll(status_file.exists, "the app to exit")
    poll(lambda: status_file.read_text().strip() != "", "the exit status")
    assert status_file.read_text().strip() == "0"
    assert acknowledged(db, 5)
    assert not acknowledged(db, 4)


def test_plain_scops_tui_opens_the_app_and_records_until_q(
    tmp_path: Path, tmux: Callable[..., str], scops_home: Path
) -> None:
    db = tmp_path / "fresh.db"
    status_file = tmp_path / "exit-status"
    command = (
        f"env -u COLUMNS -u LINES SCOPS_HOME={shlex.quote(str(scops_home))} SCOPS_FLUSH_INTERVAL=0 "
        f"{shlex.quote(str(INSTALLED))} --db {shlex.quote(str(db))}; echo $? > {shlex.quote(str(status_file))}"
    )
    tmux("new-session", "-d", "-s", "plain", "-x", "120", "-y", "40", command)

    poll(lambda: "Dashboard" in tmux("capture-pane", "-p", "-t", "plain"), "the dashboard")
    poll(lambda: metric_rows(db) >= 2, "samples recorded while the app is open")
    tmux("send-keys", "-t", "plain", "q")
    poll(lambda: status_file.exists() and status_file.read_text().strip() != "", "the app to exit")
    assert status_file.read_text().strip() == "0"
    check = subprocess.run(
        [str(INSTALLED), "--db", str(db), "db", "check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr


def test_commands_in_another_terminal_beside_the_recording_app_corrupt_nothing(
    tmp_path: Path, tmux: Callable[..., str], scops_home: Path
) -> None:
    # Issue 9's reproduction: the app open (recording), `anomalies list` and friends run from another terminal.
    db = tmp_path / "shared.db"
    status_file = tmp_path / "exit-status"
    command = (
        f"env -u COLUMNS -u LINES SCOPS_HOME={shlex.quote(str(scops_home))} SCOPS_FLUSH_INTERVAL=0 "
        f"SCOPS_INTERVAL=1 {shlex.quote(str(INSTALLED))} --db {shlex.quote(str(db))}; "
        f"echo $? > {shlex.quote(str(status_file))}"
    )
    tmux("new-session", "-d", "-s", "rec", "-x", "120", "-y", "40", command)

    poll(lambda: "Dashboard" in tmux("capture-pane", "-p", "-t", "rec"), "the dashboard")
    poll(lambda: db.exists() and metric_rows(db) >= 1, "the first sample")
    vanished = []
    seen = 0
    for command_line in (["anomalies", "list"], ["db", "status"], ["export", "metrics", "--format", "jsonl"]) * 4:
        result = subprocess.run(
            [str(INSTALLED), "--db", str(db), *command_line], capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == 0, result.stderr
        vanished += [suffix for suffix in ("-wal", "-shm") if not Path(f"{db}{suffix}").exists()]
        seen = max(seen, metric_rows(db))
    screen = tmux("capture-pane", "-p", "-t", "rec")
    assert "disk I/O error" not in screen and "malformed" not in screen, screen
    tmux("send-keys", "-t", "rec", "q")
    poll(lambda: status_file.exists() and status_file.read_text().strip() != "", "the app to exit")
    assert status_file.read_text().strip() == "0"
    assert vanished == []
    check = subprocess.run(
        [str(INSTALLED), "--db", str(db), "db", "check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    assert metric_rows(db) >= seen > 0


def test_80_by_24_shows_the_status_parts_and_the_keys(
    tmp_path: Path, tmux: Callable[..., str], scops_home: Path
) -> None:
    db = tmp_path / "small.db"
    seed_database(db)
    status_file = tmp_path / "exit-status"
    command = (
        f"env -u COLUMNS -u LINES SCOPS_HOME={shlex.quote(str(scops_home))} "
        f"{shlex.quote(str(INSTALLED))} --db {shlex.quote(str(db))} tui --source {SOURCE} --no-record; "
        f"echo $? > {shlex.quote(str(status_file))}"
    )
    tmux("new-session", "-d", "-s", "small", "-x", "80", "-y", "24", command)

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "small")

    poll(lambda: "open anomalies: 3" in screen() and "sync: not configured" in screen(), "the status line")
    footer = screen().rstrip("\n").splitlines()[-1]
    assert "? Help" in footer and "q Quit" in footer and "Extras" in footer, footer
    tmux("send-keys", "-t", "small", "3")
    poll(lambda: "hidden at this width" in screen() and "top processes" in screen(), "the queue with its preview")
    tmux("send-keys", "-t", "small", "q")
    poll(lambda: status_file.exists() and status_file.read_text().strip() != "", "the app to exit")
    assert status_file.read_text().strip() == "0"


def test_a_bad_keys_table_stops_the_app_with_one_line(tmp_path: Path, scops_home: Path) -> None:
    (scops_home / "config.toml").write_text('[keys]\n"anomalies.acknowledge" = "enter"\n', encoding="utf-8")
    db = tmp_path / "keys.db"
    seed_database(db)
    result = subprocess.run(
        [str(INSTALLED), "--db", str(db), "tui", "--no-record"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "SCOPS_HOME": str(scops_home)},
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scops-tui: error: "), result.stderr
    assert "clashes with anomalies.details" in lines[0] and "Traceback" not in result.stderr
