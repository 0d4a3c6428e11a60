"""Push the local database to PostgreSQL: incremental, batched, idempotent, resumable; and report on it.

Every table is sent parents first (`store.TABLES`) as two streams read from one local snapshot: rows
whose id is past the table's checkpoint (new rows) and, for tables whose rows change, rows already sent
whose `updated_at` moved past the change checkpoint. A batch is binary-COPYed into a session TEMP stage,
upserted (`ON CONFLICT ... DO NOTHING`, or `DO UPDATE ... WHERE excluded.updated_at > t.updated_at`) and
committed together with the table's checkpoint in PostgreSQL, then cached locally. A batch the server
refuses for its data (SQLSTATE 22xxx/23xxx) is bisected until the bad rows are found; they go to the
local `sync_rejects` list and the rest lands.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scops_tui.store import database as store
from scops_tui.store.timestamps import now_ms
from scops_tui.sync.local import (
    RejectedRow,
    SyncCheckpoint,
    SyncStatus,
    cache_checkpoint,
    drop_rejects,
    local_checkpoints,
    mark_target_used,
    pending_rejected,
    pending_rows,
    read_rejects,
    record_state,
    sync_status,
    target_configured,
    unsynced_conditions,
)
from scops_tui.sync.server import (
    AuthenticationFailed,
    ServerUnreachable,
    SyncError,
    connect,
    host_role_sql,
    init_server,
    one_line,
    require_schema,
)
from scops_tui.sync.tables import METRICS_FAST, METRICS_SAFE, SPECS, TableSpec
from scops_tui.sync.target import SyncTarget

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "AuthenticationFailed",
    "RejectedRow",
    "ServerUnreachable",
    "SyncCheckpoint",
    "SyncError",
    "SyncReport",
    "SyncStatus",
    "TableReport",
    "backoff_delays",
    "drop_rejects",
    "host_role_sql",
    "init_server",
    "local_checkpoints",
    "mark_target_used",
    "pending_rejected",
    "pending_rows",
    "read_rejects",
    "run_sync",
    "sync_status",
    "target_configured",
    "unsynced_conditions",
    "watch_sync",
]

DEFAULT_BATCH_SIZE = 10_000
LOCK_ATTEMPTS = 30
READER_MMAP_BYTES = 256 * 1024 * 1024
"""The reader maps the file: about 8 % less CPU per row read than copying pages through read()."""
DURABLE_EVERY = 10
"""Every so many batches, and at the end of each table, a commit waits for the server's disk."""
BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 60.0
CONFLICT_REASON = (
    "conflict: the server holds a different row under the same key (left as it is there); "
    "a copied or restored database, or a change made on the server"
)
GONE_REASON = "the local row no longer exists; `scops-tui sync rejects drop ID --yes` forgets it"

ProgressCallback = Callable[[str, int, int], None]
"""Called after each batch with (table, rows done so far in this run, rows pending at its start)."""
BatchHook = Callable[[str, int], None]
"""Called after each committed batch with (table, batch number): tests use it to break connections."""


@dataclass
class TableReport:
    """What one run did to one table on the server."""

    sent: int = 0
    """Rows sent (new and changed)."""
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    """Rows the server refused in this run (again, for rows already on the rejects list)."""
    retried: int = 0
    """Rows of the rejects list sent again (those that landed count in `inserted` or `updated`)."""


@dataclass(frozen=True)
class SyncReport:
    """The summary of one sync run."""

    target: str
    tables: dict[str, TableReport]
    seconds: float
    cpu_seconds: float
    dry_run: bool = False
    reconnects: int = 0

    @property
    def sent(self) -> int:
        return sum(t.sent for t in self.tables.values())

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 4),
            "cpu_seconds": round(self.cpu_seconds, 4),
            "reconnects": self.reconnects,
            "tables": {name: vars(report) for name, report in self.tables.items()},
        }


# --- the push ---------------------------------------------------------------------------------------------


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


def _is_data_error(exc: BaseException) -> bool:
    state = getattr(exc, "sqlstate", None) or ""
    return state[:2] in ("22", "23")


def _is_connection_error(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.OperationalError) and not _is_data_error(exc)


_STAGES: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
"""The staging tables each open session has made."""


def _copy_rows(cur: psycopg.Cursor[Any], spec: TableSpec, rows: Sequence[Sequence[Any]]) -> None:
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


def _prepare_session(conn: psycopg.Connection[Any]) -> None:
    """Set the session up for batches: commits that need not wait for the disk; BLOB ids dumped as uuid."""
    # Batch commits need not wait for the disk (see _Push._deliver); durable ones say so with SET LOCAL.
    conn.execute("SET synchronous_commit = off")
    conn.commit()
    conn.adapters.register_dumper(_UuidBytes, _uuid_bytes_dumper())


class _Push:
    """One connected push session: stages, checkpoints read from the server, batches, bisection."""

    def __init__(
        self,
        target: SyncTarget,
        database_id: uuid.UUID,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        report: dict[str, TableReport],
        *,
        batch_size: int,
        progress: ProgressCallback | None,
        on_batch: BatchHook | None,
        stop: threading.Event | None,
        rejects_only: bool = False,
    ) -> None:
        self.target = target
        self.rejects_only = rejects_only
        self.database_id = database_id
        self.writer = writer
        self.reader = reader
        self.report = report
        self.batch_size = batch_size
        self.progress = progress
        self.on_batch = on_batch
        self.stop = stop
        self.known_days: set[int] = set()
        self.batches = 0
        self.second: psycopg.Connection[Any] | None = None
        self.unflushed: SyncCheckpoint | None = None
        """A checkpoint committed without a disk flush on the server, not yet cached locally."""
        self.conflicts: list[int] = []
        """Local ids of the last batch that the server holds with other content under the same key."""
        self.rejected: dict[str, set[int]] = {}
        """Local ids in `sync_rejects`, per table: their entries go once the rows land."""
        for table, local_id in writer.execute("SELECT table_name, local_id FROM sync_rejects"):
            self.rejected.setdefault(str(table), set()).add(int(local_id))
        self.conn = connect(target)
        try:
            self._prepare()
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
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
            if _is_connection_error(exc):
                raise ServerUnreachable(f"lost {self.target.display}: {one_line(exc, self.target)}") from None
            raise SyncError(f"{self.target.display}: {one_line(exc, self.target)}") from None

    def _second_connection(self) -> psycopg.Connection[Any]:
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
        rows = self.conn.execute(
            "SELECT table_name, last_id, change_updated_at, change_id FROM sync_checkpoints WHERE source_db = %s",
            (self.database_id,),
        ).fetchall()
        self.conn.commit()
        found = {row[0]: SyncCheckpoint(row[0], int(row[1]), int(row[2]), int(row[3])) for row in rows}
        return {table: found.get(table, SyncCheckpoint(table)) for table in store.TABLES}

    def push_table(self, spec: TableSpec, cp: SyncCheckpoint, done: int, pending: int) -> SyncCheckpoint:
        """Send the table's refused, changed and new rows from one local snapshot; return the final checkpoint.

        Rows on the rejects list go first, every run, until they land (a child refused because its parent
        was refused lands once the parent has: tables go parents first).
        """
        key = spec.stream_key
        self.reader.execute("BEGIN")
        try:
            cp, done = self._retry_rejects(spec, cp, done, pending)
            if self.rejects_only:
                return cp
            newest_row = self.reader.execute(f"SELECT max({key}) FROM {spec.name}").fetchone()  # noqa: S608
            newest = int(newest_row[0] or 0)
            last_change: tuple[int, int] = (cp.change_updated_at, cp.change_id)
            if spec.mutable:
                top = self.reader.execute(
                    f"SELECT updated_at, {key} FROM {spec.name} WHERE {key} <= ? "  # noqa: S608
                    f"ORDER BY updated_at DESC, {key} DESC LIMIT 1",
                    (newest,),
                ).fetchone()
                if top is not None:
                    last_change = max(last_change, (int(top[0]), int(top[1])))
                sent_before = cp.last_id
                while True:
                    rows = self.reader.execute(
                        spec.change_stream_sql(),
                        (sent_before, cp.change_updated_at, cp.change_id, self.batch_size),
                    ).fetchall()
                    if not rows:
                        break
                    cp = self._deliver(spec, rows, cp, change=True, final=True)
                    done += len(rows)
                    self._after_batch(spec, done, pending)
            if spec.name == "metrics" and newest - cp.last_id > 2 * self.batch_size:
                cp, done = self._pipelined_stream(spec, cp, newest, done, pending)
            else:
                cp, done = self._insert_stream(spec, cp, newest, done, pending)
            if spec.mutable and (cp.change_updated_at, cp.change_id) < last_change:
                # Every row of the snapshot is now on the server as it is in the snapshot.
                cp = SyncCheckpoint(spec.name, cp.last_id, *last_change)
                self._commit_checkpoint(cp)
            elif self.unflushed is not None:
                self._commit_checkpoint(cp)
        finally:
            self.reader.execute("COMMIT")
        return cp

    def _retry_rejects(
        self, spec: TableSpec, cp: SyncCheckpoint, done: int, pending: int
    ) -> tuple[SyncCheckpoint, int]:
        """Send again the rows of this table on the rejects list (as they are now), bisecting as usual."""
        import json

        ids = sorted(self.rejected.get(spec.name, ()))
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start : start + self.batch_size]
            rows = self.reader.execute(
                f"SELECT {spec.select_sql()} FROM {spec.name} "  # noqa: S608 - names are this module's constants
                f"WHERE {spec.stream_key} IN (SELECT value FROM json_each(?)) ORDER BY {spec.stream_key}",
                (json.dumps(chunk),),
            ).fetchall()
            gone = set(chunk).difference(int(row[0]) for row in rows)
            if gone:
                self.writer.executemany(
                    "UPDATE sync_rejects SET reason = ?, rejected_at = ? WHERE table_name = ? AND local_id = ?",
                    [(GONE_REASON, now_ms(), spec.name, local_id) for local_id in sorted(gone)],
                )
            if not rows:
                continue
            self.report[spec.name].retried += len(rows)
            cp = self._deliver(spec, rows, cp, change=False, final=True, retry=True)
            done += len(rows)
            self._after_batch(spec, done, pending)
        return cp, done

    def _insert_stream(
        self, spec: TableSpec, cp: SyncCheckpoint, newest: int, done: int, pending: int
    ) -> tuple[SyncCheckpoint, int]:
        """New rows in id order; the next page is read in a thread while the server works on this one."""
        from concurrent.futures import ThreadPoolExecutor

        sql = spec.insert_stream_sql()

        def page(after: int) -> list[Any]:
            return self.reader.execute(sql, (after, newest, self.batch_size)).fetchall()

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scops-sync-read") as pool:
            upcoming = pool.submit(page, cp.last_id)
            try:
                while True:
                    rows = upcoming.result()
                    if not rows:
                        break
                    upcoming = pool.submit(page, int(rows[-1][0]))
                    cp = self._deliver(spec, rows, cp, change=False, final=len(rows) < self.batch_size)
                    done += len(rows)
                    self._after_batch(spec, done, pending)
            finally:
                # The reader connection must be idle again before its snapshot ends.
                upcoming.cancel()
                if not upcoming.cancelled():
                    upcoming.exception()
        return cp, done

    def _pipelined_stream(
        self, spec: TableSpec, cp: SyncCheckpoint, newest: int, done: int, pending: int
    ) -> tuple[SyncCheckpoint, int]:
        """New metrics over two sessions: batch k is COPYed on one while batch k-1 is applied on the other.

        Batches still commit strictly in order (k is applied only once k-1 has committed), each with its
        checkpoint. Any failure of a batch (a refused row, a duplicate) stops the pipeline: the staged next
        batch is rolled back and the serial path carries on from the last commit, bisecting as usual.
        """
        from concurrent.futures import Future, ThreadPoolExecutor

        import psycopg

        sql = spec.insert_stream_sql()
        conns = [self.conn, self._second_connection()]

        def page(after: int) -> list[Any]:
            return self.reader.execute(sql, (after, newest, self.batch_size)).fetchall()

        def apply(conn: psycopg.Connection[Any], batch_cp: SyncCheckpoint) -> int:
            with conn.cursor() as cur:
                cur.execute(METRICS_FAST, {"db": self.database_id})
                inserted = cur.rowcount
                self._write_checkpoint(cur, batch_cp)
            conn.commit()
            return inserted

        committed = cp
        inflight: tuple[Future[int], list[Any], SyncCheckpoint, bool] | None = None
        failed = False

        def settle() -> None:
            nonlocal inflight, committed, done
            if inflight is None:
                return
            future, rows, batch_cp, durable = inflight
            inflight = None
            inserted = future.result()
            committed = batch_cp
            report = self.report[spec.name]
            report.sent += len(rows)
            report.inserted += inserted
            if durable:
                self.unflushed = None
                cache_checkpoint(self.writer, batch_cp)
            else:
                self.unflushed = batch_cp
            done += len(rows)
            self._after_batch(spec, done, pending)

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="scops-sync") as pool:
            upcoming = pool.submit(page, cp.last_id)
            staged: psycopg.Connection[Any] | None = None
            try:
                index = 0
                while True:
                    rows = upcoming.result()
                    if not rows:
                        break
                    upcoming = pool.submit(page, int(rows[-1][0]))
                    conn = conns[index % 2]
                    batch_cp = SyncCheckpoint(spec.name, int(rows[-1][0]), cp.change_updated_at, cp.change_id)
                    durable = len(rows) < self.batch_size or self.batches % DURABLE_EVERY == DURABLE_EVERY - 1
                    days = {int(row[1]) // 86_400_000 for row in rows} - self.known_days
                    if days:
                        settle()
                        conn.execute("SELECT scops_ensure_metrics_partitions(%s::integer[])", (sorted(days),))
                        conn.commit()
                        self.known_days |= days
                    staged = conn
                    with conn.cursor() as cur:
                        if durable:
                            cur.execute("SET LOCAL synchronous_commit = on")
                        _copy_rows(cur, spec, rows)
                    settle()
                    inflight = (pool.submit(apply, conn, batch_cp), rows, batch_cp, durable)
                    staged = None
                    index += 1
                settle()
            except psycopg.Error as exc:
                if _is_connection_error(exc):
                    raise ServerUnreachable(f"lost {self.target.display}: {one_line(exc, self.target)}") from None
                failed = True
            finally:
                if inflight is not None:
                    inflight[0].exception()
                for conn in conns:
                    if staged is conn or failed:
                        _STAGES.pop(conn, None)  # a stage made in the rolled-back transaction is gone
                        with contextlib.suppress(psycopg.Error):
                            conn.rollback()
                upcoming.cancel()
                if not upcoming.cancelled():
                    upcoming.exception()
        if failed:
            return self._insert_stream(spec, committed, newest, done, pending)
        return committed, done

    def _after_batch(self, spec: TableSpec, done: int, pending: int) -> None:
        self.batches += 1
        if self.progress:
            self.progress(spec.name, done, pending)
        if self.on_batch:
            self.on_batch(spec.name, self.batches)
        if self.stop is not None and self.stop.is_set():
            raise _Stopped

    def _next_checkpoint(
        self, spec: TableSpec, rows: Sequence[Sequence[Any]], cp: SyncCheckpoint, change: bool
    ) -> SyncCheckpoint:
        last = rows[-1]
        if change:
            return SyncCheckpoint(spec.name, cp.last_id, int(last[spec.updated_at_index]), int(last[0]))
        return SyncCheckpoint(spec.name, int(last[0]), cp.change_updated_at, cp.change_id)

    def _deliver(
        self,
        spec: TableSpec,
        rows: Sequence[Sequence[Any]],
        cp: SyncCheckpoint,
        *,
        change: bool,
        final: bool,
        retry: bool = False,
    ) -> SyncCheckpoint:
        """Send `rows`; on a data error bisect them, rejecting single bad rows. Returns the new checkpoint.

        Full pages in the middle of a stream commit without waiting for the server's disk flush (every
        `DURABLE_EVERY`-th excepted): if the server crashes, data and checkpoint are lost together and
        simply sent again. The local copy of the checkpoint only ever records a flushed commit. Rows
        sent again from the rejects list (`retry`) leave the checkpoint where it is.
        """
        import psycopg

        new_cp = cp if retry else self._next_checkpoint(spec, rows, cp, change)
        durable = final or self.batches % DURABLE_EVERY == DURABLE_EVERY - 1
        try:
            inserted, updated = self._send(spec, rows, new_cp, durable, safe=retry)
        except psycopg.Error as exc:
            self._rollback()
            if not _is_data_error(exc):
                if _is_connection_error(exc):
                    raise ServerUnreachable(f"lost {self.target.display}: {one_line(exc, self.target)}") from None
                raise SyncError(f"{self.target.display}: {spec.name}: {one_line(exc, self.target)}") from None
            if len(rows) == 1:
                self._reject(spec, rows[0], exc)
                self._commit_checkpoint(new_cp)
                return new_cp
            middle = len(rows) // 2
            cp = self._deliver(spec, rows[:middle], cp, change=change, final=True, retry=retry)
            return self._deliver(spec, rows[middle:], cp, change=change, final=True, retry=retry)
        table = self.report[spec.name]
        table.sent += len(rows)
        table.inserted += inserted
        table.updated += updated
        self._forget_rejects(spec, rows, keep=self.conflicts)
        self.conflicts = []
        if durable:
            self.unflushed = None
            cache_checkpoint(self.writer, new_cp)
        else:
            self.unflushed = new_cp
        return new_cp

    def _send(
        self, spec: TableSpec, rows: Sequence[Sequence[Any]], cp: SyncCheckpoint, durable: bool, *, safe: bool = False
    ) -> tuple[int, int]:
        if spec.name != "metrics":
            return self._send_with(spec, rows, cp, spec.upsert_sql(), durable)
        import psycopg

        self._ensure_partitions(rows)
        if safe:
            return self._send_with(spec, rows, cp, METRICS_SAFE, durable)
        try:
            return self._send_with(spec, rows, cp, METRICS_FAST, durable)
        except psycopg.errors.UniqueViolation:
            self._rollback()
            return self._send_with(spec, rows, cp, METRICS_SAFE, durable)

    def _send_with(
        self, spec: TableSpec, rows: Sequence[Sequence[Any]], cp: SyncCheckpoint, upsert: str, durable: bool
    ) -> tuple[int, int]:
        self.conflicts = []
        with self.conn.cursor() as cur:
            if durable:
                cur.execute("SET LOCAL synchronous_commit = on")
            _copy_rows(cur, spec, rows)
            cur.execute(upsert, {"db": self.database_id})
            counts = cur.fetchone() if cur.description else (cur.rowcount, 0)
            inserted, updated = (int(counts[0]), int(counts[1])) if counts else (0, 0)
            if inserted + updated < len(rows):
                # Some rows were skipped: fine when the server holds them as they are (a batch sent
                # twice), a conflict when it holds something else under the same key.
                # They go on the rejects list before the commit: a crash in between only retries them.
                cur.execute(spec.conflict_sql(), {"db": self.database_id})
                self.conflicts = [int(row[0]) for row in cur.fetchall()]
                for local_id in self.conflicts:
                    self._reject_id(spec, local_id, "23505", CONFLICT_REASON)
            self._write_checkpoint(cur, cp)
        self.conn.commit()
        return inserted, updated

    def _ensure_partitions(self, rows: Sequence[Sequence[Any]]) -> None:
        days = {int(row[1]) // 86_400_000 for row in rows} - self.known_days
        if days:
            self.conn.execute("SELECT scops_ensure_metrics_partitions(%s::integer[])", (sorted(days),))
            self.conn.commit()
            self.known_days |= days

    def _write_checkpoint(self, cur: psycopg.Cursor[Any], cp: SyncCheckpoint) -> None:
        cur.execute(
            "INSERT INTO sync_checkpoints (source_db, table_name, last_id, change_updated_at, change_id) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source_db, table_name) DO UPDATE SET "
            "last_id = excluded.last_id, change_updated_at = excluded.change_updated_at, "
            "change_id = excluded.change_id, synced_at = now()",
            (self.database_id, cp.table, cp.last_id, cp.change_updated_at, cp.change_id),
        )

    def _commit_checkpoint(self, cp: SyncCheckpoint) -> None:
        import psycopg

        try:
            with self.conn.cursor() as cur:
                cur.execute("SET LOCAL synchronous_commit = on")
                self._write_checkpoint(cur, cp)
            self.conn.commit()
        except psycopg.Error as exc:
            self._rollback()
            raise ServerUnreachable(f"lost {self.target.display}: {one_line(exc, self.target)}") from None
        self.unflushed = None
        cache_checkpoint(self.writer, cp)

    def _rollback(self) -> None:
        import psycopg

        _STAGES.pop(self.conn, None)  # a stage made in the rolled-back transaction is gone
        try:
            self.conn.rollback()
        except psycopg.Error:
            self.conn.close()

    def _forget_rejects(self, spec: TableSpec, rows: Sequence[Sequence[Any]], keep: Sequence[int] = ()) -> None:
        """Drop the reject entries of rows that have now landed (sent again, and taken by the server)."""
        rejected = self.rejected.get(spec.name)
        if not rejected:
            return
        landed = rejected.intersection(int(row[0]) for row in rows).difference(keep)
        if landed:
            self.writer.executemany(
                "DELETE FROM sync_rejects WHERE table_name = ? AND local_id = ?", [(spec.name, i) for i in landed]
            )
            rejected -= landed

    def _reject(self, spec: TableSpec, row: Sequence[Any], exc: BaseException) -> None:
        self._reject_id(spec, int(row[0]), getattr(exc, "sqlstate", None), one_line(exc, self.target)[:500])

    def _reject_id(self, spec: TableSpec, local_id: int, state: str | None, reason: str) -> None:
        self.writer.execute(
            "INSERT INTO sync_rejects (table_name, local_id, sqlstate, reason, rejected_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (table_name, local_id) DO UPDATE SET sqlstate = excluded.sqlstate, "
            "reason = excluded.reason, rejected_at = excluded.rejected_at",
            (spec.name, local_id, state, reason, now_ms()),
        )
        self.rejected.setdefault(spec.name, set()).add(local_id)
        self.report[spec.name].rejected += 1


class _Stopped(Exception):
    """Raised between batches when the stop event is set."""


def run_sync(
    db_path: Path,
    target: SyncTarget,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    busy_timeout_ms: int = 5000,
    progress: ProgressCallback | None = None,
    on_batch: BatchHook | None = None,
    stop: threading.Event | None = None,
    max_reconnects: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    rejects_only: bool = False,
) -> SyncReport:
    """Push every table of the database at `db_path` to `target`; return what was sent.

    Rows on the rejects list are sent again first, every run, until they land. A connection lost
    mid-run is re-opened (up to `max_reconnects` times, with backoff) and the push resumes from the last
    batch the server committed. A server that cannot be reached at all raises ServerUnreachable at once;
    a refused login raises AuthenticationFailed. `dry_run` counts what would be sent, from the local
    checkpoints, and connects to nothing. `rejects_only` sends the rejects list and nothing else.
    """
    if batch_size < 1:
        raise SyncError(f"--batch-size must be at least 1, not {batch_size}")
    started, cpu_started = time.perf_counter(), time.process_time()
    writer = store.open_database(db_path, busy_timeout_ms=busy_timeout_ms)
    reports = {table: TableReport() for table in store.TABLES}
    reconnects = 0
    try:
        if dry_run:
            with store.sqlite_errors(db_path):
                for table, count in pending_rows(writer).items():
                    reports[table].sent = count
            return SyncReport(
                target.display, reports, time.perf_counter() - started, time.process_time() - cpu_started, True
            )
        database_id = store.database_id(writer)
        record_state(writer, target.display, last_attempt_at=now_ms())
        reader = store.connect(db_path, busy_timeout_ms=busy_timeout_ms, readonly=True)
        reader.execute(f"PRAGMA mmap_size = {READER_MMAP_BYTES}")
        try:
            reconnects = _push_all(
                target,
                database_id,
                writer,
                reader,
                reports,
                batch_size,
                progress,
                on_batch,
                stop,
                max_reconnects,
                sleep,
                rejects_only,
            )
        except SyncError as exc:
            record_state(writer, target.display, last_error=str(exc), last_error_at=now_ms())
            raise
        finally:
            reader.close()
        sent = sum(report.sent for report in reports.values())
        # A run stopped between batches committed what it sent, but it is not a completed sync.
        if stop is None or not stop.is_set():
            record_state(
                writer, target.display, last_success_at=now_ms(), last_error=None, last_error_at=None, last_rows=sent
            )
    finally:
        writer.close()
    return SyncReport(
        target.display, reports, time.perf_counter() - started, time.process_time() - cpu_started, False, reconnects
    )


def _push_all(
    target: SyncTarget,
    database_id: uuid.UUID,
    writer: sqlite3.Connection,
    reader: sqlite3.Connection,
    reports: dict[str, TableReport],
    batch_size: int,
    progress: ProgressCallback | None,
    on_batch: BatchHook | None,
    stop: threading.Event | None,
    max_reconnects: int,
    sleep: Callable[[float], None],
    rejects_only: bool = False,
) -> int:
    """Push every table, re-connecting after a lost connection; return how many times it re-connected."""
    reconnects = 0
    delays = backoff_delays()
    connected_once = False
    while True:
        try:
            push = _Push(
                target,
                database_id,
                writer,
                reader,
                reports,
                batch_size=batch_size,
                progress=progress,
                on_batch=on_batch,
                stop=stop,
                rejects_only=rejects_only,
            )
        except ServerUnreachable:
            if not connected_once or reconnects >= max_reconnects:
                raise
            reconnects += 1
            sleep(next(delays))
            continue
        connected_once = True
        try:
            checkpoints = push.server_checkpoints()
            for cp in checkpoints.values():
                cache_checkpoint(writer, cp)
            pending = pending_rows(reader, checkpoints)
            for table in store.TABLES:
                push.push_table(SPECS[table], checkpoints[table], 0, pending[table])
            return reconnects
        except _Stopped:
            return reconnects
        except ServerUnreachable:
            if reconnects >= max_reconnects:
                raise
            reconnects += 1
            sleep(next(delays))
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                if not _is_connection_error(exc) or reconnects >= max_reconnects:
                    raise SyncError(f"{target.display}: {one_line(exc, target)}") from None
                reconnects += 1
                sleep(next(delays))
            else:
                raise
        finally:
            push.close()


def backoff_delays(first: float = BACKOFF_FIRST_S, cap: float = BACKOFF_MAX_S) -> Any:
    """Exponential backoff with jitter: each delay is drawn from [d/2, d], d doubling from `first` to `cap`."""
    delay = first
    while True:
        yield random.uniform(delay / 2, delay)
        delay = min(cap, delay * 2)


def watch_sync(
    db_path: Path,
    target: SyncTarget,
    stop: threading.Event,
    *,
    interval: float = 10.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    busy_timeout_ms: int = 5000,
    on_report: Callable[[SyncReport], None] | None = None,
    on_error: Callable[[str, float], None] | None = None,
    progress: ProgressCallback | None = None,
) -> int:
    """Sync every `interval` seconds until `stop` is set; on failure retry with backoff (0.25 s to 60 s).

    Returns the number of successful runs. Errors are reported through `on_error(message, seconds until
    the next try)` and retried, except a refused login: retrying the same credentials cannot help, so
    AuthenticationFailed ends the loop (raised to the caller).
    """
    runs = 0
    delays = backoff_delays()
    while not stop.is_set():
        try:
            report = run_sync(
                db_path, target, batch_size=batch_size, busy_timeout_ms=busy_timeout_ms, progress=progress, stop=stop
            )
        except AuthenticationFailed:
            raise
        except SyncError as exc:
            wait = next(delays)
            if on_error:
                on_error(str(exc), wait)
            stop.wait(wait)
            continue
        runs += 1
        delays = backoff_delays()
        if on_report:
            on_report(report)
        stop.wait(interval)
    return runs
