"""The rejects list: rows the server refused, kept locally with the reason; recorded and cleared by a push,
listed and dropped by `sync rejects`. It reads and writes the SQLite file only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scops_tui.store import database as store
from scops_tui.store.timestamps import now_ms

CONFLICT_REASON = (
    "conflict: the server holds a different row under the same key (left as it is there); "
    "a copied or restored database, or a change made on the server"
)
GONE_REASON = "the local row no longer exists; `scops-tui sync rejects drop ID --yes` forgets it"


@dataclass(frozen=True)
class RejectedRow:
    """A row the server refused, kept locally with the reason."""

    table: str
    local_id: int
    sqlstate: str | None
    reason: str
    rejected_at: int
    id: int = 0
    """The entry's own id, as `sync rejects drop ID` takes it."""


class PushRejects:
    """The rejects list as a push keeps it: the local ids per table, written through to `sync_rejects`."""

    def __init__(self, writer: sqlite3.Connection) -> None:
        self.writer = writer
        self.ids: dict[str, set[int]] = {}
        """Local ids in `sync_rejects`, per table: their entries go once the rows land."""
        for table, local_id in writer.execute("SELECT table_name, local_id FROM sync_rejects"):
            self.ids.setdefault(str(table), set()).add(int(local_id))

    def of(self, table: str) -> list[int]:
        """The local ids of `table` on the list, in order."""
        return sorted(self.ids.get(table, ()))

    def record(self, table: str, local_id: int, state: str | None, reason: str) -> None:
        """Put a refused row on the list (or refresh its entry) with the server's SQLSTATE and reason."""
        self.writer.execute(
            "INSERT INTO sync_rejects (table_name, local_id, sqlstate, reason, rejected_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (table_name, local_id) DO UPDATE SET sqlstate = excluded.sqlstate, "
            "reason = excluded.reason, rejected_at = excluded.rejected_at",
            (table, local_id, state, reason, now_ms()),
        )
        self.ids.setdefault(table, set()).add(local_id)

    def forget_landed(self, table: str, rows: Sequence[Sequence[Any]], keep: Sequence[int] = ()) -> None:
        """Drop the entries of rows that have now landed (sent again, and taken by the server)."""
        rejected = self.ids.get(table)
        if not rejected:
            return
        landed = rejected.intersection(int(row[0]) for row in rows).difference(keep)
        if landed:
            self.writer.executemany(
                "DELETE FROM sync_rejects WHERE table_name = ? AND local_id = ?", [(table, i) for i in landed]
            )
            rejected -= landed

    def mark_gone(self, table: str, local_ids: Iterable[int]) -> None:
        """Say on their entries that these rows no longer exist locally (they stay until dropped)."""
        self.writer.executemany(
            "UPDATE sync_rejects SET reason = ?, rejected_at = ? WHERE table_name = ? AND local_id = ?",
            [(GONE_REASON, now_ms(), table, local_id) for local_id in sorted(local_ids)],
        )


def list_rejects(conn: sqlite3.Connection, limit: int | None = None) -> list[RejectedRow]:
    """The rejects list, newest first (all of it when `limit` is None)."""
    return [
        RejectedRow(row[0], int(row[1]), row[2], row[3], int(row[4]), int(row[5]))
        for row in conn.execute(
            "SELECT table_name, local_id, sqlstate, reason, rejected_at, id FROM sync_rejects "
            "ORDER BY rejected_at DESC, id DESC LIMIT ?",
            (-1 if limit is None else limit,),
        )
    ]


def read_rejects(db_path: Path, *, busy_timeout_ms: int = 5000) -> list[RejectedRow]:
    """Every row the server refused, newest first, read locally (`scops-tui sync rejects`)."""
    conn = store.open_database(db_path, busy_timeout_ms=busy_timeout_ms, create=False)
    try:
        with store.sqlite_errors(db_path):
            return list_rejects(conn)
    finally:
        conn.close()


def drop_rejects(db_path: Path, ids: list[int], *, busy_timeout_ms: int = 5000) -> list[RejectedRow]:
    """Forget the rejects `ids` (all or none): their rows stop being pending, and `db prune` may delete them.

    Raises ScopsError naming the ids that are not on the list; returns the entries dropped.
    """
    from scops_tui.errors import ScopsError

    conn = store.open_database(db_path, busy_timeout_ms=busy_timeout_ms, create=False)
    try:
        with store.sqlite_errors(db_path), store.transaction(conn):
            wanted = sorted(set(ids))
            found = {reject.id: reject for reject in list_rejects(conn) if reject.id in wanted}
            missing = [i for i in wanted if i not in found]
            if missing:
                raise ScopsError(
                    f"no reject with id {', '.join(map(str, missing))}; `scops-tui sync rejects` lists them"
                )
            conn.executemany("DELETE FROM sync_rejects WHERE id = ?", [(i,) for i in wanted])
            return [found[i] for i in wanted]
    finally:
        conn.close()
