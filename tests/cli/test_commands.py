"""The command line as a user meets it: real processes, real signals, one-line errors and no tracebacks."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from scops_tui.cli.main import main
from scops_tui.store import database as store

SCOPS = [sys.executable, "-m", "scops_tui"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCOPS, *args], capture_output=True, text=True, timeout=120, env=env, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("scops-tui: error: ")
    assert fragment in lines[0], lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def count_metrics(path: Path) -> int:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM metrics").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_for_rows(path: Path, n: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (count := count_metrics(path)) >= n:
            return count
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} rows in {path} after {timeout} s")


@pytest.fixture
def recording(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A real `scops-tui record --interval 1` process writing every sample at once."""
    env = {**os.environ, "SCOPS_FLUSH_INTERVAL": "0"}
    process = subprocess.Popen(
        [*SCOPS, "--db", str(db_path), "record", "--interval", "1", "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=30)


def test_version_and_help() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "scops-tui" in result.output
    help_text = CliRunner().invoke(main, ["db", "--help"]).output
    for command in ("init", "status", "upgrade", "check", "backup", "restore", "prune"):
        assert command in help_text


def test_record_then_status_json(db_path: Path) -> None:
    result = run_cli("--db", str(db_path), "record", "--interval", "1", "--duration", "1.2", "--source", "cli-host")
    assert result.returncode == 0, result.stderr
    status = json.loads(run_cli("--db", str(db_path), "db", "status", "--json").stdout)
    assert status["path"] == str(db_path)
    assert status["schema_version"] >= 2
    assert status["tables"]["metrics"] == 2
    assert status["tables"]["users"] == 2
    assert status["size_bytes"] > 0
    conn = sqlite3.connect(db_path)
    assert {row[0] for row in conn.execute("SELECT DISTINCT source FROM metrics")} == {"cli-host"}
    conn.close()


def test_sigterm_flushes_and_exits_zero(recording: subprocess.Popen[str], db_path: Path) -> None:
    wait_for_rows(db_path, 2)
    recording.send_signal(signal.SIGTERM)
    assert recording.wait(timeout=30) == 0
    assert "Traceback" not in (recording.stderr.read() if recording.stderr else "")


def test_sigint_flushes_buffered_samples_and_exits_zero(db_path: Path) -> None:
    process = subprocess.Popen(
        [*SCOPS, "--db", str(db_path), "record", "--interval", "1"],
        env={**os.environ, "SCOPS_FLUSH_INTERVAL": "3600"},
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_rows(db_path, 1)  # the first sample is written at once; the next ones stay buffered
    time.sleep(3.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    # Every sample taken is on disk: the buffered ones were flushed by the SIGINT (the recorder says how many).
    taken = int(stderr.rsplit("recorded ", 1)[1].split()[0])
    assert taken >= 2
    assert count_metrics(db_path) == taken


def test_sigkill_mid_run_leaves_a_sound_database(recording: subprocess.Popen[str], db_path: Path) -> None:
    wait_for_rows(db_path, 3)
    recording.send_signal(signal.SIGKILL)
    recording.wait(timeout=30)
    check = run_cli("--db", str(db_path), "db", "check")
    assert check.returncode == 0, check.stderr
    assert "ok" in check.stdout
    assert count_metrics(db_path) >= 3


def test_backup_during_a_live_recording(recording: subprocess.Popen[str], db_path: Path, tmp_path: Path) -> None:
    wait_for_rows(db_path, 2)
    target = tmp_path / "live-backup.db"
    result = run_cli("--db", str(db_path), "db", "backup", str(target))
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stderr and result.stdout.strip() == str(target)
    assert recording.poll() is None, "the recorder must keep running during the backup"
    check = run_cli("--db", str(target), "db", "check")
    assert check.returncode == 0, check.stderr
    assert count_metrics(target) >= 2
    wait_for_rows(db_path, count_metrics(target) + 1)  # the recorder went on writing afterwards


def test_restore_refusal_is_one_line_and_changes_nothing(db_path: Path, tmp_path: Path) -> None:
    assert run_cli("--db", str(db_path), "record", "--interval", "1", "--duration", "0.6").returncode == 0
    backup = tmp_path / "b.db"
    assert run_cli("--db", str(db_path), "db", "backup", str(backup)).returncode == 0
    assert run_cli("--db", str(db_path), "record", "--interval", "1", "--duration", "0.6").returncode == 0
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = digest(db_path)
    assert_one_line_error(run_cli("--db", str(db_path), "db", "restore", str(backup)), "newer than the backup")
    assert digest(db_path) == before
    forced = run_cli("--db", str(db_path), "db", "restore", str(backup), "--force")
    assert forced.returncode == 0, forced.stderr
    assert count_metrics(db_path) == count_metrics(backup)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["record", "--interval", "0.5"], "0.5"),
        (["record", "--interval", "abc"], "abc"),
        (["record", "--duration", "-3"], "-3"),
        (["db", "prune", "--older-than", "0"], "positive"),
        (["db", "prune", "--older-than", "soon"], "soon"),
    ],
)
def test_bad_option_values_are_refused_without_traceback(db_path: Path, args: list[str], fragment: str) -> None:
    store.open_database(db_path).close()
    before = count_metrics(db_path)
    result = run_cli("--db", str(db_path), *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr
    assert count_metrics(db_path) == before


def test_bad_environment_value_is_one_line(db_path: Path) -> None:
    env = {**os.environ, "SCOPS_INTERVAL": "fast"}
    assert_one_line_error(run_cli("--db", str(db_path), "record", "--duration", "1", env=env), "SCOPS_INTERVAL")
    assert not db_path.exists()


@pytest.mark.parametrize(
    "command", [["db", "status"], ["db", "check"], ["db", "upgrade"], ["record", "--duration", "1"]]
)
def test_non_sqlite_file_is_refused_and_left_unchanged(tmp_path: Path, command: list[str]) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("shopping list\n" * 50)
    before = digest(bogus)
    assert_one_line_error(run_cli("--db", str(bogus), *command), "not an SQLite database")
    assert digest(bogus) == before


def test_missing_database_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "absent.db"
    for command in (["db", "status"], ["db", "check"], ["db", "prune", "--older-than", "3"]):
        assert_one_line_error(run_cli("--db", str(missing), *command), "no database")
    assert not missing.exists()


def test_database_from_a_newer_schema_is_refused_unchanged(db_path: Path) -> None:
    store.open_database(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 0)")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = digest(db_path)
    for command in (
        ["db", "status"],
        ["db", "upgrade"],
        ["record", "--duration", "1"],
        ["db", "prune", "--older-than", "1"],
    ):
        assert_one_line_error(run_cli("--db", str(db_path), *command), "newer than this program knows")
    assert digest(db_path) == before


def test_locked_database_past_the_busy_timeout_is_one_line(db_path: Path) -> None:
    store.open_database(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        env = {**os.environ, "SCOPS_BUSY_TIMEOUT_MS": "200"}
        result = run_cli("--db", str(db_path), "db", "prune", "--older-than", "1", env=env)
        assert_one_line_error(result, "locked")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_upgrade_of_a_current_database_says_so(db_path: Path) -> None:
    store.open_database(db_path).close()
    result = run_cli("--db", str(db_path), "db", "upgrade")
    assert result.returncode == 0
    assert "already at schema version" in result.stdout


def test_check_exits_one_on_a_problem(db_path: Path) -> None:
    conn = store.open_database(db_path)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute(
        "INSERT INTO metrics (timestamp, source, cpu_usage, memory_usage, disk_usage, load_1m, load_5m, "
        "disk_io_read, disk_io_write, network_rx, network_tx, response_time, created_by) "
        "VALUES (1, 'h', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ?)",
        (b"\x01" * 16,),
    )
    conn.close()
    result = run_cli("--db", str(db_path), "db", "check")
    assert result.returncode == 1
    assert "foreign key" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root, as in CI); skipped with the reason where mounting is not allowed."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {result.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_disk_is_one_line_and_loses_nothing(tiny_filesystem: Path) -> None:
    db = tiny_filesystem / "full.db"
    conn = store.open_database(db)
    system = store.user_id(conn, "system")
    from scops_tui.store.records import MetricRecord

    records = [MetricRecord(1_000 + i, "h", 1.0, 2.0, 3.0, 0.1, 0.2, 0.3, 1, 2, 3, 4, 0.5) for i in range(2000)]
    store.insert_metrics(conn, records, created_by=system, created_at=1)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = count_metrics(db)
    assert before == 2000
    filler = tiny_filesystem / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 512):
            pass
    except OSError:
        pass  # the disk is now full
    finally:
        os.close(fd)
    result = run_cli("--db", str(db), "db", "prune", "--older-than", "1")
    assert_one_line_error(result, "disk is full")
    filler.unlink()
    assert count_metrics(db) == before


def test_prune_uses_the_retention_setting_or_says_what_is_missing(db_path: Path) -> None:
    store.open_database(db_path).close()
    assert_one_line_error(run_cli("--db", str(db_path), "db", "prune"), "retention_days")
    result = subprocess.run(
        [*SCOPS, "--db", str(db_path), "db", "prune", "--dry-run"],
        capture_output=True,
        text=True,
        env={**os.environ, "SCOPS_RETENTION_DAYS": "7"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "would delete" in result.stdout
