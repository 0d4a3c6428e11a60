"""Local bookkeeping of the PostgreSQL sync: cached checkpoints, last outcome, pending rows, status, prune guard.

Everything here reads or writes the SQLite file only, so `sync status`, the TUI's Sync screen and
`db prune` work without a connection. The rejects list has its own module, `rejects`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from scops_tui.store import database as store
from scops_tui.store.timestamps import now_ms
from scops_tui.sync.rejects import RejectedRow, list_rejects
from scops_tui.sync.tables import SPECS
from scops_tui.sync.target import SyncTarget


@dataclass(frozen=True)
class SyncCheckpoint:
    """How far a table has been pushed: new rows after `last_id`, changes after (`change_updated_at`, `change_id`)."""

    table: str
    last_id: int = 0
    change_updated_at: int = 0
    change_id: int = 0


@dataclass(frozen=True)
class SyncStatus:
    """What `sync status` (and the TUI's Sync screen) shows; read locally, without a connection."""

    target: str | None
    last_attempt_at: int | None
    last_success_at: int | None
    last_error: str | None
    last_error_at: int | None
    pending: dict[str, int]
    reject_count: int
    rejects: list[RejectedRow] = field(default_factory=list)
    pending_rejected: dict[str, int] = field(default_factory=dict)
    """Of `pending`, per table: rows on the rejects list (retried by every sync until they land or are dropped)."""

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "last_attempt_at": self.last_attempt_at,
            "last_success_at": self.last_success_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "pending": self.pending,
            "pending_total": sum(self.pending.values()),
            "pending_rejected": self.pending_rejected,
            "reject_count": self.reject_count,
            "rejects": [vars(reject) for reject in self.rejects],
        }


def local_checkpoints(conn: sqlite3.Connection) -> dict[str, SyncCheckpoint]:
    """The cached checkpoint of every table (zeros for a table never synced)."""
    found = {
        row[0]: SyncCheckpoint(row[0], int(row[1]), int(row[2]), int(row[3]))
        for row in conn.execute("SELECT table_name, last_id, change_updated_at, change_id FROM sync_checkpoints")
    }
    return {table: found.get(table, SyncCheckpoint(table)) for table in store.TABLES}


def cache_checkpoint(conn: sqlite3.Connection, cp: SyncCheckpoint) -> None:
    conn.execute(
        "INSERT INTO sync_checkpoints (table_name, last_id, change_updated_at, change_id, synced_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (table_name) DO UPDATE SET last_id = excluded.last_id, "
        "change_updated_at = excluded.change_updated_at, change_id = excluded.change_id, "
        "synced_at = excluded.synced_at",
        (cp.table, cp.last_id, cp.change_updated_at, cp.change_id, now_ms()),
    )


def record_state(conn: sqlite3.Connection, target: str, **values: object) -> None:
    now = now_ms()
    conn.execute(
        "INSERT INTO sync_state (singleton, target, first_used_at) VALUES (1, ?, ?) "
        "ON CONFLICT (singleton) DO UPDATE SET target = excluded.target",
        (target, now),
    )
    for column, value in values.items():
        conn.execute(f"UPDATE sync_state SET {column} = ?", (value,))  # noqa: S608 - column names are ours


def pending_rows(conn: sqlite3.Connection, checkpoints: dict[str, SyncCheckpoint] | None = None) -> dict[str, int]:
    """Rows per table not yet on the server as they are now: new, changed, and refused ones (the rejects list)."""
    cps = checkpoints or local_checkpoints(conn)
    refused = pending_rejected(conn, cps)
    pending = {}
    for table, spec in SPECS.items():
        cp = cps[table]
        key = spec.stream_key
        count = conn.execute(f"SELECT count(*) FROM {table} WHERE {key} > ?", (cp.last_id,)).fetchone()[0]  # noqa: S608
        if spec.mutable:
            count += conn.execute(
                f"SELECT count(*) FROM {table} WHERE {key} <= ? AND (updated_at, {key}) > (?, ?)",  # noqa: S608
                (cp.last_id, cp.change_updated_at, cp.change_id),
            ).fetchone()[0]
        pending[table] = int(count) + refused[table]
    return pending


def pending_rejected(conn: sqlite3.Connection, checkpoints: dict[str, SyncCheckpoint] | None = None) -> dict[str, int]:
    """Rows per table on the rejects list that the streams would not send anyway (so not counted twice)."""
    cps = checkpoints or local_checkpoints(conn)
    found = {}
    for table, spec in SPECS.items():
        cp = cps[table]
        key = spec.stream_key
        streamed = f"t.{key} > :last_id"
        if spec.mutable:
            streamed += f" OR (t.updated_at, t.{key}) > (:change_at, :change_id)"
        found[table] = int(
            conn.execute(
                "SELECT count(*) FROM sync_rejects AS r WHERE r.table_name = :table AND NOT EXISTS "  # noqa: S608 - names are constants
                f"(SELECT 1 FROM {table} AS t WHERE t.{key} = r.local_id AND ({streamed}))",
                {"table": table, "last_id": cp.last_id, "change_at": cp.change_updated_at, "change_id": cp.change_id},
            ).fetchone()[0]
        )
    return found


def unsynced_conditions(conn: sqlite3.Connection) -> dict[str, str] | None:
    """For `db prune`: per table, an SQL condition true only for rows already on the server as they are.

    None when this database has never been synced and no target is configured (nothing to protect). Once
    a sync target has been configured or used, a table never synced keeps every row.
    """
    has_state = (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sync_state'").fetchone()
        and conn.execute("SELECT 1 FROM sync_state").fetchone()
    )
    if not has_state and not target_configured():
        return None
    conditions = {}
    for table, cp in local_checkpoints(conn).items():
        spec = SPECS[table]
        condition = f"{spec.stream_key} <= {int(cp.last_id)}"
        if spec.mutable:
            condition += f" AND (updated_at, {spec.stream_key}) <= ({int(cp.change_updated_at)}, {int(cp.change_id)})"
        # A row the server refused sits at or below the checkpoint but is not there.
        condition += f" AND {spec.stream_key} NOT IN (SELECT local_id FROM sync_rejects WHERE table_name = '{table}')"  # noqa: S608 - table names are constants
        conditions[table] = condition
    return conditions


def target_configured() -> bool:
    """True when SCOPS_PG_URL or the config file names a sync target (a broken config counts as yes)."""
    from scops_tui.config import load_settings
    from scops_tui.errors import ConfigError

    try:
        return load_settings().pg_url is not None
    except ConfigError:
        return True


def mark_target_used(db_path: Path, target: SyncTarget, *, busy_timeout_ms: int = 5000) -> None:
    """Record that this database has a sync target (from then on `db prune` keeps unsynced rows)."""
    conn = store.open_database(db_path, busy_timeout_ms=busy_timeout_ms)
    try:
        with store.sqlite_errors(db_path):
            record_state(conn, target.display)
    finally:
        conn.close()


def sync_status(
    db_path: Path, target: str | None = None, *, busy_timeout_ms: int = 5000, limit: int = 20
) -> SyncStatus:
    """The sync state of the database at `db_path`: target, last outcome, pending rows, rejected rows."""
    conn = store.open_database(db_path, busy_timeout_ms=busy_timeout_ms, create=False)
    try:
        with store.sqlite_errors(db_path):
            state = conn.execute(
                "SELECT target, last_attempt_at, last_success_at, last_error, last_error_at FROM sync_state"
            ).fetchone()
            rejects = list_rejects(conn, limit)
            count = int(conn.execute("SELECT count(*) FROM sync_rejects").fetchone()[0])
            return SyncStatus(
                target=target or (state[0] if state else None),
                last_attempt_at=state[1] if state else None,
                last_success_at=state[2] if state else None,
                last_error=state[3] if state else None,
                last_error_at=state[4] if state else None,
                pending=pending_rows(conn),
                reject_count=count,
                rejects=rejects,
                pending_rejected=pending_rejected(conn),
            )
    finally:
        conn.close()
