"""Database care: status, check, verified backup, guarded restore and pruning."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from scops_tui.errors import DatabaseError
from scops_tui.store import database as store
from scops_tui.store import maintenance
from scops_tui.store.recorder_lock import RecorderLock
from scops_tui.store.records import MetricRecord

DAY_MS = 86_400_000
NOW = 1_800_000_000_000


def metric(ts: int, source: str = "h") -> MetricRecord:
    return MetricRecord(ts, source, 10.0, 20.0, 30.0, 0.1, 0.2, 0.3, 1, 2, 3, 4, 0.5)


def fill(conn: sqlite3.Connection, timestamps: list[int]) -> None:
    system = store.user_id(conn, "system")
    store.insert_metrics(conn, [metric(ts) for ts in timestamps], created_by=system, created_at=timestamps[-1])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_status_reports_version_counts_size_and_identity(conn: sqlite3.Connection, db_path: Path) -> None:
    fill(conn, [NOW, NOW + 1000])
    status = maintenance.database_status(db_path)
    assert status.schema_version == status.latest_schema_version >= 2
    assert status.tables["metrics"] == 2 and status.tables["users"] == 2
    assert set(status.tables) == set(store.TABLES)
    assert status.size_bytes > 0
    assert status.database_id == str(store.database_id(conn))
    assert status.as_json()["path"] == str(db_path)


def test_status_of_a_missing_file_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"
    with pytest.raises(DatabaseError, match="no database"):
        maintenance.database_status(missing)
    assert not missing.exists()


def test_check_passes_on_a_sound_file_and_reports_a_broken_foreign_key(conn: sqlite3.Connection, db_path: Path) -> None:
    fill(conn, [NOW])
    assert maintenance.check_database(db_path).ok
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("UPDATE metrics SET created_by = ?", (b"\x00" * 16,))
    report = maintenance.check_database(db_path)
    assert not report.ok
    assert any("foreign key" in problem for problem in report.problems)


def test_check_reports_corruption(conn: sqlite3.Connection, db_path: Path) -> None:
    fill(conn, [NOW + i for i in range(2000)])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    leaf = conn.execute("SELECT pageno FROM dbstat WHERE name = 'metrics' AND pagetype = 'leaf' LIMIT 1 OFFSET 3")
    start = (leaf.fetchone()[0] - 1) * page_size
    conn.close()
    data = bytearray(db_path.read_bytes())
    data[start : start + 64] = b"\xff" * 64  # destroy one leaf page's header and cell pointers
    db_path.write_bytes(bytes(data))
    report = maintenance.check_database(db_path)
    assert not report.ok


def test_backup_copies_every_row_and_verifies(conn: sqlite3.Connection, db_path: Path, tmp_path: Path) -> None:
    fill(conn, [NOW + i for i in range(500)])
    target = tmp_path / "copy.db"
    report = maintenance.backup_database(db_path, target)
    assert report.tables["metrics"] == 500
    copy = sqlite3.connect(target)
    assert copy.execute("SELECT count(*) FROM metrics").fetchone()[0] == 500
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    copy.close()
    assert not list(tmp_path.glob(".copy.db.partial-*"))


def test_backup_refuses_to_overwrite_without_force(conn: sqlite3.Connection, db_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    target.write_text("precious")
    with pytest.raises(DatabaseError, match="already exists"):
        maintenance.backup_database(db_path, target)
    assert target.read_text() == "precious"
    maintenance.backup_database(db_path, target, force=True)
    assert maintenance.verify_backup(target)[1]["users"] == 2


def test_restore_brings_back_the_backup(conn: sqlite3.Connection, db_path: Path, tmp_path: Path) -> None:
    fill(conn, [NOW, NOW + 1])
    backup = tmp_path / "b.db"
    maintenance.backup_database(db_path, backup)
    conn.execute("DELETE FROM metrics")
    report = maintenance.restore_database(backup, db_path)
    assert report.tables["metrics"] == 2
    assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 2


def test_restore_refuses_to_replace_newer_data_unless_forced(
    conn: sqlite3.Connection, db_path: Path, tmp_path: Path
) -> None:
    fill(conn, [NOW])
    backup = tmp_path / "b.db"
    maintenance.backup_database(db_path, backup)
    fill(conn, [NOW + DAY_MS])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(db_path)
    with pytest.raises(DatabaseError, match="newer than the backup"):
        maintenance.restore_database(backup, db_path)
    assert digest(db_path) == before
    maintenance.restore_database(backup, db_path, force=True)
    assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 1


def test_restore_refuses_a_damaged_or_foreign_backup(conn: sqlite3.Connection, db_path: Path, tmp_path: Path) -> None:
    fill(conn, [NOW])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(db_path)
    not_sqlite = tmp_path / "junk.db"
    not_sqlite.write_bytes(b"this is not a database at all" * 10)
    foreign = tmp_path / "foreign.db"
    other = sqlite3.connect(foreign)
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    for bad in (not_sqlite, foreign, tmp_path / "missing.db"):
        with pytest.raises(DatabaseError):
            maintenance.restore_database(bad, db_path, force=True)
    assert digest(db_path) == before


def test_restore_refuses_while_a_recorder_writes(conn: sqlite3.Connection, db_path: Path, tmp_path: Path) -> None:
    backup = tmp_path / "b.db"
    maintenance.backup_database(db_path, backup)
    lock = RecorderLock(db_path)
    lock.acquire()
    try:
        with pytest.raises(DatabaseError, match="recorder is writing"):
            maintenance.restore_database(backup, db_path, force=True)
    finally:
        lock.release()


def test_prune_deletes_only_old_rows_in_one_transaction(conn: sqlite3.Connection, db_path: Path) -> None:
    fill(conn, [NOW - 10 * DAY_MS, NOW - 8 * DAY_MS, NOW - DAY_MS, NOW])
    dry = maintenance.prune_database(db_path, 7, dry_run=True, now=NOW)
    assert dry.deleted["metrics"] == 2
    assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 4
    report = maintenance.prune_database(db_path, 7, now=NOW)
    assert report.deleted["metrics"] == 2
    left = [row[0] for row in conn.execute("SELECT timestamp FROM metrics ORDER BY timestamp")]
    assert left == [NOW - DAY_MS, NOW]


def test_prune_rejects_a_non_positive_age(conn: sqlite3.Connection, db_path: Path) -> None:
    for days in (0, -1, float("nan")):
        with pytest.raises(DatabaseError, match="positive"):
            maintenance.prune_database(db_path, days)


def test_status_newest_row_is_the_newest_sample_not_the_newest_write(conn: sqlite3.Connection, db_path: Path) -> None:
    """A later write elsewhere (a user edited, rows imported today) does not move `newest row`."""
    fill(conn, [NOW - DAY_MS, NOW - DAY_MS + 5000])
    conn.execute("UPDATE users SET updated_at = ?", (NOW + 5 * DAY_MS,))
    conn.execute("UPDATE metrics SET created_at = ?", (NOW + 6 * DAY_MS,))
    assert maintenance.database_status(db_path).newest_row_ms == NOW - DAY_MS + 5000


def test_status_of_a_database_without_samples_has_no_newest_row(conn: sqlite3.Connection, db_path: Path) -> None:
    assert maintenance.database_status(db_path).newest_row_ms is None


def test_backup_names_sort_by_time_and_keep_never_deletes_the_new_one(tmp_path: Path) -> None:
    """`scops-YYYYMMDDTHHMMSSZ.db`, `-2` within one second; pruning keeps the newest and the one just made."""
    folder = tmp_path / "backups"
    folder.mkdir()
    first = maintenance.backup_path(folder, NOW)
    assert first.name == "scops-20270115T080000Z.db"
    first.write_bytes(b"")
    second = maintenance.backup_path(folder, NOW)
    assert second.name == "scops-20270115T080000Z-2.db"
    second.write_bytes(b"")
    later = maintenance.backup_path(folder, NOW + DAY_MS)
    later.write_bytes(b"")
    (folder / "notes.txt").write_text("mine")
    assert maintenance.named_backups(folder) == [first, second, later]
    # A clock that stepped back named the newest backup before the others: it still survives.
    stepped_back = maintenance.backup_path(folder, NOW - DAY_MS)
    stepped_back.write_bytes(b"")
    removed = maintenance.prune_backups(folder, 2, just_made=stepped_back)
    assert removed == [first, second]
    assert sorted(p.name for p in folder.iterdir()) == sorted([stepped_back.name, later.name, "notes.txt"])
    with pytest.raises(DatabaseError, match="at least 1"):
        maintenance.prune_backups(folder, 0)
