"""One batch onto the server: COPY into the stage, upsert, detect conflicts, commit with the table's checkpoint;
a batch refused for its data is bisected until the bad rows are found, and they go to the rejects list.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scops_tui.sync.local import SyncCheckpoint, cache_checkpoint
from scops_tui.sync.rejects import CONFLICT_REASON, PushRejects
from scops_tui.sync.report import TableReport
from scops_tui.sync.server import ServerUnreachable, SyncError, one_line
from scops_tui.sync.session import PushSession, copy_rows, is_connection_error, is_data_error
from scops_tui.sync.tables import METRICS_FAST, METRICS_SAFE, TableSpec

if TYPE_CHECKING:
    import psycopg

DURABLE_EVERY = 10
"""Every so many batches, and at the end of each table, a commit waits for the server's disk."""


class Batches:
    """The batches of one push session: sending, bisecting, the checkpoint that commits with each."""

    def __init__(
        self, session: PushSession, writer: sqlite3.Connection, rejects: PushRejects, report: dict[str, TableReport]
    ) -> None:
        self.session = session
        self.writer = writer
        self.rejects = rejects
        self.report = report
        self.known_days: set[int] = set()
        """Days whose metrics partition this session has made sure of."""
        self.count = 0
        """Batches committed so far in this session."""
        self.unflushed: SyncCheckpoint | None = None
        """A checkpoint committed without a disk flush on the server, not yet cached locally."""
        self.conflicts: list[int] = []
        """Local ids of the last batch that the server holds with other content under the same key."""

    def durable(self, final: bool) -> bool:
        """Whether the next commit waits for the server's disk: at a stream's end, and every `DURABLE_EVERY`-th."""
        return final or self.count % DURABLE_EVERY == DURABLE_EVERY - 1

    def committed(self, cp: SyncCheckpoint, durable: bool) -> None:
        """A batch committed with `cp`: cache it locally once the server has flushed it, else keep it pending."""
        if durable:
            self.unflushed = None
            cache_checkpoint(self.writer, cp)
        else:
            self.unflushed = cp

    def deliver(
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

        target = self.session.target
        new_cp = cp if retry else _next_checkpoint(spec, rows, cp, change)
        durable = self.durable(final)
        try:
            inserted, updated = self._send(spec, rows, new_cp, durable, safe=retry)
        except psycopg.Error as exc:
            self.session.rollback()
            if not is_data_error(exc):
                if is_connection_error(exc):
                    raise ServerUnreachable(f"lost {target.display}: {one_line(exc, target)}") from None
                raise SyncError(f"{target.display}: {spec.name}: {one_line(exc, target)}") from None
            if len(rows) == 1:
                self._reject(spec, int(rows[0][0]), getattr(exc, "sqlstate", None), one_line(exc, target)[:500])
                self.commit_checkpoint(new_cp)
                return new_cp
            middle = len(rows) // 2
            cp = self.deliver(spec, rows[:middle], cp, change=change, final=True, retry=retry)
            return self.deliver(spec, rows[middle:], cp, change=change, final=True, retry=retry)
        table = self.report[spec.name]
        table.sent += len(rows)
        table.inserted += inserted
        table.updated += updated
        self.rejects.forget_landed(spec.name, rows, keep=self.conflicts)
        self.conflicts = []
        self.committed(new_cp, durable)
        return new_cp

    def _send(
        self, spec: TableSpec, rows: Sequence[Sequence[Any]], cp: SyncCheckpoint, durable: bool, *, safe: bool = False
    ) -> tuple[int, int]:
        if spec.name != "metrics":
            return self._send_with(spec, rows, cp, spec.upsert_sql(), durable)
        import psycopg

        days = self.new_days(rows)
        if days:
            self.make_partitions(self.session.conn, days)
        if safe:
            return self._send_with(spec, rows, cp, METRICS_SAFE, durable)
        try:
            return self._send_with(spec, rows, cp, METRICS_FAST, durable)
        except psycopg.errors.UniqueViolation:
            self.session.rollback()
            return self._send_with(spec, rows, cp, METRICS_SAFE, durable)

    def _send_with(
        self, spec: TableSpec, rows: Sequence[Sequence[Any]], cp: SyncCheckpoint, upsert: str, durable: bool
    ) -> tuple[int, int]:
        self.conflicts = []
        conn = self.session.conn
        database_id = self.session.database_id
        with conn.cursor() as cur:
            if durable:
                cur.execute("SET LOCAL synchronous_commit = on")
            copy_rows(cur, spec, rows)
            cur.execute(upsert, {"db": database_id})
            counts = cur.fetchone() if cur.description else (cur.rowcount, 0)
            inserted, updated = (int(counts[0]), int(counts[1])) if counts else (0, 0)
            if inserted + updated < len(rows):
                # Some rows were skipped: fine when the server holds them as they are (a batch sent
                # twice), a conflict when it holds something else under the same key.
                # They go on the rejects list before the commit: a crash in between only retries them.
                cur.execute(spec.conflict_sql(), {"db": database_id})
                self.conflicts = [int(row[0]) for row in cur.fetchall()]
                for local_id in self.conflicts:
                    self._reject(spec, local_id, "23505", CONFLICT_REASON)
            self.session.write_checkpoint(cur, cp)
        conn.commit()
        return inserted, updated

    def new_days(self, rows: Sequence[Sequence[Any]]) -> set[int]:
        """The days of `rows` whose metrics partition this session has not made sure of yet."""
        return {int(row[1]) // 86_400_000 for row in rows} - self.known_days

    def make_partitions(self, conn: psycopg.Connection[Any], days: set[int]) -> None:
        """Make sure the daily metrics partitions of `days` exist (on `conn`, committed)."""
        conn.execute("SELECT scops_ensure_metrics_partitions(%s::integer[])", (sorted(days),))
        conn.commit()
        self.known_days |= days

    def commit_checkpoint(self, cp: SyncCheckpoint) -> None:
        """Commit the table's checkpoint alone, waiting for the server's disk, then cache it locally."""
        import psycopg

        try:
            with self.session.conn.cursor() as cur:
                cur.execute("SET LOCAL synchronous_commit = on")
                self.session.write_checkpoint(cur, cp)
            self.session.conn.commit()
        except psycopg.Error as exc:
            self.session.rollback()
            target = self.session.target
            raise ServerUnreachable(f"lost {target.display}: {one_line(exc, target)}") from None
        self.committed(cp, True)

    def _reject(self, spec: TableSpec, local_id: int, state: str | None, reason: str) -> None:
        self.rejects.record(spec.name, local_id, state, reason)
        self.report[spec.name].rejected += 1


def _next_checkpoint(
    spec: TableSpec, rows: Sequence[Sequence[Any]], cp: SyncCheckpoint, change: bool
) -> SyncCheckpoint:
    last = rows[-1]
    if change:
        return SyncCheckpoint(spec.name, cp.last_id, int(last[spec.updated_at_index]), int(last[0]))
    return SyncCheckpoint(spec.name, int(last[0]), cp.change_updated_at, cp.change_id)
