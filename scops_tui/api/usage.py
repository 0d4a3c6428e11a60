"""The usage log: one writer thread with its own connection writes api_key_usage rows (and stored
predictions) in batches, and bumps each key's `last_used_at` and `usage_count` in the same transaction."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from scops_tui.store.database import connect, transaction

log = logging.getLogger("scops_tui.api")

FLUSH_SECONDS = 0.5
"""A batch is written at most this long after its first row arrived."""
BATCH_ROWS = 500
"""A batch is written as soon as it holds this many rows."""
MAX_PENDING = 200_000
"""Rows kept while the database refuses writes (locked past the busy timeout); beyond, the oldest go."""


@dataclass(frozen=True)
class UsageRow:
    """One request that presented a known key."""

    api_key_id: int
    endpoint: str
    method: str
    status_code: int
    response_time_ms: int
    request_size_bytes: int
    response_size_bytes: int
    ip_address: str | None
    user_agent: str | None
    created_at: int


@dataclass(frozen=True)
class PredictionRow:
    """One scored `/ml/predict` record, for model_predictions."""

    model_version_id: int
    predicted_anomaly: bool
    confidence_score: float
    prediction_time_ms: float
    model_features: str
    created_at: int


_STOP = object()


class UsageLog:
    """The batched writer. `add` never blocks a request; `close` flushes everything and stops the thread."""

    def __init__(
        self,
        db_path: Path,
        *,
        busy_timeout_ms: int = 5000,
        flush_seconds: float = FLUSH_SECONDS,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.db_path = db_path
        self.busy_timeout_ms = busy_timeout_ms
        self.flush_seconds = flush_seconds
        self.batch_rows = batch_rows
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="scops-usage-log", daemon=True)
        self.written = 0
        """Usage rows committed so far."""
        self.predictions_written = 0
        self.dropped = 0
        """Rows given up because the database refused writes for too long."""
        self.failed_batches = 0
        self._ready = threading.Event()
        self._open_error: BaseException | None = None

    def start(self) -> None:
        """Start the writer; raises if its connection cannot be opened."""
        self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            raise self._open_error

    def add(self, row: UsageRow | PredictionRow) -> None:
        """Queue a row for the next batch."""
        self._queue.put(row)

    def close(self) -> None:
        """Write every queued row, then stop the writer."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        try:
            conn = connect(self.db_path, busy_timeout_ms=self.busy_timeout_ms)
        except BaseException as exc:
            self._open_error = exc
            self._ready.set()
            return
        self._ready.set()
        pending: list[UsageRow | PredictionRow] = []
        try:
            stopping = False
            while not stopping:
                # Wait for the first row of a batch (while rows are left over, only a flush period).
                try:
                    item = self._queue.get(timeout=self.flush_seconds if pending else None)
                except queue.Empty:
                    item = None
                deadline = time.monotonic() + self.flush_seconds
                while item is not None:
                    if item is _STOP:
                        stopping = True
                        break
                    assert isinstance(item, UsageRow | PredictionRow)
                    pending.append(item)
                    remaining = deadline - time.monotonic()
                    if len(pending) >= self.batch_rows or remaining <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=remaining)
                    except queue.Empty:
                        item = None
                pending = self._write(conn, pending)
            # Rows queued after the stop marker (none, unless a request raced the shutdown).
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, UsageRow | PredictionRow):
                    pending.append(item)
            while pending:  # the last batches at shutdown: retried until written or refused for good
                before = len(pending)
                pending = self._write(conn, pending)
                if len(pending) == before:
                    self.dropped += len(pending)
                    log.error("usage log: %d rows could not be written at shutdown", len(pending))
                    break
        finally:
            conn.close()

    def _write(self, conn: sqlite3.Connection, rows: list[UsageRow | PredictionRow]) -> list[UsageRow | PredictionRow]:
        """Write `rows` in one transaction; return what is left to write (all of it when the write failed)."""
        if not rows:
            return rows
        usage = [r for r in rows if isinstance(r, UsageRow)]
        predictions = [r for r in rows if isinstance(r, PredictionRow)]
        uses = Counter(r.api_key_id for r in usage)
        last_used: dict[int, int] = {}
        for r in usage:
            last_used[r.api_key_id] = max(last_used.get(r.api_key_id, 0), r.created_at)
        try:
            with transaction(conn):
                conn.executemany(
                    "INSERT INTO api_key_usage (api_key_id, endpoint, method, status_code, response_time_ms, "
                    "request_size_bytes, response_size_bytes, ip_address, user_agent, created_at) "
                    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = ?)",
                    [
                        (
                            r.api_key_id,
                            r.endpoint[:200] or "/",
                            r.method[:10],
                            r.status_code,
                            r.response_time_ms,
                            r.request_size_bytes,
                            r.response_size_bytes,
                            None if r.ip_address is None else r.ip_address[:45],
                            r.user_agent,
                            r.created_at,
                            r.api_key_id,
                        )
                        for r in usage
                    ],
                )
                conn.executemany(
                    "UPDATE api_keys SET usage_count = usage_count + ?, "
                    "last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?",
                    [(count, last_used[key_id], key_id) for key_id, count in uses.items()],
                )
                conn.executemany(
                    "INSERT INTO model_predictions (model_version_id, predicted_anomaly, confidence_score, "
                    "prediction_time_ms, model_features, created_at, updated_at) "
                    "SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM ml_model_versions WHERE id = ?)",
                    [
                        (
                            p.model_version_id,
                            int(p.predicted_anomaly),
                            p.confidence_score,
                            p.prediction_time_ms,
                            p.model_features,
                            p.created_at,
                            p.created_at,
                            p.model_version_id,
                        )
                        for p in predictions
                    ],
                )
        except sqlite3.Error as exc:
            self.failed_batches += 1
            log.warning("usage log: a batch of %d rows was not written yet (%s); retrying", len(rows), exc)
            if len(rows) > MAX_PENDING:
                self.dropped += len(rows) - MAX_PENDING
                rows = rows[-MAX_PENDING:]
            time.sleep(min(self.flush_seconds, 0.5))
            return rows
        self.written += len(usage)
        self.predictions_written += len(predictions)
        return []
