"""The SQLite schema (schema/sqlite/0001_eight_tables.sql) refuses every wrong row and keeps every right one.

Each constraint is tested from both sides: a row that breaks it is refused with `sqlite3.IntegrityError` and
leaves the table's row count unchanged, and the same row without the fault (or the boundary value just
inside the range) is accepted, so a rejection can only pass because of the constraint under test.
Meta-tests read the live schema (PRAGMA table_info / index_list / foreign_key_list and the CREATE
statements) to prove the case lists below cover every NOT NULL, UNIQUE, foreign key and CHECK.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scops_tui.store import database as store
from scops_tui.store.migrations import apply_migrations
from scops_tui.store.records import MetricRecord
from scops_tui.store.timestamps import iso

Row = dict[str, Any]

_serial = itertools.count(1)
"""Makes every generated name, hash and timestamp unique within a test."""

BASE_MS = 1_700_000_000_000
MISSING_USER = uuid.UUID(int=0xDEAD).bytes
MISSING_ID = 987_654


# --- valid rows, with their parent chains -----------------------------------------------------------------


def system_id(conn: sqlite3.Connection) -> bytes:
    return store.user_id(conn, store.SYSTEM_USERNAME)


def insert(conn: sqlite3.Connection, table: str, row: Row) -> int:
    """Insert `row` into `table`; return its rowid."""
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    cursor = conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))  # noqa: S608
    return int(cursor.lastrowid or 0)


def count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def user_row(conn: sqlite3.Connection) -> Row:
    n = next(_serial)
    return {
        "id": uuid.uuid4().bytes,
        "username": f"user{n}",
        "email": f"user{n}@example.org",
        "role": "viewer",
    }


def metrics_row(conn: sqlite3.Connection) -> Row:
    n = next(_serial)
    return {
        "timestamp": BASE_MS + n * 1000,
        "source": f"host-{n}",
        "cpu_usage": 1234,
        "memory_usage": 5000,
        "disk_usage": 7000,
        "load_1m": 15_000,
        "load_5m": 12_000,
        "load_15m": 10_000,
        "disk_io_read": 4096,
        "disk_io_write": 8192,
        "network_rx": 1000,
        "network_tx": 2000,
        "response_time": 12_345,
        "error_rate": 25,
        "is_anomaly": 0,
        "anomaly_score": 1500,
        "created_by": system_id(conn),
    }


def ml_models_row(conn: sqlite3.Connection) -> Row:
    n = next(_serial)
    return {"model_name": f"model{n}", "model_type": "isolation_forest", "created_by": system_id(conn)}


def ml_model_versions_row(conn: sqlite3.Connection) -> Row:
    n = next(_serial)
    return {
        "model_id": insert(conn, "ml_models", ml_models_row(conn)),
        "version": f"1.{n}",
        "training_timestamp": BASE_MS,
        "training_data_start": BASE_MS - 86_400_000,
        "training_data_end": BASE_MS,
        "training_data_size": 1440,
        "model_config": '{"n_estimators": 100}',
        "thresholds": '{"score": 0.5}',
        "created_by": system_id(conn),
    }


def api_keys_row(conn: sqlite3.Connection) -> Row:
    n = next(_serial)
    return {
        "key_name": f"key{n}",
        "key_hash": hashlib.sha256(str(n).encode()).hexdigest(),
        "permissions": '["read"]',
        "user_id": system_id(conn),
        "created_by": system_id(conn),
    }


def api_key_usage_row(conn: sqlite3.Connection) -> Row:
    key_id = insert(conn, "api_keys", api_keys_row(conn))
    return {"api_key_id": key_id, "endpoint": "/metrics", "method": "GET", "status_code": 200}


def model_predictions_row(conn: sqlite3.Connection) -> Row:
    return {
        "model_version_id": insert(conn, "ml_model_versions", ml_model_versions_row(conn)),
        "metrics_id": insert(conn, "metrics", metrics_row(conn)),
        "predicted_anomaly": 0,
        "confidence_score": 0.5,
        "prediction_time_ms": 1.5,
        "model_features": '{"cpu_usage": 12.34}',
    }


def anomaly_predictions_row(conn: sqlite3.Connection) -> Row:
    n = next(_serial)
    return {
        "timestamp": BASE_MS + n,
        "source": "host-a",
        "anomaly_detected": 1,
        "severity": "high",
        "confidence_score": 0.9,
        "model_name": "isolation_forest",
        "model_version": "1.0",
    }


VALID_ROW: dict[str, Callable[[sqlite3.Connection], Row]] = {
    "users": user_row,
    "metrics": metrics_row,
    "ml_models": ml_models_row,
    "ml_model_versions": ml_model_versions_row,
    "api_keys": api_keys_row,
    "api_key_usage": api_key_usage_row,
    "model_predictions": model_predictions_row,
    "anomaly_predictions": anomaly_predictions_row,
}


class System:
    """Placeholder in a case for the `system` user's id (known only once the database exists)."""


def resolve(conn: sqlite3.Connection, changes: Row) -> Row:
    return {key: system_id(conn) if value is System else value for key, value in changes.items()}


def assert_refused(conn: sqlite3.Connection, table: str, row: Row, message: str = "") -> None:
    """`row` is refused with an IntegrityError and the table keeps its row count."""
    before = count(conn, table)
    with pytest.raises(sqlite3.IntegrityError, match=message):
        insert(conn, table, row)
    assert count(conn, table) == before


def assert_accepted(conn: sqlite3.Connection, table: str, row: Row) -> None:
    """`row` is stored, with the values given."""
    before = count(conn, table)
    rowid = insert(conn, table, row)
    assert count(conn, table) == before + 1
    stored = conn.execute(
        f"SELECT {', '.join(row)} FROM {table} WHERE rowid = ?",  # noqa: S608
        (rowid,),
    ).fetchone()
    assert stored == tuple(row.values())


def label(value: Any) -> str:
    if value is System:
        return "system"
    if isinstance(value, str | bytes) and len(value) > 16:
        return f"<{len(value)} {type(value).__name__}>"
    return repr(value)


def case(table: str, changes: Row) -> Any:
    """One parametrised case: `changes` applied to a valid row of `table`."""
    return pytest.param(table, changes, id=f"{table}:" + ",".join(f"{k}={label(v)}" for k, v in changes.items()))


@pytest.fixture
def v1(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A database with only migration 0001 applied: the schema whose constraints this module covers."""
    connection = store.connect(tmp_path / "v1.db")
    apply_migrations(connection, target=1)
    yield connection
    connection.close()


def test_every_valid_row_is_accepted(conn: sqlite3.Connection) -> None:
    for table, make in VALID_ROW.items():
        assert_accepted(conn, table, make(conn))


# --- CHECK constraints ----------------------------------------------------------------------------------

PERCENT_X100 = ("cpu_usage", "memory_usage", "disk_usage", "error_rate", "anomaly_score")
NON_NEGATIVE_METRICS = (
    "timestamp",
    "load_1m",
    "load_5m",
    "load_15m",
    "disk_io_read",
    "disk_io_write",
    "network_rx",
    "network_tx",
    "response_time",
    "created_at",
)
TIMESTAMPS = {
    "users": ("last_login_at", "created_at", "updated_at"),
    "ml_models": ("created_at", "updated_at"),
    "ml_model_versions": ("training_timestamp", "created_at", "updated_at"),
    "api_keys": ("expires_at", "last_used_at", "created_at", "updated_at"),
    "api_key_usage": ("created_at",),
    "model_predictions": ("created_at", "updated_at"),
    "anomaly_predictions": ("timestamp", "acknowledged_at", "created_at", "updated_at"),
}
FLAGS = {
    "users": ("is_active",),
    "metrics": ("is_anomaly",),
    "ml_models": ("is_active",),
    "api_keys": ("is_active",),
    "model_predictions": ("predicted_anomaly",),
    "anomaly_predictions": ("anomaly_detected", "alert_sent", "acknowledged"),
}
TEXT_LENGTHS = {  # (table, column): (shortest allowed, longest allowed)
    ("users", "username"): (1, 100),
    ("users", "email"): (3, 255),
    ("metrics", "source"): (1, 100),
    ("ml_models", "model_name"): (1, 100),
    ("ml_model_versions", "version"): (1, 20),
    ("ml_model_versions", "model_path"): (0, 500),
    ("ml_model_versions", "scaler_path"): (0, 500),
    ("api_keys", "key_name"): (1, 100),
    ("api_key_usage", "endpoint"): (1, 200),
    ("api_key_usage", "method"): (1, 10),
    ("api_key_usage", "ip_address"): (0, 45),
    ("anomaly_predictions", "source"): (1, 100),
    ("anomaly_predictions", "model_name"): (1, 100),
    ("anomaly_predictions", "model_version"): (1, 20),
}
UNIT_INTERVAL = {
    "ml_model_versions": ("accuracy", "precision_score", "recall_score", "f1_score"),
    "model_predictions": ("confidence_score",),
    "anomaly_predictions": ("confidence_score",),
}
ACKNOWLEDGED = {"acknowledged": 1, "acknowledged_by": System, "acknowledged_at": BASE_MS}
"""A correctly acknowledged anomaly."""
FEEDBACK = {"actual_anomaly": 1, "feedback_provided_at": BASE_MS, "feedback_provided_by": System}
"""A prediction with correct feedback."""


CHECK_REFUSED = [
    # users
    case("users", {"id": b"\x01" * 15}),
    case("users", {"id": b"\x01" * 17}),
    case("users", {"role": "root"}),
    case("users", {"role": "Admin"}),
    case("users", {"role": ""}),
    # metrics: percentages x 100 and scores x 10000 are 0..10000, the rest >= 0
    *(case("metrics", {column: bad}) for column in PERCENT_X100 for bad in (-1, 10_001)),
    *(case("metrics", {column: -1}) for column in NON_NEGATIVE_METRICS),
    # ml_models
    case("ml_models", {"model_type": "lstm"}),
    case("ml_models", {"model_type": "Prophet"}),
    # ml_model_versions
    case("ml_model_versions", {"training_data_start": -1}),
    case("ml_model_versions", {"training_data_end": BASE_MS - 86_400_000 - 1}),
    case("ml_model_versions", {"training_data_size": 0}),
    case("ml_model_versions", {"training_data_size": -1}),
    case("ml_model_versions", {"model_config": "not json"}),
    case("ml_model_versions", {"model_config": ""}),
    case("ml_model_versions", {"model_config": "{'single': 'quotes'}"}),
    case("ml_model_versions", {"thresholds": "{"}),
    case("ml_model_versions", {"status": "live"}),
    case("ml_model_versions", {"status": "deployed"}),  # is_deployed stays 0
    case("ml_model_versions", {"status": "ready", "is_deployed": 1}),
    case("ml_model_versions", {"is_deployed": 1}),  # status stays 'training'
    case("ml_model_versions", {"status": "deployed", "is_deployed": 2}),
    # api_keys
    case("api_keys", {"key_hash": "a" * 63}),
    case("api_keys", {"key_hash": "a" * 65}),
    case("api_keys", {"key_hash": "A" * 64}),
    case("api_keys", {"key_hash": "g" * 64}),
    case("api_keys", {"key_hash": "a" * 63 + " "}),
    case("api_keys", {"key_hash": ""}),
    case("api_keys", {"permissions": "not json"}),
    case("api_keys", {"permissions": '{"read": true}'}),
    case("api_keys", {"permissions": '"read"'}),
    case("api_keys", {"permissions": "null"}),
    case("api_keys", {"usage_count": -1}),
    case("api_keys", {"rate_limit_per_hour": 0}),
    case("api_keys", {"rate_limit_per_hour": -5}),
    # api_key_usage
    case("api_key_usage", {"status_code": 99}),
    case("api_key_usage", {"status_code": 600}),
    case("api_key_usage", {"response_time_ms": -1}),
    case("api_key_usage", {"request_size_bytes": -1}),
    case("api_key_usage", {"response_size_bytes": -1}),
    # model_predictions
    case("model_predictions", {"prediction_time_ms": -0.001}),
    case("model_predictions", {"model_features": "not json"}),
    case("model_predictions", {"actual_anomaly": 1}),  # feedback without its time
    case("model_predictions", {"feedback_provided_at": BASE_MS}),  # a time without feedback
    case("model_predictions", {**FEEDBACK, "actual_anomaly": 2}),
    case("model_predictions", {**FEEDBACK, "feedback_provided_at": -1}),
    # anomaly_predictions
    case("anomaly_predictions", {"severity": "urgent"}),
    case("anomaly_predictions", {"severity": "HIGH"}),
    case("anomaly_predictions", {"acknowledged": 1}),
    case("anomaly_predictions", {"acknowledged": 1, "acknowledged_by": System}),
    case("anomaly_predictions", {"acknowledged": 1, "acknowledged_at": BASE_MS}),
    # every timestamp >= 0, every flag 0 or 1, every length range, every 0..1 score
    *(case(table, {column: -1}) for table, columns in TIMESTAMPS.items() for column in columns),
    *(case(table, {column: bad}) for table, columns in FLAGS.items() for column in columns for bad in (-1, 2)),
    *(
        case(table, {column: "x" * bad})
        for (table, column), (low, high) in TEXT_LENGTHS.items()
        for bad in ((low - 1, high + 1) if low else (high + 1,))
    ),
    *(
        case(table, {column: bad})
        for table, columns in UNIT_INTERVAL.items()
        for column in columns
        for bad in (-0.01, 1.01)
    ),
]

CHECK_ACCEPTED = [
    case("users", {"role": "admin"}),
    case("users", {"role": "operator"}),
    case("users", {"role": "viewer"}),
    *(case("metrics", {column: good}) for column in PERCENT_X100 for good in (0, 10_000)),
    *(case("metrics", {column: 0}) for column in NON_NEGATIVE_METRICS),
    *(case("metrics", {column: None}) for column in ("load_15m", "error_rate", "anomaly_score")),
    *(
        case("ml_models", {"model_type": kind})
        for kind in ("isolation_forest", "prophet", "rule_based", "ensemble", "robust_statistical")
    ),
    case("ml_model_versions", {"training_data_start": 0, "training_data_end": 0}),
    case("ml_model_versions", {"training_data_end": BASE_MS - 86_400_000}),  # end == start
    case("ml_model_versions", {"training_data_size": 1}),
    case("ml_model_versions", {"model_config": "{}", "thresholds": "[]"}),
    *(case("ml_model_versions", {"status": status}) for status in ("training", "ready", "deprecated")),
    case("ml_model_versions", {"status": "deployed", "is_deployed": 1}),
    case("api_keys", {"key_hash": "0123456789abcdef" * 4}),
    case("api_keys", {"permissions": "[]"}),
    case("api_keys", {"permissions": '["read", "write"]'}),
    case("api_keys", {"usage_count": 0, "rate_limit_per_hour": 1}),
    case("api_keys", {"rate_limit_per_hour": None, "user_id": None, "created_by": None}),
    case("api_key_usage", {"status_code": 100}),
    case("api_key_usage", {"status_code": 599}),
    case("api_key_usage", {"response_time_ms": 0, "request_size_bytes": 0, "response_size_bytes": 0}),
    case("model_predictions", {"prediction_time_ms": 0.0}),
    case("model_predictions", {"model_features": '{"cpu_usage": 12.34}'}),
    case("model_predictions", FEEDBACK),
    case("model_predictions", {**FEEDBACK, "actual_anomaly": 0, "feedback_provided_at": 0}),
    case("model_predictions", {"metrics_id": None}),
    *(case("anomaly_predictions", {"severity": s}) for s in ("low", "medium", "high", "critical", None)),
    case("anomaly_predictions", ACKNOWLEDGED),
    case("anomaly_predictions", {**ACKNOWLEDGED, "acknowledged_at": 0}),
    case("anomaly_predictions", {"acknowledged": 0, "acknowledged_by": System, "acknowledged_at": 0}),
    *(case(table, {column: 0}) for table, columns in TIMESTAMPS.items() for column in columns),
    *(
        case(table, {column: good})
        for table, columns in FLAGS.items()
        for column in columns
        for good in (0, 1)
        if (column, good) != ("acknowledged", 1)  # ACKNOWLEDGED above, with its user and time
    ),
    *(
        case(table, {column: "x" * good})
        for (table, column), (low, high) in TEXT_LENGTHS.items()
        for good in (low, high)
    ),
    *(
        case(table, {column: good})
        for table, columns in UNIT_INTERVAL.items()
        for column in columns
        for good in (0.0, 1.0)
    ),
]


@pytest.mark.parametrize(("table", "changes"), CHECK_REFUSED)
def test_check_refuses_wrong_row(conn: sqlite3.Connection, table: str, changes: Row) -> None:
    good = VALID_ROW[table](conn)
    assert_refused(conn, table, {**good, **resolve(conn, changes)}, "CHECK constraint failed")
    assert_accepted(conn, table, good)


@pytest.mark.parametrize(("table", "changes"), CHECK_ACCEPTED)
def test_check_accepts_boundary_row(conn: sqlite3.Connection, table: str, changes: Row) -> None:
    assert_accepted(conn, table, {**VALID_ROW[table](conn), **resolve(conn, changes)})


def test_model_features_may_be_null(conn: sqlite3.Connection) -> None:
    """json_valid(NULL) is 0 before SQLite 3.45, so the CHECK must allow NULL itself."""
    assert_accepted(conn, "model_predictions", {**model_predictions_row(conn), "model_features": None})


# --- STRICT column types --------------------------------------------------------------------------------

STRICT_REFUSED = [
    case("users", {"id": "0123456789abcdef"}),
    case("users", {"is_active": "yes"}),
    case("metrics", {"cpu_usage": 12.34}),  # a DECIMAL must arrive scaled to an exact integer
    case("metrics", {"cpu_usage": "high"}),
    case("metrics", {"timestamp": "2024-01-01T00:00:00Z"}),
    case("metrics", {"created_by": "system"}),
    case("ml_model_versions", {"accuracy": "good"}),
    case("api_key_usage", {"status_code": 200.5}),
    case("model_predictions", {"confidence_score": b"\x00"}),
    case("anomaly_predictions", {"source": b"host-a"}),
]


@pytest.mark.parametrize(("table", "changes"), STRICT_REFUSED)
def test_strict_table_refuses_wrong_type(conn: sqlite3.Connection, table: str, changes: Row) -> None:
    good = VALID_ROW[table](conn)
    assert_refused(conn, table, {**good, **changes}, r"cannot store \w+ value in \w+ column")
    assert_accepted(conn, table, good)


def test_every_table_is_strict(v1: sqlite3.Connection) -> None:
    strict = {row[1]: row[5] for row in v1.execute("PRAGMA table_list") if row[1] in store.TABLES}
    assert strict == dict.fromkeys(store.TABLES, 1)


# --- NOT NULL -------------------------------------------------------------------------------------------

NOT_NULL = {
    "users": ("id", "username", "email", "role", "is_active", "created_at", "updated_at"),
    "metrics": (
        "timestamp",
        "source",
        "cpu_usage",
        "memory_usage",
        "disk_usage",
        "load_1m",
        "load_5m",
        "disk_io_read",
        "disk_io_write",
        "network_rx",
        "network_tx",
        "response_time",
        "is_anomaly",
        "created_at",
    ),
    "ml_models": ("model_name", "model_type", "is_active", "created_at", "updated_at", "created_by"),
    "ml_model_versions": (
        "model_id",
        "version",
        "training_timestamp",
        "training_data_start",
        "training_data_end",
        "training_data_size",
        "model_config",
        "thresholds",
        "status",
        "is_deployed",
        "created_at",
        "updated_at",
        "created_by",
    ),
    "api_keys": (
        "key_name",
        "key_hash",
        "permissions",
        "usage_count",
        "is_active",
        "created_at",
        "updated_at",
    ),
    "api_key_usage": ("api_key_id", "endpoint", "method", "status_code", "created_at"),
    "model_predictions": (
        "model_version_id",
        "predicted_anomaly",
        "confidence_score",
        "prediction_time_ms",
        "created_at",
        "updated_at",
    ),
    "anomaly_predictions": (
        "timestamp",
        "source",
        "anomaly_detected",
        "confidence_score",
        "model_name",
        "model_version",
        "alert_sent",
        "acknowledged",
        "created_at",
        "updated_at",
    ),
}


@pytest.mark.parametrize(
    ("table", "column"),
    [pytest.param(t, c, id=f"{t}.{c}") for t, columns in NOT_NULL.items() for c in columns],
)
def test_not_null_refuses_null(conn: sqlite3.Connection, table: str, column: str) -> None:
    good = VALID_ROW[table](conn)
    assert_refused(conn, table, {**good, column: None}, f"NOT NULL constraint failed: {table}.{column}")
    assert_accepted(conn, table, good)


def test_not_null_cases_cover_every_not_null_column(v1: sqlite3.Connection) -> None:
    in_schema = {
        table: {row[1] for row in v1.execute(f"PRAGMA table_info({table})") if row[3]} for table in store.TABLES
    }
    assert in_schema == {table: set(columns) for table, columns in NOT_NULL.items()}


# --- UNIQUE ---------------------------------------------------------------------------------------------

UNIQUE = [
    pytest.param("users", ("id",), id="users.id"),
    pytest.param("users", ("username",), id="users.username"),
    pytest.param("users", ("email",), id="users.email"),
    pytest.param("ml_models", ("model_name",), id="ml_models.model_name"),
    pytest.param("ml_model_versions", ("model_id", "version"), id="ml_model_versions.model_id+version"),
    pytest.param("api_keys", ("key_hash",), id="api_keys.key_hash"),
    pytest.param("metrics", ("source", "timestamp"), id="metrics.source+timestamp"),
]


@pytest.mark.parametrize(("table", "columns"), UNIQUE)
def test_unique_refuses_duplicate(conn: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> None:
    first = VALID_ROW[table](conn)
    insert(conn, table, first)
    second = VALID_ROW[table](conn)
    copied = {column: first[column] for column in columns}
    assert_refused(conn, table, {**second, **copied}, "UNIQUE constraint failed")
    assert_accepted(conn, table, second)


@pytest.mark.parametrize(("table", "columns"), [p for p in UNIQUE if len(p.values[1]) == 2])
def test_composite_unique_accepts_a_repeat_of_one_column(
    conn: sqlite3.Connection, table: str, columns: tuple[str, ...]
) -> None:
    first = VALID_ROW[table](conn)
    insert(conn, table, first)
    for column in columns:
        assert_accepted(conn, table, {**VALID_ROW[table](conn), column: first[column]})


def test_only_one_deployed_version_per_model(conn: sqlite3.Connection) -> None:
    deployed = {"status": "deployed", "is_deployed": 1}
    first = {**ml_model_versions_row(conn), **deployed}
    insert(conn, "ml_model_versions", first)
    same_model = {**ml_model_versions_row(conn), "model_id": first["model_id"]}
    assert_refused(conn, "ml_model_versions", {**same_model, **deployed}, "UNIQUE constraint failed")
    assert_accepted(conn, "ml_model_versions", {**same_model, "status": "ready"})
    assert_accepted(conn, "ml_model_versions", {**ml_model_versions_row(conn), **deployed})  # another model


def test_unique_cases_cover_every_unique_index(v1: sqlite3.Connection) -> None:
    in_schema = set()
    for table in store.TABLES:
        for _seq, index, unique, origin, partial in v1.execute(f"PRAGMA index_list({table})"):
            if unique and not partial:
                columns = tuple(row[2] for row in v1.execute(f"PRAGMA index_info({index})"))
                in_schema.add((table, columns, origin))
    assert {(table, columns) for table, columns, _origin in in_schema} == {tuple(p.values) for p in UNIQUE}
    partial_unique = {
        row[1] for table in store.TABLES for row in v1.execute(f"PRAGMA index_list({table})") if row[2] and row[4]
    }
    assert partial_unique == {"idx_ml_model_versions_one_deployed"}


# --- foreign keys ---------------------------------------------------------------------------------------

FOREIGN_KEYS = [
    case("metrics", {"created_by": MISSING_USER}),
    case("ml_models", {"created_by": MISSING_USER}),
    case("ml_model_versions", {"model_id": MISSING_ID}),
    case("ml_model_versions", {"created_by": MISSING_USER}),
    case("api_keys", {"user_id": MISSING_USER}),
    case("api_keys", {"created_by": MISSING_USER}),
    case("api_key_usage", {"api_key_id": MISSING_ID}),
    case("model_predictions", {"model_version_id": MISSING_ID}),
    case("model_predictions", {"metrics_id": MISSING_ID}),
    case("model_predictions", {**FEEDBACK, "feedback_provided_by": MISSING_USER}),
    case("anomaly_predictions", {**ACKNOWLEDGED, "acknowledged_by": MISSING_USER}),
]


@pytest.mark.parametrize(("table", "changes"), FOREIGN_KEYS)
def test_foreign_key_refuses_missing_parent(conn: sqlite3.Connection, table: str, changes: Row) -> None:
    good = VALID_ROW[table](conn)
    assert_refused(conn, table, {**good, **resolve(conn, changes)}, "FOREIGN KEY constraint failed")
    existing = {
        column: good.get(column, System) if value in (MISSING_USER, MISSING_ID) else value
        for column, value in changes.items()
    }
    assert_accepted(conn, table, {**good, **resolve(conn, existing)})


def test_foreign_key_cases_cover_every_foreign_key(v1: sqlite3.Connection) -> None:
    in_schema = {(table, row[3]) for table in store.TABLES for row in v1.execute(f"PRAGMA foreign_key_list({table})")}
    covered = {
        (p.values[0], column)
        for p in FOREIGN_KEYS
        for column, value in p.values[1].items()
        if value in (MISSING_USER, MISSING_ID)
    }
    assert in_schema == covered


# --- ON DELETE rules ------------------------------------------------------------------------------------


def test_deleting_a_model_deletes_its_versions(conn: sqlite3.Connection) -> None:
    version = ml_model_versions_row(conn)
    insert(conn, "ml_model_versions", version)
    insert(conn, "ml_model_versions", {**ml_model_versions_row(conn), "model_id": version["model_id"]})
    other = insert(conn, "ml_model_versions", ml_model_versions_row(conn))
    conn.execute("DELETE FROM ml_models WHERE id = ?", (version["model_id"],))
    assert [row[0] for row in conn.execute("SELECT id FROM ml_model_versions")] == [other]


def test_deleting_an_api_key_deletes_its_usage(conn: sqlite3.Connection) -> None:
    usage = api_key_usage_row(conn)
    insert(conn, "api_key_usage", usage)
    insert(conn, "api_key_usage", {**usage, "endpoint": "/health"})
    other = insert(conn, "api_key_usage", api_key_usage_row(conn))
    conn.execute("DELETE FROM api_keys WHERE id = ?", (usage["api_key_id"],))
    assert [row[0] for row in conn.execute("SELECT id FROM api_key_usage")] == [other]


def test_deleting_metrics_keeps_the_prediction_without_its_metrics(conn: sqlite3.Connection) -> None:
    prediction = model_predictions_row(conn)
    prediction_id = insert(conn, "model_predictions", prediction)
    conn.execute("DELETE FROM metrics WHERE id = ?", (prediction["metrics_id"],))
    assert conn.execute("SELECT metrics_id FROM model_predictions WHERE id = ?", (prediction_id,)).fetchone() == (None,)


def test_deleting_a_user_who_created_metrics_is_refused(conn: sqlite3.Connection) -> None:
    author = user_row(conn)
    insert(conn, "users", author)
    insert(conn, "metrics", {**metrics_row(conn), "created_by": author["id"]})
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        conn.execute("DELETE FROM users WHERE id = ?", (author["id"],))
    assert count(conn, "users") == 3
    conn.execute("DELETE FROM metrics")
    conn.execute("DELETE FROM users WHERE id = ?", (author["id"],))  # allowed once nothing refers to it
    assert count(conn, "users") == 2


def test_deleting_a_version_with_predictions_is_refused(conn: sqlite3.Connection) -> None:
    prediction = model_predictions_row(conn)
    insert(conn, "model_predictions", prediction)
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        conn.execute("DELETE FROM ml_model_versions WHERE id = ?", (prediction["model_version_id"],))
    assert count(conn, "ml_model_versions") == 1
    conn.execute("DELETE FROM model_predictions")
    conn.execute("DELETE FROM ml_model_versions WHERE id = ?", (prediction["model_version_id"],))
    assert count(conn, "ml_model_versions") == 0


# --- updated_at triggers --------------------------------------------------------------------------------

MUTABLE = {  # table: an UPDATE of some other column
    "users": "role = 'operator'",
    "ml_models": "description = 'retrained'",
    "ml_model_versions": "deployment_notes = 'canary'",
    "api_keys": "description = 'rotated'",
    "model_predictions": "prediction_time_ms = 2.5",
    "anomaly_predictions": "resolution_notes = 'disk replaced'",
}
OLD_MS = 1_000


def updated_at(conn: sqlite3.Connection, table: str, rowid: int) -> int:
    return int(conn.execute(f"SELECT updated_at FROM {table} WHERE rowid = ?", (rowid,)).fetchone()[0])  # noqa: S608


@pytest.mark.parametrize("table", list(MUTABLE))
def test_update_advances_updated_at(conn: sqlite3.Connection, table: str) -> None:
    rowid = insert(conn, table, VALID_ROW[table](conn))
    conn.execute(f"UPDATE {table} SET updated_at = ? WHERE rowid = ?", (OLD_MS, rowid))  # noqa: S608
    assert updated_at(conn, table, rowid) == OLD_MS
    conn.execute(f"UPDATE {table} SET {MUTABLE[table]} WHERE rowid = ?", (rowid,))  # noqa: S608
    assert updated_at(conn, table, rowid) > OLD_MS


@pytest.mark.parametrize("table", list(MUTABLE))
def test_update_with_explicit_updated_at_keeps_it(conn: sqlite3.Connection, table: str) -> None:
    rowid = insert(conn, table, VALID_ROW[table](conn))
    explicit = 1_600_000_000_000
    conn.execute(f"UPDATE {table} SET {MUTABLE[table]}, updated_at = ? WHERE rowid = ?", (explicit, rowid))  # noqa: S608
    assert updated_at(conn, table, rowid) == explicit


def test_every_table_with_updated_at_has_a_trigger(v1: sqlite3.Connection) -> None:
    with_column = {
        table for table in store.TABLES if "updated_at" in {row[1] for row in v1.execute(f"PRAGMA table_info({table})")}
    }
    triggers = {row[0] for row in v1.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")}
    assert with_column == set(MUTABLE) == triggers


# --- CHECK coverage -------------------------------------------------------------------------------------

_COLUMN_CHECK = re.compile(r"^\s+(\w+)\s+(?:INTEGER|TEXT|BLOB|REAL)\b.*\bCHECK\b")


def test_check_cases_cover_every_column_check(v1: sqlite3.Connection) -> None:
    """Every column declared with a CHECK has at least one refused case (autoincrement ids have none)."""
    declared = set()
    table_level = set()
    for table in store.TABLES:
        sql = v1.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        for line in sql.splitlines():
            match = _COLUMN_CHECK.match(line)
            if match:
                declared.add((table, match.group(1)))
            elif line.strip().startswith("CHECK"):
                table_level.add(table)
    refused = {(p.values[0], column) for p in CHECK_REFUSED for column in p.values[1]}
    assert declared - refused == set()
    assert table_level == {"ml_model_versions", "model_predictions", "anomaly_predictions"}


# --- the metrics_readable view --------------------------------------------------------------------------


def test_metrics_readable_shows_plain_units(conn: sqlite3.Connection) -> None:
    timestamp = 1_700_000_000_123
    insert(
        conn,
        "metrics",
        {
            **metrics_row(conn),
            "timestamp": timestamp,
            "source": "host-a",
            "created_at": timestamp + 1,
            "load_15m": None,
        },
    )
    insert(conn, "metrics", {**metrics_row(conn), "created_by": None})
    conn.row_factory = sqlite3.Row
    first, second = conn.execute("SELECT * FROM metrics_readable ORDER BY id").fetchall()
    assert dict(first) == {
        "id": 1,
        "timestamp": "2023-11-14T22:13:20.123Z",
        "source": "host-a",
        "cpu_usage": 12.34,
        "memory_usage": 50.0,
        "disk_usage": 70.0,
        "load_1m": 1.5,
        "load_5m": 1.2,
        "load_15m": None,
        "disk_io_read": 4096,
        "disk_io_write": 8192,
        "network_rx": 1000,
        "network_tx": 2000,
        "response_time": 12.345,
        "error_rate": 0.25,
        "is_anomaly": 0,
        "anomaly_score": 0.15,
        "created_at": "2023-11-14T22:13:20.124Z",
        "created_by": "system",
    }
    assert first["timestamp"] == iso(timestamp)
    assert second["created_by"] is None


# --- store.insert_metrics -------------------------------------------------------------------------------


def record(n: int, **changes: Any) -> MetricRecord:
    values: dict[str, Any] = {
        "timestamp_ms": BASE_MS + n * 1000,
        "source": "host-a",
        "cpu_usage": 12.34,
        "memory_usage": 50.0,
        "disk_usage": 70.0,
        "load_1m": 1.5,
        "load_5m": 1.2,
        "load_15m": None,
        "disk_io_read": 1,
        "disk_io_write": 2,
        "network_rx": 3,
        "network_tx": 4,
        "response_time": 12.345,
    }
    return MetricRecord(**{**values, **changes})


def write(conn: sqlite3.Connection, records: list[MetricRecord], **options: Any) -> store.InsertResult:
    return store.insert_metrics(conn, records, created_by=system_id(conn), created_at=BASE_MS, **options)


def test_insert_metrics_stores_exact_scaled_values(conn: sqlite3.Connection) -> None:
    result = write(conn, [record(1), record(2, cpu_usage=100.0, error_rate=0.07, anomaly_score=0.9999)])
    assert (result.inserted, result.duplicates, result.first_id) == (2, 0, 1)
    rows = conn.execute("SELECT cpu_usage, error_rate, anomaly_score, response_time FROM metrics ORDER BY id")
    assert rows.fetchall() == [(1234, None, None, 12_345), (10_000, 7, 9999, 12_345)]
    decoded = [
        store.decode_metric(row)
        for row in conn.execute(f"SELECT {', '.join(store.METRIC_COLUMNS)} FROM metrics ORDER BY id")  # noqa: S608
    ]
    assert decoded[1] == record(2, cpu_usage=100.0, error_rate=0.07, anomaly_score=0.9999)


@pytest.mark.parametrize("bad", [{"cpu_usage": 100.01}, {"memory_usage": -0.01}, {"network_rx": -1}])
def test_insert_metrics_is_all_or_nothing(conn: sqlite3.Connection, bad: dict[str, Any]) -> None:
    write(conn, [record(0)])
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        write(conn, [record(1), record(2, **bad), record(3)])
    assert count(conn, "metrics") == 1
    assert not conn.in_transaction
    assert write(conn, [record(1), record(2), record(3)]).inserted == 3


def test_insert_metrics_duplicates_fail_the_batch_or_are_skipped(conn: sqlite3.Connection) -> None:
    write(conn, [record(1), record(2)])
    batch = [record(1), record(2), record(3)]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
        write(conn, batch)
    assert count(conn, "metrics") == 2
    result = write(conn, batch, skip_duplicates=True)
    assert (result.inserted, result.duplicates) == (1, 2)
    assert result.first_id == 3
    assert count(conn, "metrics") == 3
    again = write(conn, batch, skip_duplicates=True)
    assert (again.inserted, again.duplicates, again.first_id) == (0, 3, None)
