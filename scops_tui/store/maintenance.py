"""Database care: status, integrity check, verified online backup (named, kept N) and restore, pruning by age."""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from scops_tui.errors import DatabaseError
from scops_tui.store import database as store
from scops_tui.store.migrations import current_version, latest_version
from scops_tui.store.recorder_lock import RecorderLock
from scops_tui.store.timestamps import now_ms

# Every column that says when a row was made or changed, per table: the newest of them dates the data.
_TIME_COLUMNS = {
    "users": ("created_at", "updated_at"),
    "metrics": ("timestamp", "created_at"),
    "ml_models": ("created_at", "updated_at"),
    "ml_model_versions": ("created_at", "updated_at"),
    "api_keys": ("created_at", "updated_at"),
    "api_key_usage": ("created_at",),
    "model_predictions": ("created_at", "updated_at"),
    "anomaly_predictions": ("timestamp", "created_at", "updated_at"),
}


@dataclass(frozen=True)
class DatabaseStatus:
    """What `db status` reports."""

    path: Path
    schema_version: int
    latest_schema_version: int
    database_id: str | None
    tables: dict[str, int]
    size_bytes: int
    newest_row_ms: int | None
    """When the newest sample was taken (not when any row was last written)."""
    recorder_running: bool

    def as_json(self) -> dict[str, object]:
        """The JSON object printed by `db status --json`."""
        return {
            "path": str(self.path),
            "schema_version": self.schema_version,
            "latest_schema_version": self.latest_schema_version,
            "database_id": self.database_id,
            "tables": self.tables,
            "size_bytes": self.size_bytes,
            "newest_row_ms": self.newest_row_ms,
            "recorder_running": self.recorder_running,
        }


def newest_row_ms(conn: sqlite3.Connection) -> int | None:
    """The latest time any row was made or changed, over the eight tables."""
    newest: int | None = None
    for table, columns in _TIME_COLUMNS.items():
        for column in columns:
            value = conn.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]  # noqa: S608
            if value is not None and (newest is None or value > newest):
                newest = int(value)
    return newest


def newest_sample_ms(conn: sqlite3.Connection) -> int | None:
    """The collection time of the newest sample (metrics.timestamp), or None without samples."""
    value = conn.execute("SELECT max(timestamp) FROM metrics").fetchone()[0]
    return None if value is None else int(value)


def database_status(path: Path, *, busy_timeout_ms: int = 5000) -> DatabaseStatus:
    """Version, row counts, size and identity of the database at `path`, read without changing it."""
    conn = store.open_reader(path, busy_timeout_ms=busy_timeout_ms)
    try:
        with store.sqlite_errors(path):
            version = current_version(conn)
            identity = None
            if version >= 2:
                row = conn.execute("SELECT database_id FROM local_identity").fetchone()
                identity = None if row is None else str(uuid.UUID(bytes=bytes(row[0])))
            return DatabaseStatus(
                path=path,
                schema_version=version,
                latest_schema_version=latest_version(),
                database_id=identity,
                tables=store.table_counts(conn),
                size_bytes=store.file_size(path),
                newest_row_ms=newest_sample_ms(conn),
                recorder_running=RecorderLock(path).held_by_other(),
            )
    finally:
        conn.close()


@dataclass(frozen=True)
class CheckReport:
    """The outcome of `db check`: an empty problem list means the file is sound."""

    path: Path
    schema_version: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def check_connection(conn: sqlite3.Connection, path: Path) -> CheckReport:
    """Run SQLite's integrity and foreign-key checks and the schema checks on an open database."""
    problems: list[str] = []
    try:
        with store.sqlite_errors(path):
            for (message,) in conn.execute("PRAGMA integrity_check"):
                if message != "ok":
                    problems.append(f"integrity: {message}")
            for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check"):
                problems.append(f"foreign key: {table} row {rowid} points to a missing {parent} row")
            version = current_version(conn)
            if version == 0:
                problems.append("not a scops-tui database: no schema version recorded")
            elif version > latest_version():
                problems.append(f"schema version {version} is newer than this program knows ({latest_version()})")
            present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            problems.extend(f"missing table {table}" for table in store.TABLES if version and table not in present)
    except DatabaseError as exc:
        problems.append(str(exc))
        version = 0
    return CheckReport(path=path, schema_version=version, problems=problems)


def check_database(path: Path, *, busy_timeout_ms: int = 5000) -> CheckReport:
    """Check the database at `path` without changing it."""
    conn = store.open_reader(path, busy_timeout_ms=busy_timeout_ms)
    try:
        return check_connection(conn, path)
    finally:
        conn.close()


@dataclass(frozen=True)
class BackupReport:
    """A verified backup: the copy's row counts equal those of the snapshot it was taken from."""

    source: Path
    target: Path
    tables: dict[str, int]
    size_bytes: int


def backup_database(source: Path, target: Path, *, force: bool = False, busy_timeout_ms: int = 5000) -> BackupReport:
    """Copy `source` to `target` with SQLite's online backup (recording goes on), then verify the copy.

    The copy is written to a private (0600) temporary file beside `target` and renamed into place only
    once verified, so a failed backup never leaves a half-written file under the target's name; a failed
    or killed backup's temporary files are removed (by this run, or by the next backup to the same folder).
    """
    if store.inspect_file(source) is store.FileState.MISSING:
        raise DatabaseError(f"no database at {source} (create one with `scops-tui db init`)")
    if os.path.lexists(target):
        if not force:
            raise DatabaseError(f"{target} already exists (use --force to replace it)")
        if target.is_symlink() or not target.is_file():
            raise DatabaseError(f"{target} is not a regular file; a backup replaces only a regular file")
        if target.resolve() == source.resolve():
            raise DatabaseError("the backup target is the database itself")
    reader = store.open_reader(source, busy_timeout_ms=busy_timeout_ms)
    temporary: Path | None = None
    try:
        with store.sqlite_errors(target):
            store.make_private_dirs(target.parent)
            remove_stale_partials(target)
            temporary = _new_partial(target)
            copy = sqlite3.connect(temporary, isolation_level=None)
            try:
                copy.execute("PRAGMA synchronous = FULL")
                # Counting and copying inside one read transaction sees one snapshot: the counts must match.
                reader.execute("BEGIN")
                expected = store.table_counts(reader)
                reader.backup(copy)
                reader.execute("COMMIT")
                copy.execute("PRAGMA journal_mode = DELETE")
                report = check_connection(copy, target)
                if not report.ok:
                    raise DatabaseError(f"backup {target} failed verification: {report.problems[0]}")
                actual = store.table_counts(copy)
                if actual != expected:
                    raise DatabaseError(f"backup {target} failed verification: counts {actual} != {expected}")
            finally:
                copy.close()
            # The copy's last commit was synced by SQLite (synchronous FULL); the rename is synced with its folder.
            temporary.replace(target)
            temporary = None
            _fsync_directory(target.parent)
    finally:
        if temporary is not None:
            _remove_partial(temporary)
        reader.close()
    return BackupReport(source=source, target=target, tables=expected, size_bytes=store.file_size(target))


BACKUP_NAME = re.compile(r"scops-(\d{8}T\d{6}Z)(?:-(\d+))?\.db")
"""The name of a backup that `db backup` chose: scops-YYYYMMDDTHHMMSSZ.db (-N when the second is taken)."""


def backup_path(directory: Path, when_ms: int | None = None) -> Path:
    """A free name `scops-YYYYMMDDTHHMMSSZ.db` in `directory` for a backup taken at `when_ms` (default: now).

    A second backup within the same second gets `-2`, then `-3`, and so on; names sort by time.
    """
    moment = datetime.fromtimestamp((now_ms() if when_ms is None else when_ms) / 1000, tz=UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    candidate = directory / f"scops-{stamp}.db"
    number = 1
    while os.path.lexists(candidate):
        number += 1
        candidate = directory / f"scops-{stamp}-{number}.db"
    return candidate


def named_backups(directory: Path) -> list[Path]:
    """The backups in `directory` whose names `db backup` chose, oldest first."""
    try:
        entries = list(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for path in entries:
        match = BACKUP_NAME.fullmatch(path.name)
        if match and path.is_file() and not path.is_symlink():
            found.append((match.group(1), int(match.group(2) or 1), path))
    return [path for *_key, path in sorted(found)]


def prune_backups(directory: Path, keep: int, *, just_made: Path | None = None) -> list[Path]:
    """Delete all but the `keep` newest named backups in `directory`; return the deleted paths, oldest first.

    Only files named like `db backup`'s own are touched; a backup is a closed file no scops-tui process
    holds open, so removing it is safe. `just_made` is never deleted, even if a clock that stepped back
    gave it an older name than the others.
    """
    if keep < 1:
        raise DatabaseError(f"--keep must be at least 1, not {keep}")
    backups = named_backups(directory)
    if just_made is not None and just_made in backups:
        backups.remove(just_made)
        keep -= 1
    removed = backups[: max(len(backups) - keep, 0)]
    for path in removed:
        path.unlink(missing_ok=True)
        Path(f"{path}-journal").unlink(missing_ok=True)
    return removed


_PARTIAL_MARK = ".partial-"


def _new_partial(target: Path) -> Path:
    """A new, empty, private (0600) file beside `target` with an unpredictable name that carries this PID."""
    for _ in range(100):
        candidate = target.with_name(f".{target.name}{_PARTIAL_MARK}{os.getpid()}-{secrets.token_hex(8)}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue
        os.fchmod(fd, 0o600)
        os.close(fd)
        return candidate
    raise DatabaseError(f"cannot make a temporary file beside {target}")


def _remove_partial(partial: Path) -> None:
    """Remove a temporary backup file and the rollback journal SQLite may have left beside it."""
    for path in (partial, Path(f"{partial}-journal")):
        path.unlink(missing_ok=True)


def remove_stale_partials(target: Path) -> list[Path]:
    """Remove the temporary files of earlier backups to `target` whose process is gone; return them.

    A backup killed mid-copy cannot clean up after itself; its files carry its PID, so the next backup
    to the same place removes them once that process no longer exists. No connection is ever open on
    these files, so removing them is safe.
    """
    removed: list[Path] = []
    prefix = f".{target.name}{_PARTIAL_MARK}"
    try:
        candidates = list(target.parent.iterdir())
    except FileNotFoundError:
        return removed
    for path in candidates:
        if not path.name.startswith(prefix):
            continue
        pid_text = path.name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_directory(directory: Path) -> None:
    """Make a rename inside `directory` durable (the folder is not a database file)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class RestoreReport:
    """What `db restore` replaced."""

    backup: Path
    target: Path
    tables: dict[str, int]
    schema_version: int
    saved: Path | None = None
    """Where the database that was replaced was saved first (None when there was none to save)."""


def verify_backup(backup: Path, *, busy_timeout_ms: int = 5000) -> tuple[CheckReport, dict[str, int], int | None]:
    """Check that `backup` is an intact scops-tui database; return its check report, counts and newest row."""
    if store.inspect_file(backup) is store.FileState.MISSING:
        raise DatabaseError(f"no backup at {backup}")
    conn = store.open_reader(backup, busy_timeout_ms=busy_timeout_ms)
    try:
        report = check_connection(conn, backup)
        if not report.ok:
            raise DatabaseError(f"backup {backup} is not an intact scops-tui database: {report.problems[0]}")
        with store.sqlite_errors(backup):
            return report, store.table_counts(conn), newest_row_ms(conn)
    finally:
        conn.close()


def restore_database(
    backup: Path,
    target: Path,
    *,
    force: bool = False,
    busy_timeout_ms: int = 5000,
    save_to: Path | None = None,
) -> RestoreReport:
    """Replace the database at `target` with the verified `backup`.

    Refuses while a recorder writes to `target`, and refuses to replace a database holding data newer
    than the backup's unless `force`. With `save_to` (a folder), the database about to be replaced is
    first saved there as a verified backup (`scops-YYYYMMDDTHHMMSSZ.db`), so a restore can be undone.
    The copy goes through SQLite's backup API, so readers never see a half-restored file.
    """
    report, counts, backup_newest = verify_backup(backup, busy_timeout_ms=busy_timeout_ms)
    if target.exists() and backup.resolve() == target.resolve():
        raise DatabaseError("the backup is the database itself")
    if RecorderLock(target).held_by_other():
        raise DatabaseError(f"a recorder is writing to {target}; stop it before restoring")
    if store.inspect_file(target) is store.FileState.SQLITE:
        current = store.open_reader(target, busy_timeout_ms=busy_timeout_ms)
        try:
            with store.sqlite_errors(target):
                target_newest = newest_row_ms(current)
        finally:
            current.close()
        if not force and target_newest is not None and (backup_newest is None or target_newest > backup_newest):
            from scops_tui.store.timestamps import iso

            raise DatabaseError(
                f"{target} holds data newer than the backup (newest row {iso(target_newest)}, backup's "
                f"{iso(backup_newest) if backup_newest is not None else 'none'}); use --force to replace it"
            )
    saved = None
    if save_to is not None and store.inspect_file(target) is store.FileState.SQLITE:
        saved = backup_database(target, backup_path(save_to), busy_timeout_ms=busy_timeout_ms).target
    source = store.connect(backup, busy_timeout_ms=busy_timeout_ms, readonly=True)
    try:
        destination = store.connect(target, busy_timeout_ms=busy_timeout_ms)
        try:
            with store.sqlite_errors(target):
                source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
    return RestoreReport(backup=backup, target=target, tables=counts, schema_version=report.schema_version, saved=saved)


@dataclass(frozen=True)
class PruneReport:
    """Rows removed (or, in a dry run, that would be) per table, and the old rows kept because of the sync."""

    cutoff_ms: int
    deleted: dict[str, int]
    dry_run: bool
    kept: dict[str, dict[str, int]] = field(default_factory=dict)
    """Why -> table -> rows old enough to go that stay because they are not on the sync server."""


# What prune removes: raw history and logs; never open episodes or predictions that carry a verdict.
_PRUNE_RULES = {
    "metrics": "timestamp < :cutoff",
    "model_predictions": "created_at < :cutoff AND actual_anomaly IS NULL",
    "anomaly_predictions": "timestamp < :cutoff AND acknowledged = 1",
    "api_key_usage": "created_at < :cutoff",
}


def prune_database(
    path: Path,
    older_than_days: float,
    *,
    dry_run: bool = False,
    busy_timeout_ms: int = 5000,
    now: int | None = None,
) -> PruneReport:
    """Delete rows older than `older_than_days` in one transaction (or count them, with `dry_run`)."""
    if not older_than_days > 0:
        raise DatabaseError(f"--older-than must be a positive number of days, not {older_than_days}")
    cutoff = (now_ms() if now is None else now) - round(older_than_days * 86_400_000)
    conn = store.open_database(path, busy_timeout_ms=busy_timeout_ms, create=False)
    try:
        with store.sqlite_errors(path):
            deleted, kept = prune_and_count_kept(conn, cutoff, dry_run=dry_run)
    finally:
        conn.close()
    return PruneReport(cutoff_ms=cutoff, deleted=deleted, dry_run=dry_run, kept=kept)


def prune_older_than(conn: sqlite3.Connection, cutoff_ms: int, *, dry_run: bool = False) -> dict[str, int]:
    """Delete (or count) the rows that prune removes before `cutoff_ms`, in one transaction; rows per table.

    Once a sync target is configured or used, rows not yet on the server are kept. The per-minute and
    per-hour rollup is left alone, so pruned history survives as a summary.
    """
    return prune_and_count_kept(conn, cutoff_ms, dry_run=dry_run)[0]


KEPT_REFUSED = "refused by the server (see `scops-tui sync rejects`)"
KEPT_UNSYNCED = "not yet on the server"


def prune_and_count_kept(
    conn: sqlite3.Connection, cutoff_ms: int, *, dry_run: bool = False
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """`prune_older_than`, plus the old rows it kept for the sync: {reason: {table: rows}} (non-zero only).

    A row on the sync rejects list is never deleted (dropping the reject is the operator's call), nor is
    a row past the synced checkpoints.
    """
    from scops_tui.sync.local import unsynced_conditions

    with store.transaction(conn):
        synced = unsynced_conditions(conn)
        deleted = {}
        kept: dict[str, dict[str, int]] = {}
        for table in ("model_predictions", "anomaly_predictions", "api_key_usage", "metrics"):
            where = _PRUNE_RULES[table] + (f" AND {synced[table]}" if synced else "")
            if synced:
                # Table names and conditions are constants; the cutoff is a bound parameter.
                refused, total = conn.execute(
                    f"SELECT count(*) FILTER (WHERE id IN (SELECT local_id FROM sync_rejects "  # noqa: S608
                    f"WHERE table_name = '{table}')), count(*) FROM {table} "
                    f"WHERE {_PRUNE_RULES[table]} AND NOT ({synced[table]})",
                    {"cutoff": cutoff_ms},
                ).fetchone()
                for reason, count in ((KEPT_REFUSED, refused), (KEPT_UNSYNCED, total - refused)):
                    if count:
                        kept.setdefault(reason, {})[table] = int(count)
            # Table names and conditions are the constants above; the cutoff is a bound parameter.
            verb = "SELECT count(*)" if dry_run else "DELETE"
            cursor = conn.execute(f"{verb} FROM {table} WHERE {where}", {"cutoff": cutoff_ms})
            deleted[table] = int(cursor.fetchone()[0]) if dry_run else cursor.rowcount
    return deleted, kept
