"""A push's sessions on the server: the connection and the database's advisory lock, batch settings, the TEMP
stages a batch is COPYed into, the checkpoints kept in PostgreSQL, and which psycopg errors mean what.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scops_tui.store import database as store
from scops_tui.sync.local import SyncCheckpoint
from scops_tui.sync.server import ServerUnreachable, SyncError, connect, one_line, require_schema
from scops_tui.sync.tables import TableSpec
from scops_tui.sync.target import SyncTarget

if TYPE_CHECKING:
    import psycopg

LOCK_ATTEMPTS = 30


def _uuid_bytes_dumper() -> type[Any]:
    """A binary dumper writing a 16-byte BLOB as a PostgreSQL uuid as it is (no UUID object per row)."""
    from psycopg.adapt import Dumper
    from psycopg.postgres import types as pg_types
    from psycopg.pq import Format

    info = pg_types.get("uuid")
    assert info is not None
    uuid_oid = info.oid

    class UuidBytesDumper(Dumper):
        format = Format.BINARY
        oid = uuid_oid

        def dump(self, obj: Any) -> bytes:
            return bytes(obj)

    return UuidBytesDumper


class _UuidBytes:
    """Registration key for the dumper above: COPY looks dumpers up by type oid, so no Python type uses it."""


def is_data_error(exc: BaseException) -> bool:
    """True for an error about the data sent (SQLSTATE class 22 or 23): the batch is bisected."""
    state = getattr(exc, "sqlstate", None) or ""
    return state[:2] in ("22", "23")


def is_connection_error(exc: BaseException) -> bool:
    """True for a lost or broken connection (worth re-connecting)."""
    import psycopg

    return isinstance(exc, psycopg.OperationalError) and not is_data_error(exc)


_STAGES: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
"""The staging tables each open session has made."""


def copy_rows(cur: psycopg.Cursor[Any], spec: TableSpec, rows: Sequence[Sequence[Any]]) -> None:
    """Binary-COPY `rows` into the table's stage, made on the session's first use of it.

    Stages are made only when needed because every commit empties all of the session's stages.
    """
    staged = _STAGES.setdefault(cur.connection, set())
    if spec.name not in staged:
        cur.execute(spec.create_stage_sql())
        staged.add(spec.name)
    with cur.copy(spec.copy_sql()) as copy:
        copy.set_types(spec.stage_types())
        for row in rows:
            copy.write_row(row)


def forget_stages(conn: psycopg.Connection[Any]) -> None:
    """Forget the session's stages after a rollback: a stage made in the rolled-back transaction is gone."""
    _STAGES.pop(conn, None)


def _prepare_session(conn: psycopg.Connection[Any]) -> None:
    """Set the session up for batches: commits that need not wait for the disk; BLOB ids dumped as uuid."""
    # Batch commits need not wait for the disk (see Batches.deliver); durable ones say so with SET LOCAL.
    conn.execute("SET synchronous_commit = off")
    conn.commit()
    conn.adapters.register_dumper(_UuidBytes, _uuid_bytes_dumper())


class PushSession:
    """One connected push: the main session, holding this database's advisory lock, and a second one on demand."""

    def __init__(self, target: SyncTarget, database_id: uuid.UUID) -> None:
        self.target = target
        self.database_id = database_id
        self.second: psycopg.Connection[Any] | None = None
        self.conn = connect(target)
        try:
            self._prepare()
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        """Roll back, unlock and close both sessions."""
        import psycopg

        for conn in (self.conn, self.second):
            if conn is None or conn.closed:
                continue
            try:
                conn.rollback()
                # Unlock now: a closed session's lock lives until its backend notices, and a next run may be quick.
                conn.execute("SELECT pg_advisory_unlock_all()")
            except psycopg.Error:
                pass
            conn.close()

    def _prepare(self) -> None:
        import psycopg

        conn = self.conn
        try:
            require_schema(conn, self.target)
            for attempt in range(LOCK_ATTEMPTS):
                got = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (str(self.database_id),))
                row = got.fetchone()
                if row and row[0]:
                    break
                if attempt == LOCK_ATTEMPTS - 1:
                    raise SyncError(f"another sync of this database ({self.database_id}) is running")
                # The holder may be the backend of a connection that just broke, on its way out.
                time.sleep(0.1)
            _prepare_session(conn)
        except psycopg.Error as exc:
            if is_connection_error(exc):
                raise ServerUnreachable(f"lost {self.target.display}: {one_line(exc, self.target)}") from None
            raise SyncError(f"{self.target.display}: {one_line(exc, self.target)}") from None

    def second_connection(self) -> psycopg.Connection[Any]:
        """A second session of this push, so that one batch is staged while the previous one is applied."""
        import psycopg

        if self.second is None or self.second.closed:
            self.second = connect(self.target)
            try:
                _prepare_session(self.second)
            except psycopg.Error as exc:
                raise ServerUnreachable(f"lost {self.target.display}: {one_line(exc, self.target)}") from None
        return self.second

    def server_checkpoints(self) -> dict[str, SyncCheckpoint]:
        """This database's checkpoint of every table as the server holds it (zeros for a table never pushed)."""
        rows = self.conn.execute(
            "SELECT table_name, last_id, change_updated_at, change_id FROM sync_checkpoints WHERE source_db = %s",
            (self.database_id,),
        ).fetchall()
        self.conn.commit()
        found = {row[0]: SyncCheckpoint(row[0], int(row[1]), int(row[2]), int(row[3])) for row in rows}
        return {table: found.get(table, SyncCheckpoint(table)) for table in store.TABLES}

    def write_checkpoint(self, cur: psycopg.Cursor[Any], cp: SyncCheckpoint) -> None:
        """Write the table's checkpoint in the cursor's transaction (it commits with the batch)."""
        cur.execute(
            "INSERT INTO sync_checkpoints (source_db, table_name, last_id, change_updated_at, change_id) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source_db, table_name) DO UPDATE SET "
            "last_id = excluded.last_id, change_updated_at = excluded.change_updated_at, "
            "change_id = excluded.change_id, synced_at = now()",
            (self.database_id, cp.table, cp.last_id, cp.change_updated_at, cp.change_id),
        )

    def rollback(self) -> None:
        """Roll the main session back (closing it when even that fails)."""
        import psycopg

        forget_stages(self.conn)
        try:
            self.conn.rollback()
        except psycopg.Error:
            self.conn.close()
