"""`db backup` with no PATH names its file in the backups folder and keeps N; `db restore` saves what it replaces."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest

from scops_tui.store import database as store
from scops_tui.store.timestamps import now_ms
from tests.cli.seed import record, run_installed, seed

NAME = re.compile(r"scops-\d{8}T\d{6}Z(-\d+)?\.db")


@pytest.fixture
def env(tmp_path: Path, scops_home: Path) -> dict[str, str]:
    """A user whose database (outside the data folder) holds 100 samples."""
    db = tmp_path / "live.db"
    seed(db)
    return {**os.environ, "SCOPS_HOME": str(scops_home), "SCOPS_DB": str(db)}


def samples(path: Path) -> int:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM metrics").fetchone()[0])
    finally:
        conn.close()


def test_backup_without_a_path_goes_to_the_backups_folder_and_prints_it(env: dict[str, str]) -> None:
    """stdout is the new file's path only (so `b=$(scops-tui db backup)` works); it is in `config`'s folder."""
    result = run_installed("db", "backup", env=env)
    assert result.returncode == 0, result.stderr
    printed = Path(result.stdout.strip())
    assert result.stdout.count("\n") == 1
    assert printed.parent == Path(env["SCOPS_HOME"]) / "backups"
    assert NAME.fullmatch(printed.name), printed.name
    assert samples(printed) == 100
    assert oct(printed.stat().st_mode & 0o777) == oct(0o600)
    again = run_installed("db", "backup", env=env)
    second = Path(again.stdout.strip())
    assert again.returncode == 0 and second != printed and NAME.fullmatch(second.name)


def test_keep_prunes_the_oldest_named_backups_only(env: dict[str, str]) -> None:
    """`--keep 2` leaves the two newest backups and any file it did not name."""
    folder = Path(env["SCOPS_HOME"]) / "backups"
    folder.mkdir(mode=0o700)
    stranger = folder / "my-own-copy.db"
    stranger.write_bytes(b"not ours")
    made = [Path(run_installed("db", "backup", env=env).stdout.strip()) for _ in range(3)]
    result = run_installed("db", "backup", "--keep", "2", env=env)
    assert result.returncode == 0, result.stderr
    newest = Path(result.stdout.strip())
    assert sorted(p.name for p in folder.iterdir()) == sorted([made[2].name, newest.name, stranger.name])
    assert result.stderr.count("removed old backup") == 2


def test_keep_with_a_path_or_zero_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    with_path = run_installed("db", "backup", str(tmp_path / "b.db"), "--keep", "1", env=env)
    assert with_path.returncode != 0 and with_path.stderr.startswith("scops-tui: error: --keep prunes")
    assert not (tmp_path / "b.db").exists()
    zero = run_installed("db", "backup", "--keep", "0", env=env)
    assert zero.returncode == 2 and "invalid value for --keep" in zero.stderr


def test_backup_to_an_existing_path_needs_force(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "taken.db"
    target.write_bytes(b"precious")
    refused = run_installed("db", "backup", str(target), env=env)
    assert refused.returncode != 0 and "already exists (use --force to replace it)" in refused.stderr
    assert target.read_bytes() == b"precious"
    forced = run_installed("db", "backup", str(target), "--force", env=env)
    assert forced.returncode == 0 and forced.stdout.strip() == str(target)
    assert samples(target) == 100


def test_restore_force_saves_the_database_it_replaces_and_says_where(env: dict[str, str], tmp_path: Path) -> None:
    """The replaced database (with its newer rows) is kept as a verified backup that restores it back."""
    small = tmp_path / "small.db"
    assert run_installed("db", "backup", str(small), env=env).returncode == 0
    live = Path(env["SCOPS_DB"])
    conn = store.open_database(live)
    try:
        store.insert_metrics(conn, [record(i) for i in range(100, 150)], created_by=None, created_at=now_ms())
    finally:
        conn.close()
    refused = run_installed("db", "restore", str(small), env=env)
    assert refused.returncode != 0 and "newer than the backup" in refused.stderr
    folder = Path(env["SCOPS_HOME"]) / "backups"
    assert not folder.exists() or not list(folder.iterdir())
    result = run_installed("db", "restore", str(small), "--force", env=env)
    assert result.returncode == 0, result.stderr
    match = re.search(r"saved the database it replaces to (\S+)", result.stdout)
    assert match, result.stdout
    saved = Path(match.group(1))
    assert saved.parent == folder and NAME.fullmatch(saved.name)
    assert samples(live) == 100 and samples(saved) == 150
    back = run_installed("db", "restore", str(saved), env=env)
    assert back.returncode == 0, back.stderr
    assert samples(live) == 150
