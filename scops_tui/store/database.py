"""The local SQLite store: open a database safely, seed its users, write and read metrics."""

from __future__ import annotations

import contextlib
import enum
import errno
import getpass
import os
import socket
import sqlite3
import stat
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from scops_tui.errors import DatabaseError
from scops_tui.store.migrations import apply_migrations, current_version, latest_version
from scops_tui.store.records import MetricRecord

TABLES = (
    "users",
    "metrics",
    "ml_models",
    "ml_model_versions",
    "api_keys",
    "api_key_usage",
    "model_predictions",
    "anomaly_predictions",
)
"""The eight tables, parents before children."""

SYSTEM_USERNAME = "system"

# Scales of the DECIMAL(p, s) metrics columns, stored exactly as INTEGER value * 10^s.
METRIC_SCALES = {
    "cpu_usage": 100,
    "memory_usage": 100,
    "disk_usage": 100,
    "load_1m": 10_000,
    "load_5m": 10_000,
    "load_15m": 10_000,
    "response_time": 1000,
    "error_rate": 100,
    "anomaly_score": 10_000,
}

METRIC_COLUMNS = (
    "timestamp",
    "source",
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "load_1m",
    "load_5m",
    "load_15m",
    "disk_io_read",
    "disk_io_write",
    "network_rx",
    "network_tx",
    "response_time",
    "error_rate",
    "is_anomaly",
    "anomaly_score",
    "created_at",
    "created_by",
)

# Built from the constant column list above; every value is a bound parameter.
_INSERT_METRIC = "INSERT INTO metrics ({}) VALUES ({})".format(  # noqa: S608
    ", ".join(METRIC_COLUMNS), ", ".join("?" * len(METRIC_COLUMNS))
)


def explain_sqlite_error(exc: sqlite3.Error, path: Path | str) -> DatabaseError:
    """Turn an SQLite error into one line that says what went wrong with which file."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return DatabaseError(f"database {path} is locked by another process (waited for the busy timeout): {text}")
    if "disk is full" in lowered or ("i/o error" in lowered and _disk_nearly_full(Path(path))):
        return DatabaseError(f"database {path}: the disk is full; nothing was written")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return DatabaseError(f"database {path} is not an intact SQLite database: {text}")
    if "readonly" in lowered or "read-only" in lowered:
        return DatabaseError(f"database {path} cannot be written (read-only file or directory): {text}")
    if "unable to open" in lowered:
        return DatabaseError(f"cannot open database {path}: {text}")
    if isinstance(exc, sqlite3.IntegrityError):
        return DatabaseError(f"database {path}: a row was refused by a constraint: {text}")
    return DatabaseError(f"database {path}: {text}")


def _disk_nearly_full(path: Path) -> bool:
    """True when the filesystem holding `path` has less than 1 MiB free (SQLite then reports an I/O error)."""
    try:
        stats = os.statvfs(path.parent if not path.is_dir() else path)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 1024 * 1024


@contextlib.contextmanager
def sqlite_errors(path: Path | str) -> Iterator[None]:
    """Re-raise SQLite and OS errors inside the block as one-line DatabaseErrors naming `path`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise explain_sqlite_error(exc, path) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DatabaseError(f"database {path}: the disk is full; nothing was written") from exc
        raise DatabaseError(f"database {path}: {exc.strerror or exc}") from exc


def connect(path: Path, *, busy_timeout_ms: int = 5000, readonly: bool = False, wal: bool = True) -> sqlite3.Connection:
    """Open `path` with foreign keys on and a busy timeout; WAL mode for writers (unless `wal` is False).

    The connection is in autocommit mode: callers open transactions explicitly (see `transaction`).
    A writer creating a new file creates it (and any missing folders) private to the user: mode 0600, 0700.
    """
    with sqlite_errors(path):
        if readonly:
            if inspect_file(path) is FileState.MISSING:
                raise DatabaseError(f"no database at {path} (create one with `scops-tui db init`)")
            conn = _read_only_connection(path)
        else:
            created = inspect_file(path) is FileState.MISSING
            if created:
                make_private_dirs(path.parent)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            if created:
                # SQLite made the file; nothing is in it yet. Its -wal and -shm copy this mode. (chmod, not a
                # descriptor of ours: closing one would drop the locks of any connection in this process.)
                with contextlib.suppress(PermissionError):  # made meanwhile by another user: not ours to change
                    os.chmod(path, 0o600)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Reading the schema proves the file is SQLite before anything is written to it.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if not readonly and wal:
                use_wal(conn)
        except BaseException:
            conn.close()
            raise
    return conn


def _read_only_connection(path: Path) -> sqlite3.Connection:
    """A connection that can never write to `path` (SQLite's read-only URI mode)."""
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )


class FileState(enum.Enum):
    """What lies at a database path, as far as can be told without opening it outside SQLite."""

    MISSING = "missing"
    EMPTY = "empty"
    """A regular file of 0 bytes (SQLite would make it a new database on the first write)."""
    SQLITE = "sqlite"


def inspect_file(path: Path) -> FileState:
    """Say what is at `path`, refusing anything that is not a regular SQLite file, without changing it.

    Only `stat` and SQLite itself look at the file: opening and closing it with anything else would drop
    every POSIX lock this process holds on it, and another process would then delete the WAL under a live
    connection (SQLite's "How To Corrupt An SQLite Database File", section 2.2). A FIFO, a device, a
    socket or a directory is refused before anything opens it (opening a FIFO would block forever).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if _parent_is_not_a_directory(path):
            raise DatabaseError(f"cannot use {path} as a database: {path.parent} is not a directory") from None
        return FileState.MISSING
    except NotADirectoryError:
        raise DatabaseError(f"cannot use {path} as a database: a folder on its path is a file") from None
    except OSError as exc:
        raise DatabaseError(f"cannot read database {path}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise DatabaseError(f"{path} is a directory, not a database file")
    if not stat.S_ISREG(info.st_mode):
        raise DatabaseError(f"{path} is a {_file_kind(info.st_mode)}, not a database file (give a regular file)")
    if info.st_size == 0:
        return FileState.EMPTY
    if not os.access(path, os.R_OK):
        raise DatabaseError(f"cannot read database {path}: permission denied")
    try:
        probe = _read_only_connection(path)
    except sqlite3.Error as exc:
        raise explain_sqlite_error(exc, path) from exc
    try:
        probe.execute("PRAGMA busy_timeout = 5000")
        probe.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc).lower():
            raise DatabaseError(f"{path} is not an SQLite database") from exc
        raise explain_sqlite_error(exc, path) from exc
    finally:
        probe.close()
    return FileState.SQLITE


def _parent_is_not_a_directory(path: Path) -> bool:
    for parent in path.parents:
        with contextlib.suppress(OSError):
            return not stat.S_ISDIR(os.stat(parent).st_mode)
    return False


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


DATABASE_COMPANIONS = ("", "-wal", "-shm", "-journal")
"""Suffixes of the files SQLite keeps for a database: the file itself, its WAL, shared memory and journal."""


def refuse_database_files(path: Path, db_path: Path, role: str) -> None:
    """Refuse `path` (an input or output file of a command) when it is `db_path` or one of its companions.

    Reading or replacing them outside SQLite would break the database's locks or its contents; compared
    by device and inode, so another name for the same file is caught too.
    """
    try:
        given = os.stat(path)
    except OSError:
        return
    for suffix in DATABASE_COMPANIONS:
        with contextlib.suppress(OSError):
            known = os.stat(f"{db_path}{suffix}")
            if (known.st_dev, known.st_ino) == (given.st_dev, given.st_ino):
                what = "the database" if not suffix else f"the database's {suffix[1:]} file"
                raise DatabaseError(f"{path} is {what} ({db_path}); it cannot be the {role}")


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and any missing parents with mode 0700 (existing folders are left as they are)."""
    missing = []
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)


def use_wal(conn: sqlite3.Connection) -> None:
    """Switch a writer to WAL: readers never block it, and a crash never corrupts the file."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """One transaction: committed when the block ends, rolled back whole if it raises."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def fits_in_sqlite(row_id: int) -> bool:
    """True when `row_id` is within SQLite's 64-bit integer range (a larger one can name no row)."""
    return -(2**63) <= row_id < 2**63


def operator_username() -> str:
    """The OS login name of the person running scops-tui."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    return name or f"uid{os.getuid()}"


def open_database(
    path: Path,
    *,
    busy_timeout_ms: int = 5000,
    create: bool = True,
    upgrade: bool = True,
) -> sqlite3.Connection:
    """Open a scops-tui database for writing: created and migrated as needed, its two users present.

    Refuses a file that is not a scops-tui database, one from a newer schema, and (unless `create`)
    a missing one; a refused file is left exactly as it was.
    """
    state = inspect_file(path)
    if not create and state is FileState.MISSING:
        raise DatabaseError(f"no database at {path} (create one with `scops-tui db init`)")
    if not create and state is FileState.EMPTY:
        raise DatabaseError(f"{path} is an empty file, not a scops-tui database (create one with `scops-tui db init`)")
    # WAL is switched on only after the checks: a refused file must stay byte for byte as it was.
    conn = connect(path, busy_timeout_ms=busy_timeout_ms, wal=False)
    try:
        with sqlite_errors(path):
            version = current_version(conn)
            known = latest_version()
            if version > known:
                raise DatabaseError(
                    f"database {path} is at schema version {version}, newer than this program knows "
                    f"({known}); upgrade scops-tui"
                )
            if version < known:
                if not upgrade and version > 0:
                    raise DatabaseError(
                        f"database {path} is at schema version {version} (current: {known}); run `scops-tui db upgrade`"
                    )
                use_wal(conn)
                apply_migrations(conn)
            use_wal(conn)
            ensure_seed_rows(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def open_reader(path: Path, *, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open an existing scops-tui database read-only; refuses a missing, empty, foreign or too-new file.

    Nothing is created or changed: a missing path stays missing, an empty file stays empty.
    """
    if inspect_file(path) is FileState.EMPTY:
        raise DatabaseError(f"{path} is an empty file, not a scops-tui database (create one with `scops-tui db init`)")
    conn = connect(path, busy_timeout_ms=busy_timeout_ms, readonly=True)
    try:
        with sqlite_errors(path):
            version = current_version(conn)
        if version == 0:
            raise DatabaseError(f"database {path} is empty (create it with `scops-tui db init`)")
        if version > latest_version():
            raise DatabaseError(
                f"database {path} is at schema version {version}, newer than this program knows "
                f"({latest_version()}); upgrade scops-tui"
            )
    except BaseException:
        conn.close()
        raise
    return conn


def ensure_seed_rows(conn: sqlite3.Connection) -> bytes:
    """Give the database its identity and its two users if absent; return the `system` user's id.

    The users are `system` (author of collected data) and the operator (OS login name, role admin).
    """
    if conn.execute("SELECT count(*) FROM local_identity").fetchone()[0] == 0:
        with transaction(conn):
            conn.execute("INSERT OR IGNORE INTO local_identity (database_id) VALUES (?)", (uuid.uuid4().bytes,))
    host = socket.gethostname() or "localhost"
    wanted = [
        (SYSTEM_USERNAME, f"system@{host}", "admin"),
        (operator_username(), f"{operator_username()}@{host}", "admin"),
    ]
    existing = {row[0] for row in conn.execute("SELECT username FROM users")}
    missing = [user for user in wanted if user[0] not in existing]
    if missing:
        with transaction(conn):
            for username, email, role in missing:
                conn.execute(
                    "INSERT INTO users (id, username, email, role) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (uuid.uuid4().bytes, username, email, role),
                )
    return user_id(conn, SYSTEM_USERNAME)


def user_id(conn: sqlite3.Connection, username: str) -> bytes:
    """The id of a user by name."""
    row = conn.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
    if row is None:
        raise DatabaseError(f"no user named {username!r} in the database")
    return bytes(row[0])


def encode_metric(record: MetricRecord, created_at: int, created_by: bytes | None) -> tuple[object, ...]:
    """The metrics row of `record`, DECIMAL columns as exact scaled integers."""
    return (
        record.timestamp_ms,
        record.source,
        round(record.cpu_usage * 100),
        round(record.memory_usage * 100),
        round(record.disk_usage * 100),
        round(record.load_1m * 10_000),
        round(record.load_5m * 10_000),
        None if record.load_15m is None else round(record.load_15m * 10_000),
        record.disk_io_read,
        record.disk_io_write,
        record.network_rx,
        record.network_tx,
        round(record.response_time * 1000),
        None if record.error_rate is None else round(record.error_rate * 100),
        1 if record.is_anomaly else 0,
        None if record.anomaly_score is None else round(record.anomaly_score * 10_000),
        created_at,
        created_by,
    )


def decode_metric(row: sqlite3.Row | tuple[object, ...]) -> MetricRecord:
    """A MetricRecord from a row selected as `METRIC_COLUMNS` (scaled integers back to plain units)."""
    (ts, source, cpu, mem, disk, l1, l5, l15, dr, dw, rx, tx, rt, err, anomalous, score, _c, _b) = tuple(row)
    return MetricRecord(
        timestamp_ms=int(ts),
        source=str(source),
        cpu_usage=cpu / 100,
        memory_usage=mem / 100,
        disk_usage=disk / 100,
        load_1m=l1 / 10_000,
        load_5m=l5 / 10_000,
        load_15m=None if l15 is None else l15 / 10_000,
        disk_io_read=int(dr),
        disk_io_write=int(dw),
        network_rx=int(rx),
        network_tx=int(tx),
        response_time=rt / 1000,
        error_rate=None if err is None else err / 100,
        is_anomaly=bool(anomalous),
        anomaly_score=None if score is None else score / 10_000,
    )


@dataclass(frozen=True)
class InsertResult:
    """What one batch write did."""

    inserted: int
    duplicates: int
    """Rows skipped because a row with the same (source, timestamp) was already stored."""
    first_id: int | None
    """The id of the first row inserted by this batch (ids of a batch are consecutive), if any."""


def insert_metrics(
    conn: sqlite3.Connection,
    records: Iterable[MetricRecord],
    *,
    created_by: bytes | None,
    created_at: int,
    skip_duplicates: bool = False,
) -> InsertResult:
    """Write `records` in one transaction; all of them or (on any error) none.

    With `skip_duplicates`, a record whose (source, timestamp) is already stored is skipped and counted;
    without it, such a record fails the whole batch.
    """
    with transaction(conn):
        return write_metrics(
            conn, records, created_by=created_by, created_at=created_at, skip_duplicates=skip_duplicates
        )


def write_metrics(
    conn: sqlite3.Connection,
    records: Iterable[MetricRecord],
    *,
    created_by: bytes | None,
    created_at: int,
    skip_duplicates: bool = False,
) -> InsertResult:
    """`insert_metrics` inside a transaction the caller already holds."""
    sql = _INSERT_METRIC + (" ON CONFLICT (source, timestamp) DO NOTHING" if skip_duplicates else "")
    submitted = 0

    def rows() -> Iterator[tuple[object, ...]]:
        nonlocal submitted
        for record in records:
            submitted += 1
            yield encode_metric(record, created_at, created_by)

    before = conn.total_changes
    first_id = _next_id(conn, "metrics")
    conn.executemany(sql, rows())
    inserted = conn.total_changes - before
    return InsertResult(inserted=inserted, duplicates=submitted - inserted, first_id=first_id if inserted else None)


def _next_id(conn: sqlite3.Connection, table: str) -> int:
    """The id the next row of an AUTOINCREMENT table will get."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return int(row[0]) + 1 if row else 1


def database_id(conn: sqlite3.Connection) -> uuid.UUID:
    """The stable identity of this database file, made once when it is created."""
    row = conn.execute("SELECT database_id FROM local_identity").fetchone()
    return uuid.UUID(bytes=bytes(row[0]))


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Row count of each of the eight tables."""
    return {table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in TABLES}  # noqa: S608


def file_size(path: Path) -> int:
    """Bytes on disk of the database file and its write-ahead log."""
    total = 0
    for candidate in (path, Path(f"{path}-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += candidate.stat().st_size
    return total
