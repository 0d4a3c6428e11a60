"""Push the local database to PostgreSQL: incremental, batched, idempotent, resumable. This is the run.

Every table is sent parents first (`store.TABLES`) as two streams read from one local snapshot (`streams`):
rows whose id is past the table's checkpoint (new rows) and, for tables whose rows change, rows already sent
whose `updated_at` moved past the change checkpoint. A batch is binary-COPYed into a session TEMP stage,
upserted and committed together with the table's checkpoint in PostgreSQL, then cached locally (`batches`).
A batch the server refuses for its data (SQLSTATE 22xxx/23xxx) is bisected until the bad rows are found;
they go to the local rejects list (`rejects`) and the rest lands. A lost connection is re-opened here.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scops_tui.store import database as store
from scops_tui.store.timestamps import now_ms
from scops_tui.sync.batches import Batches
from scops_tui.sync.local import cache_checkpoint, pending_rows, record_state
from scops_tui.sync.rejects import PushRejects
from scops_tui.sync.report import BatchHook, ProgressCallback, SyncReport, TableReport
from scops_tui.sync.server import ServerUnreachable, SyncError, one_line
from scops_tui.sync.session import PushSession, is_connection_error
from scops_tui.sync.streams import Stopped, Streams
from scops_tui.sync.tables import SPECS
from scops_tui.sync.target import SyncTarget

DEFAULT_BATCH_SIZE = 10_000
READER_MMAP_BYTES = 256 * 1024 * 1024
"""The reader maps the file: about 8 % less CPU per row read than copying pages through read()."""
BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 60.0


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
    # A dry run only counts: it never creates a database where there is none.
    writer = store.open_database(db_path, busy_timeout_ms=busy_timeout_ms, create=not dry_run)
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
            rejects = PushRejects(writer)
            session = PushSession(target, database_id)
        except ServerUnreachable:
            if not connected_once or reconnects >= max_reconnects:
                raise
            reconnects += 1
            sleep(next(delays))
            continue
        connected_once = True
        streams = Streams(
            Batches(session, writer, rejects, reports),
            reader,
            batch_size=batch_size,
            progress=progress,
            on_batch=on_batch,
            stop=stop,
            rejects_only=rejects_only,
        )
        try:
            checkpoints = session.server_checkpoints()
            for cp in checkpoints.values():
                cache_checkpoint(writer, cp)
            pending = pending_rows(reader, checkpoints)
            for table in store.TABLES:
                streams.push_table(SPECS[table], checkpoints[table], 0, pending[table])
            return reconnects
        except Stopped:
            return reconnects
        except ServerUnreachable:
            if reconnects >= max_reconnects:
                raise
            reconnects += 1
            sleep(next(delays))
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                if not is_connection_error(exc) or reconnects >= max_reconnects:
                    raise SyncError(f"{target.display}: {one_line(exc, target)}") from None
                reconnects += 1
                sleep(next(delays))
            else:
                raise
        finally:
            session.close()


def backoff_delays(first: float = BACKOFF_FIRST_S, cap: float = BACKOFF_MAX_S) -> Any:
    """Exponential backoff with jitter: each delay is drawn from [d/2, d], d doubling from `first` to `cap`."""
    delay = first
    while True:
        yield random.uniform(delay / 2, delay)
        delay = min(cap, delay * 2)
