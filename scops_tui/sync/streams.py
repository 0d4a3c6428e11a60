"""Which rows each table sends, from one local snapshot: its rows on the rejects list, changed rows, new rows
(new metrics pipelined over two sessions); progress, hooks and the stop event between batches.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

from scops_tui.sync.batches import Batches
from scops_tui.sync.local import SyncCheckpoint
from scops_tui.sync.report import BatchHook, ProgressCallback
from scops_tui.sync.server import ServerUnreachable, one_line
from scops_tui.sync.session import copy_rows, forget_stages, is_connection_error
from scops_tui.sync.tables import METRICS_FAST, TableSpec

if TYPE_CHECKING:
    import psycopg


class Stopped(Exception):
    """Raised between batches when the stop event is set."""


@dataclass
class Streams:
    """The streams of one push session, table by table, each batch handed to `Batches`."""

    batches: Batches
    reader: sqlite3.Connection
    _: KW_ONLY
    batch_size: int
    progress: ProgressCallback | None
    on_batch: BatchHook | None
    stop: threading.Event | None
    rejects_only: bool = False

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
                    cp = self.batches.deliver(spec, rows, cp, change=True, final=True)
                    done += len(rows)
                    self._after_batch(spec, done, pending)
            if spec.name == "metrics" and newest - cp.last_id > 2 * self.batch_size:
                cp, done = self._pipelined_stream(spec, cp, newest, done, pending)
            else:
                cp, done = self._insert_stream(spec, cp, newest, done, pending)
            if spec.mutable and (cp.change_updated_at, cp.change_id) < last_change:
                # Every row of the snapshot is now on the server as it is in the snapshot.
                cp = SyncCheckpoint(spec.name, cp.last_id, *last_change)
                self.batches.commit_checkpoint(cp)
            elif self.batches.unflushed is not None:
                self.batches.commit_checkpoint(cp)
        finally:
            self.reader.execute("COMMIT")
        return cp

    def _retry_rejects(
        self, spec: TableSpec, cp: SyncCheckpoint, done: int, pending: int
    ) -> tuple[SyncCheckpoint, int]:
        """Send again the rows of this table on the rejects list (as they are now), bisecting as usual."""
        import json

        rejects = self.batches.rejects
        ids = rejects.of(spec.name)
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start : start + self.batch_size]
            rows = self.reader.execute(
                f"SELECT {spec.select_sql()} FROM {spec.name} "  # noqa: S608 - names are this module's constants
                f"WHERE {spec.stream_key} IN (SELECT value FROM json_each(?)) ORDER BY {spec.stream_key}",
                (json.dumps(chunk),),
            ).fetchall()
            gone = set(chunk).difference(int(row[0]) for row in rows)
            if gone:
                rejects.mark_gone(spec.name, gone)
            if not rows:
                continue
            self.batches.report[spec.name].retried += len(rows)
            cp = self.batches.deliver(spec, rows, cp, change=False, final=True, retry=True)
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
                    cp = self.batches.deliver(spec, rows, cp, change=False, final=len(rows) < self.batch_size)
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
        batches, session = self.batches, self.batches.session
        conns = [session.conn, session.second_connection()]

        def page(after: int) -> list[Any]:
            return self.reader.execute(sql, (after, newest, self.batch_size)).fetchall()

        def apply(conn: psycopg.Connection[Any], batch_cp: SyncCheckpoint) -> int:
            with conn.cursor() as cur:
                cur.execute(METRICS_FAST, {"db": session.database_id})
                inserted = cur.rowcount
                session.write_checkpoint(cur, batch_cp)
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
            report = batches.report[spec.name]
            report.sent += len(rows)
            report.inserted += inserted
            batches.committed(batch_cp, durable)
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
                    durable = batches.durable(len(rows) < self.batch_size)
                    days = batches.new_days(rows)
                    if days:
                        settle()
                        batches.make_partitions(conn, days)
                    staged = conn
                    with conn.cursor() as cur:
                        if durable:
                            cur.execute("SET LOCAL synchronous_commit = on")
                        copy_rows(cur, spec, rows)
                    settle()
                    inflight = (pool.submit(apply, conn, batch_cp), rows, batch_cp, durable)
                    staged = None
                    index += 1
                settle()
            except psycopg.Error as exc:
                if is_connection_error(exc):
                    raise ServerUnreachable(f"lost {session.target.display}: {one_line(exc, session.target)}") from None
                failed = True
            finally:
                if inflight is not None:
                    inflight[0].exception()
                for conn in conns:
                    if staged is conn or failed:
                        forget_stages(conn)
                        with contextlib.suppress(psycopg.Error):
                            conn.rollback()
                upcoming.cancel()
                if not upcoming.cancelled():
                    upcoming.exception()
        if failed:
            return self._insert_stream(spec, committed, newest, done, pending)
        return committed, done

    def _after_batch(self, spec: TableSpec, done: int, pending: int) -> None:
        self.batches.count += 1
        if self.progress:
            self.progress(spec.name, done, pending)
        if self.on_batch:
            self.on_batch(spec.name, self.batches.count)
        if self.stop is not None and self.stop.is_set():
            raise Stopped
