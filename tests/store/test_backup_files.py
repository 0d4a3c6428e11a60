"""Backups create their files safely: private modes, unpredictable temporary names, nothing left behind."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scops_tui.errors import DatabaseError
from scops_tui.store import maintenance


def dead_pid() -> int:
    """The PID of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_backup_is_private_whatever_the_umask(conn: sqlite3.Connection, db_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "new-folder" / "copy.db"
    previous = os.umask(0)
    try:
        maintenance.backup_database(db_path, target)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert maintenance.verify_backup(target)[0].ok


def test_a_killed_backups_leftovers_are_removed_by_the_next_backup(
    conn: sqlite3.Connection, db_path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "copy.db"
    pid = dead_pid()
    leftover = tmp_path / f".copy.db.partial-{pid}-0123456789abcdef"
    leftover.write_bytes(b"x" * 4096)
    journal = Path(f"{leftover}-journal")
    journal.write_bytes(b"y" * 512)
    old_style = tmp_path / f".copy.db.partial-{pid}"
    old_style.write_bytes(b"z")
    live = tmp_path / f".copy.db.partial-{os.getpid()}-fedcba9876543210"
    live.write_bytes(b"in progress")  # a backup of a live process is never touched
    unrelated = tmp_path / ".other.db.partial-1"
    unrelated.write_bytes(b"not ours")
    maintenance.backup_database(db_path, target)
    assert not leftover.exists()
    assert not journal.exists()
    assert not old_style.exists()
    assert live.exists()
    assert unrelated.exists()


def test_a_failed_backup_leaves_no_temporary_file(conn: sqlite3.Connection, db_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    conn.execute("PRAGMA foreign_keys = OFF")
    # A child row whose parent is missing: the copy fails verification.
    conn.execute(
        "INSERT INTO api_key_usage (api_key_id, endpoint, method, status_code, response_time_ms, created_at) "
        "VALUES (999, '/x', 'GET', 200, 1, 1)"
    )
    with pytest.raises(DatabaseError, match="failed verification"):
        maintenance.backup_database(db_path, target)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".copy.db")) == []
    assert not target.exists()


def test_a_symlink_planted_at_the_old_temporary_name_is_never_followed(
    conn: sqlite3.Connection, db_path: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "copy.db"
    (tmp_path / f".copy.db.partial-{os.getpid()}").symlink_to(victim)
    maintenance.backup_database(db_path, target)
    assert victim.read_text() == "keep me"
    assert maintenance.verify_backup(target)[0].ok


def test_a_backup_over_a_special_file_is_refused(conn: sqlite3.Connection, db_path: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(DatabaseError, match="not a regular file"):
        maintenance.backup_database(db_path, fifo, force=True)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
