"""Schema migrations: a fresh file is current, an old file upgrades without losing a row, a failed
migration leaves nothing behind, and a file that is too new or not ours is refused and left untouched.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from scops_tui.errors import DatabaseError
from scops_tui.store import database as store
from scops_tui.store import migrations
from scops_tui.store.migrations import apply_migrations, current_version, latest_version, load_migrations

CHECKOUT = Path(__file__).resolve().parents[2]
ALICE = uuid.UUID(int=1).bytes
BOB = uuid.UUID(int=2).bytes


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def snapshot(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the eight tables, in rowid order, as the columns of schema version 1."""
    return {
        table: conn.execute(
            f"SELECT {', '.join(V1_ROWS[table][0])} FROM {table} ORDER BY rowid"  # noqa: S608
        ).fetchall()
        for table in store.TABLES
    }


# --- a fresh database -----------------------------------------------------------------------------------


def test_fresh_database_is_at_the_latest_version(conn: sqlite3.Connection) -> None:
    assert current_version(conn) == latest_version() >= 2
    recorded = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert recorded == [(m.version, m.name) for m in load_migrations()]
    assert recorded[:2] == [(1, "eight_tables"), (2, "identity_and_views")]


def test_migrations_are_numbered_without_gaps() -> None:
    found = load_migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert all(m.sql.strip() for m in found)


def copy_schema(tmp_path: Path, extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """A copy of the shipped sqlite migrations in `tmp_path`, with files added or removed."""
    target = tmp_path / "schema-copy" / "sqlite"
    shutil.copytree(migrations.schema_dir("sqlite"), target)
    for name in drop:
        (target / name).unlink()
    for name, sql in (extra or {}).items():
        (target / name).write_text(sql, encoding="utf-8")
    return target


def test_a_gap_in_the_numbering_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = sorted(p.name for p in migrations.schema_dir("sqlite").glob("*.sql"))
    gap = f"{len(shipped) + 2:04d}_after_a_gap.sql"
    directory = copy_schema(tmp_path, {gap: "CREATE TABLE after_gap (x INTEGER) STRICT;\n"})
    monkeypatch.setattr(migrations, "schema_dir", lambda dialect: directory)
    with pytest.raises(DatabaseError, match=r"not numbered 1\.\.N"):
        load_migrations()


# --- upgrade from version 1 -----------------------------------------------------------------------------

V1_ROWS: dict[str, list[dict[str, object]]] = {
    "users": [
        {
            "id": ALICE,
            "username": "alice",
            "email": "alice@example.org",
            "role": "admin",
            "is_active": 1,
            "last_login_at": 1_700_000_000_000,
            "created_at": 1_600_000_000_000,
            "updated_at": 1_650_000_000_000,
        },
        {
            "id": BOB,
            "username": "bob",
            "email": "bob@example.org",
            "role": "viewer",
            "is_active": 0,
            "last_login_at": None,
            "created_at": 1_600_000_000_001,
            "updated_at": 1_600_000_000_001,
        },
    ],
    "metrics": [
        {
            "id": 1,
            "timestamp": 1_700_000_000_123,
            "source": "web-1",
            "cpu_usage": 1234,
            "memory_usage": 10_000,
            "disk_usage": 0,
            "load_1m": 15_000,
            "load_5m": 12_345,
            "load_15m": None,
            "disk_io_read": 4096,
            "disk_io_write": 0,
            "network_rx": 123_456_789,
            "network_tx": 1,
            "response_time": 12_345,
            "error_rate": 7,
            "is_anomaly": 1,
            "anomaly_score": 9999,
            "created_at": 1_700_000_000_200,
            "created_by": ALICE,
        },
        {
            "id": 7,
            "timestamp": 1_700_000_001_000,
            "source": "web-1",
            "cpu_usage": 0,
            "memory_usage": 1,
            "disk_usage": 2,
            "load_1m": 0,
            "load_5m": 0,
            "load_15m": 3,
            "disk_io_read": 0,
            "disk_io_write": 0,
            "network_rx": 0,
            "network_tx": 0,
            "response_time": 0,
            "error_rate": None,
            "is_anomaly": 0,
            "anomaly_score": None,
            "created_at": 1_700_000_001_001,
            "created_by": None,
        },
    ],
    "ml_models": [
        {
            "id": 1,
            "model_name": "iforest",
            "model_type": "isolation_forest",
            "description": "baseline",
            "is_active": 1,
            "created_at": 1_690_000_000_000,
            "updated_at": 1_690_000_000_001,
            "created_by": ALICE,
        },
    ],
    "ml_model_versions": [
        {
            "id": 1,
            "model_id": 1,
            "version": "1.0.0",
            "training_timestamp": 1_690_000_000_000,
            "training_data_start": 1_680_000_000_000,
            "training_data_end": 1_689_999_999_999,
            "training_data_size": 100_000,
            "model_config": '{"n_estimators": 200, "contamination": 0.01}',
            "thresholds": '{"score": 0.62}',
            "accuracy": 0.97,
            "precision_score": 0.9,
            "recall_score": 0.8,
            "f1_score": 0.847,
            "model_path": "/models/iforest-1.0.0.joblib",
            "scaler_path": None,
            "status": "deployed",
            "is_deployed": 1,
            "deployment_notes": "first",
            "created_at": 1_690_000_000_002,
            "updated_at": 1_690_000_000_003,
            "created_by": ALICE,
        },
    ],
    "api_keys": [
        {
            "id": 1,
            "key_name": "ci",
            "key_hash": hashlib.sha256(b"secret").hexdigest(),
            "permissions": '["read", "write"]',
            "user_id": BOB,
            "description": None,
            "expires_at": 1_800_000_000_000,
            "last_used_at": 1_700_000_000_000,
            "usage_count": 42,
            "rate_limit_per_hour": 60,
            "is_active": 1,
            "created_at": 1_650_000_000_000,
            "updated_at": 1_650_000_000_000,
            "created_by": ALICE,
        },
    ],
    "api_key_usage": [
        {
            "id": 1,
            "api_key_id": 1,
            "endpoint": "/api/metrics",
            "method": "POST",
            "status_code": 201,
            "response_time_ms": 12,
            "request_size_bytes": 512,
            "response_size_bytes": 64,
            "ip_address": "2001:db8::1",
            "user_agent": "curl/8.5",
            "created_at": 1_700_000_000_000,
        },
    ],
    "model_predictions": [
        {
            "id": 1,
            "model_version_id": 1,
            "metrics_id": 1,
            "predicted_anomaly": 1,
            "confidence_score": 0.93,
            "prediction_time_ms": 0.42,
            "model_features": '{"cpu_usage": 12.34}',
            "actual_anomaly": 1,
            "feedback_provided_at": 1_700_000_100_000,
            "feedback_provided_by": BOB,
            "created_at": 1_700_000_000_300,
            "updated_at": 1_700_000_100_000,
        },
    ],
    "anomaly_predictions": [
        {
            "id": 1,
            "timestamp": 1_700_000_000_123,
            "source": "web-1",
            "anomaly_detected": 1,
            "severity": "critical",
            "confidence_score": 0.93,
            "model_name": "iforest",
            "model_version": "1.0.0",
            "alert_sent": 1,
            "acknowledged": 1,
            "acknowledged_by": BOB,
            "acknowledged_at": 1_700_000_200_000,
            "resolution_notes": "noisy neighbour",
            "created_at": 1_700_000_000_400,
            "updated_at": 1_700_000_200_000,
        },
        {
            "id": 2,
            "timestamp": 1_700_000_001_000,
            "source": "web-1",
            "anomaly_detected": 0,
            "severity": None,
            "confidence_score": 0.1,
            "model_name": "iforest",
            "model_version": "1.0.0",
            "alert_sent": 0,
            "acknowledged": 0,
            "acknowledged_by": None,
            "acknowledged_at": None,
            "resolution_notes": None,
            "created_at": 1_700_000_001_100,
            "updated_at": 1_700_000_001_100,
        },
    ],
}


def make_version_1_file(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """A database at schema version 1 holding V1_ROWS; returns its snapshot."""
    conn = store.connect(path)
    try:
        assert [m.version for m in apply_migrations(conn, target=1)] == [1]
        assert current_version(conn) == 1
        assert not table_exists(conn, "local_identity")
        with store.transaction(conn):
            for table in store.TABLES:
                for row in V1_ROWS[table]:
                    conn.execute(
                        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
                        tuple(row.values()),
                    )
        return snapshot(conn)
    finally:
        conn.close()


def test_upgrade_from_version_1_keeps_every_row(db_path: Path) -> None:
    before = make_version_1_file(db_path)
    assert all(before[table] for table in store.TABLES)

    conn = store.open_database(db_path)
    try:
        after = snapshot(conn)
        for table in store.TABLES:
            if table != "users":
                assert after[table] == before[table], table
        assert after["users"][: len(before["users"])] == before["users"]
        seeded = {row[1] for row in after["users"][len(before["users"]) :]}
        assert seeded == {store.SYSTEM_USERNAME, store.operator_username()}

        assert current_version(conn) == latest_version()
        identity = conn.execute("SELECT database_id FROM local_identity").fetchall()
        assert len(identity) == 1
        assert isinstance(identity[0][0], bytes)
        assert len(identity[0][0]) == 16

        readable = conn.execute(
            "SELECT id, timestamp, cpu_usage, load_15m, created_by FROM metrics_readable ORDER BY id"
        ).fetchall()
        assert readable == [
            (1, "2023-11-14T22:13:20.123Z", 12.34, None, "alice"),
            (7, "2023-11-14T22:13:21.000Z", 0.0, 0.0003, None),
        ]
    finally:
        conn.close()


def test_upgraded_database_keeps_its_identity_when_reopened(db_path: Path) -> None:
    make_version_1_file(db_path)
    conn = store.open_database(db_path)
    first = store.database_id(conn)
    conn.close()
    reader = store.open_reader(db_path)
    try:
        assert store.database_id(reader) == first
        assert current_version(reader) == latest_version()
    finally:
        reader.close()


def test_opening_without_upgrade_refuses_an_old_file(db_path: Path) -> None:
    make_version_1_file(db_path)
    with pytest.raises(DatabaseError, match="db upgrade"):
        store.open_database(db_path, upgrade=False)
    conn = store.connect(db_path)
    try:
        assert current_version(conn) == 1
    finally:
        conn.close()


# --- a migration that fails -----------------------------------------------------------------------------

BROKEN = (
    "-- a migration whose second statement fails\n"
    "CREATE TABLE broken_probe (x INTEGER) STRICT;\n"
    "INSERT INTO no_such_table VALUES (1);\n"
)


@pytest.fixture
def broken_third_migration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the program see the shipped migrations 1 and 2 plus a broken 0003."""
    shipped = sorted(p.name for p in migrations.schema_dir("sqlite").glob("*.sql"))
    directory = copy_schema(tmp_path, {"0003_broken.sql": BROKEN}, drop=tuple(shipped[2:]))
    monkeypatch.setattr(migrations, "schema_dir", lambda dialect: directory)
    assert latest_version() == 3
    return directory


def assert_left_at_version_2(conn: sqlite3.Connection) -> None:
    assert current_version(conn) == 2
    assert not table_exists(conn, "broken_probe")
    assert [row[0] for row in conn.execute("SELECT version FROM schema_migrations")] == [1, 2]
    assert not conn.in_transaction


@pytest.mark.usefixtures("broken_third_migration")
def test_failed_migration_is_rolled_back_whole(db_path: Path) -> None:
    conn = store.connect(db_path)
    try:
        apply_migrations(conn, target=2)
        assert current_version(conn) == 2
        with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
            apply_migrations(conn)
        assert_left_at_version_2(conn)
    finally:
        conn.close()


@pytest.mark.usefixtures("broken_third_migration")
def test_fresh_file_keeps_the_migrations_before_the_failed_one(db_path: Path) -> None:
    conn = store.connect(db_path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
            apply_migrations(conn)
        assert_left_at_version_2(conn)
    finally:
        conn.close()


@pytest.mark.usefixtures("broken_third_migration")
def test_open_database_reports_a_failed_migration(db_path: Path) -> None:
    conn = store.connect(db_path)
    apply_migrations(conn, target=2)
    conn.close()
    with pytest.raises(DatabaseError, match="no_such_table"):
        store.open_database(db_path)
    conn = store.connect(db_path)
    try:
        assert_left_at_version_2(conn)
    finally:
        conn.close()


# --- files that must be refused and left untouched ------------------------------------------------------


def make_newer_file(path: Path, journal_mode: str) -> None:
    conn = store.open_database(path)
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', 0)",
        (latest_version() + 1,),
    )
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.close()


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_newer_database_is_refused_by_open_database(db_path: Path, journal_mode: str) -> None:
    make_newer_file(db_path, journal_mode)
    digest = sha256(db_path)
    with pytest.raises(DatabaseError, match="newer"):
        store.open_database(db_path)
    assert sha256(db_path) == digest


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_newer_database_is_refused_by_open_reader(db_path: Path, journal_mode: str) -> None:
    make_newer_file(db_path, journal_mode)
    digest = sha256(db_path)
    with pytest.raises(DatabaseError, match="newer"):
        store.open_reader(db_path)
    assert sha256(db_path) == digest


def write_random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(8192))


def write_text(path: Path) -> None:
    path.write_text("these are my notes, not a database\n" * 50, encoding="utf-8")


def write_foreign_sqlite(path: Path) -> None:
    """An SQLite file made by some other program (default rollback journal, no schema_migrations)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.commit()
    conn.close()


FOREIGN_FILES = [
    pytest.param(write_random_bytes, id="random-bytes"),
    pytest.param(write_text, id="text"),
]


@pytest.mark.parametrize("make", [*FOREIGN_FILES, pytest.param(write_foreign_sqlite, id="foreign-sqlite")])
def test_foreign_file_is_refused_by_open_database(db_path: Path, make: Callable[[Path], None]) -> None:
    make(db_path)
    digest = sha256(db_path)
    with pytest.raises(DatabaseError, match="not"):
        store.open_database(db_path)
    assert sha256(db_path) == digest


@pytest.mark.parametrize("make", [*FOREIGN_FILES, pytest.param(write_foreign_sqlite, id="foreign-sqlite")])
def test_foreign_file_is_refused_by_open_reader(db_path: Path, make: Callable[[Path], None]) -> None:
    make(db_path)
    digest = sha256(db_path)
    with pytest.raises(DatabaseError, match="not"):
        store.open_reader(db_path)
    assert sha256(db_path) == digest


def test_foreign_sqlite_file_is_refused_with_a_clear_reason(db_path: Path) -> None:
    write_foreign_sqlite(db_path)
    with pytest.raises(DatabaseError, match="not a scops-tui one"):
        store.open_database(db_path)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
        assert conn.execute("SELECT body FROM notes").fetchall() == [("keep me",)]
    finally:
        conn.close()


# --- packaging ------------------------------------------------------------------------------------------


def test_migrations_ship_inside_the_wheel(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(CHECKOUT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("scops_tui-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "scops_tui/schema/sqlite/0001_eight_tables.sql" in names
        for migration in sorted((CHECKOUT / "schema" / "sqlite").glob("*.sql")):
            shipped = archive.read(f"scops_tui/schema/sqlite/{migration.name}")
            assert shipped == migration.read_bytes()
