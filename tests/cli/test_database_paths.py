"""What commands do with a `--db` that is missing, empty, special or not SQLite: refuse in one line, change nothing."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "scops_tui"]

READ_ONLY_COMMANDS = [
    ["anomalies", "list"],
    ["anomalies", "list", "--json"],
    ["export", "metrics"],
    ["model", "list"],
    ["db", "status"],
    ["db", "status", "--json"],
    ["db", "check"],
    ["sync", "status"],
]

# Commands that need a database that already exists (they act on its rows).
EXISTING_ONLY_COMMANDS = [
    *READ_ONLY_COMMANDS,
    ["db", "upgrade"],
    ["db", "prune", "--older-than", "30"],
    ["anomalies", "ack", "1"],
    ["model", "deploy", "1"],
    ["model", "evaluate", "1"],
]

# Commands that may create a database, but never from a special or foreign file.
WRITING_COMMANDS = [["db", "init"], ["record", "--duration", "1", "--quiet"]]


def run(db: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real command line against `db`."""
    return subprocess.run(
        [*CLI, "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "SCOPS_PG_URL": "postgresql://nobody@127.0.0.1:1/none"},
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("scops-tui: error: "), result.stderr
    for word in expected:
        assert word in lines[0], lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with a hash of its bytes (special files by kind)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISREG(mode):
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = oct(stat.S_IFMT(mode))
    return found


@pytest.mark.parametrize("command", EXISTING_ONLY_COMMANDS, ids=" ".join)
def test_a_missing_database_is_named_and_nothing_is_created(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "not" / "there" / "scops.db"
    result = run(db, *command)
    assert_one_error_line(result, str(db))
    assert not (tmp_path / "not").exists()


@pytest.mark.parametrize("command", EXISTING_ONLY_COMMANDS, ids=" ".join)
def test_an_empty_file_stays_empty(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    before = snapshot(tmp_path)
    result = run(db, *command)
    assert_one_error_line(result, str(db), "empty")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", EXISTING_ONLY_COMMANDS + WRITING_COMMANDS, ids=" ".join)
def test_a_file_that_is_not_sqlite_stays_byte_for_byte(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "notes.db"
    db.write_bytes(b"these are my notes, not a database\n" * 100)
    before = snapshot(tmp_path)
    result = run(db, *command)
    assert_one_error_line(result, str(db))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", EXISTING_ONLY_COMMANDS + WRITING_COMMANDS, ids=" ".join)
def test_a_fifo_is_refused_at_once(tmp_path: Path, command: list[str]) -> None:
    fifo = tmp_path / "pipe.db"
    os.mkfifo(fifo)
    before = snapshot(tmp_path)
    result = run(fifo, *command, timeout=60)  # before the fix, opening the FIFO blocked forever
    assert_one_error_line(result, str(fifo), "FIFO")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", [["db", "status"], ["anomalies", "list"], *WRITING_COMMANDS], ids=" ".join)
def test_dev_null_is_refused_and_no_journal_appears_beside_it(command: list[str]) -> None:
    journals = [Path("/dev/null-journal"), Path("/dev/null-wal"), Path("/dev/null-shm")]
    existed = {path: path.exists() for path in journals}
    result = run(Path("/dev/null"), *command)
    assert_one_error_line(result, "/dev/null", "character device")
    for path in journals:
        if not existed[path]:
            assert not path.exists(), f"{path} was created"


@pytest.mark.parametrize("command", [["db", "status"], ["db", "init"], ["anomalies", "list"]], ids=" ".join)
def test_a_directory_is_refused(tmp_path: Path, command: list[str]) -> None:
    before = snapshot(tmp_path)
    result = run(tmp_path, *command)
    assert result.returncode != 0
    assert "is a directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(tmp_path) == before


def test_a_new_database_and_its_folders_are_private_whatever_the_umask(tmp_path: Path) -> None:
    db = tmp_path / "new" / "folder" / "scops.db"
    result = subprocess.run(
        ["sh", "-c", 'umask 000 && exec "$@"', "sh", *CLI, "--db", str(db), "db", "init"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "folder").stat().st_mode) == 0o700
    for suffix in ("-wal", "-shm"):
        companion = Path(f"{db}{suffix}")
        if companion.exists():
            assert stat.S_IMODE(companion.stat().st_mode) & 0o077 == 0


def test_db_init_makes_an_empty_file_a_database(tmp_path: Path) -> None:
    db = tmp_path / "touched.db"
    db.touch()
    result = run(db, "db", "init")
    assert result.returncode == 0, result.stderr
    assert run(db, "db", "check").returncode == 0


@pytest.mark.parametrize(
    "command",
    [
        ["import", "metrics", "{file}", "--format", "csv"],
        ["import", "model", "{file}"],
        ["import", "api-keys", "{file}"],
        ["export", "metrics", "--out", "{file}"],
    ],
    ids=" ".join,
)
@pytest.mark.parametrize("suffix", ["", "-wal"])
@pytest.mark.parametrize("via_link", [False, True], ids=["its-name", "another-name"])
def test_the_database_or_its_wal_is_never_an_input_or_output_file(
    tmp_path: Path, command: list[str], suffix: str, via_link: bool
) -> None:
    db = tmp_path / "scops.db"
    assert run(db, "db", "init").returncode == 0
    conn = sqlite3.connect(db)  # keeps the WAL in place while the command runs
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TEMP TABLE t (x)")
    conn.execute("UPDATE users SET updated_at = updated_at")
    link = tmp_path / "same-file"
    os.link(f"{db}{suffix}", link)  # another name for the same file is caught too
    before = list(conn.iterdump())  # through SQLite: never open() a file this process holds a connection to
    args = [part.replace("{file}", str(link) if via_link else f"{db}{suffix}") for part in command]
    result = run(db, *args)
    assert_one_error_line(result, "it cannot be the")
    assert list(conn.iterdump()) == before
    conn.close()
    assert run(db, "db", "check").returncode == 0
