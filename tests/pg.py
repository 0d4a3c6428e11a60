"""A throwaway PostgreSQL database per test, on the real server (no mocks).

`SCOPS_TEST_PG` names the server's admin connection (default: postgres on 127.0.0.1:5432, trust auth).
When the server cannot be reached the tests using these fixtures fail in CI (`CI=true`) with a clear
message, and are skipped elsewhere.

Bind the fixtures in a test module with `pg_url = pg.pg_url` (and `pg_server = pg.pg_server`);
`tests/sync/conftest.py` binds them for its folder. The module also makes local data for the sync
tests: rows in all eight tables, as the program writes them; `sync` runs a push to a URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from scops_tui.detection import registry, review
from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.episodes import EpisodeSnapshot
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord
from scops_tui.store.timestamps import now_ms
from scops_tui.sync.push import run_sync
from scops_tui.sync.report import SyncReport
from scops_tui.sync.server import init_server
from scops_tui.sync.target import resolve_target

ADMIN_URL = os.environ.get("SCOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def admin_connect(dbname: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
    """An autocommit admin connection to the test server (to `dbname` if given)."""
    conninfo = make_conninfo(ADMIN_URL, dbname=dbname) if dbname else ADMIN_URL
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=5, **kwargs)


def url_for(dbname: str, user: str | None = None) -> str:
    """A connection string to `dbname` on the test server, optionally as another role."""
    extra: dict[str, Any] = {"dbname": dbname}
    if user:
        extra["user"] = user
    return make_conninfo(ADMIN_URL, **extra)


def _server_or_fail() -> psycopg.Connection[Any]:
    try:
        return admin_connect()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL test server {ADMIN_URL} is unreachable ({str(exc).splitlines()[0]})"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + "; CI needs it (start it, or set SCOPS_TEST_PG)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The connection string of a fresh, empty database `scops_test_<random>`, dropped afterwards."""
    admin = _server_or_fail()
    name = f"scops_test_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield url_for(name)
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture
def pg_server(pg_url: str) -> str:
    """A fresh database with the scops-tui server schema applied."""
    init_server(resolve_target(pg_url))
    return pg_url


def sync(db_path: Path, url: str, **kwargs: Any) -> SyncReport:
    """One `run_sync` of the database at `db_path` to `url`."""
    return run_sync(db_path, resolve_target(url), **kwargs)


def scalar(url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    """The first value of the first row `query` returns on the server (None for no row)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def server_counts(url: str) -> dict[str, int]:
    """Row count of each synced table on the server."""
    with psycopg.connect(url) as conn:
        return {
            table: int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0])
            for table in store.TABLES
        }


# --- local data ---------------------------------------------------------------------------------------

DAY_MS = 86_400_000
T0 = (now_ms() // 3_600_000 - 3) * 3_600_000
"""Three hours ago, on the hour: the server makes daily partitions only for plausible days (up to now + 2)."""


def metric(ts: int, source: str = "host", cpu: float = 10.0) -> MetricRecord:
    return MetricRecord(ts, source, cpu, 20.5, 30.25, 0.1234, 0.2, None, 1, 2, 3, 4, 0.512, None, False, 0.0123)


def add_metrics(conn: sqlite3.Connection, count: int, start: int = T0, step_ms: int = 1000) -> None:
    system = store.user_id(conn, "system")
    store.insert_metrics(conn, [metric(start + i * step_ms) for i in range(count)], created_by=system, created_at=start)


def fill(conn: sqlite3.Connection, metrics: int = 250, start: int = T0) -> None:
    """Rows in all eight tables: metrics, a deployed model version, predictions, an episode, a key and its use."""
    add_metrics(conn, metrics, start)
    system = store.user_id(conn, "system")
    with store.transaction(conn):
        version = registry.register_statistical(
            conn, "host", DetectorConfig(), threshold=0.9, window=(start, start + 1000), rows=metrics, created_by=system
        )
        first = conn.execute("SELECT min(id) FROM metrics").fetchone()[0]
        for offset in range(min(5, metrics)):
            conn.execute(
                "INSERT INTO model_predictions (model_version_id, metrics_id, predicted_anomaly, confidence_score, "
                "prediction_time_ms, model_features) VALUES (?, ?, 1, 0.75, 0.125, ?)",
                (version.id, first + offset, json.dumps({"cpu_usage": 10.0})),
            )
        key = conn.execute(
            "INSERT INTO api_keys (key_name, key_hash, permissions, user_id, created_by) VALUES (?, ?, ?, ?, ?)",
            ("ci", hashlib.sha256(b"k").hexdigest(), json.dumps(["read", "write"]), system, system),
        ).lastrowid
        for code in (200, 404):
            conn.execute(
                "INSERT INTO api_key_usage (api_key_id, endpoint, method, status_code, ip_address) "
                "VALUES (?, '/metrics', 'GET', ?, '10.0.0.7')",
                (key, code),
            )
        snapshot = EpisodeSnapshot(start, start + 2000, 0.97, 3, (("cpu_usage", 12.0),))
        review.open_episode(
            conn, snapshot, source="host", model_name="detector@host", model_version="1", model_version_id=version.id
        )
