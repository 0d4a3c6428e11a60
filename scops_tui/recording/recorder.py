"""The recording loop: sample on schedule, write in batches, stop at once when its stop event is set."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from scops_tui.errors import ScopsError
from scops_tui.recording.sampler import HostSampler
from scops_tui.store import database as store
from scops_tui.store.recorder_lock import RecorderLock
from scops_tui.store.records import MetricRecord
from scops_tui.store.timestamps import now_ms

if TYPE_CHECKING:
    from scops_tui.alerts.config import AlertSettings
    from scops_tui.alerts.sender import AlertSender
    from scops_tui.detection.live import DetectionSettings, LiveDetection

FIRST_SAMPLE_AFTER = 0.5
"""Seconds after start of the first sample, so the first row is on disk well within 1.5 s."""

PRUNE_EVERY = 3600.0
"""Seconds between applications of the retention setting while recording."""

ROLLUP_EVERY = 60.0
"""Seconds between folding new samples into the per-minute rollup."""

MAX_BUFFERED_SAMPLES = 100_000
"""Samples kept in memory while the database cannot be written; the oldest go first past this."""


@dataclass
class RecorderStats:
    """What a recording run did."""

    samples: int = 0
    written: int = 0
    flushes: int = 0
    failed_flushes: int = 0
    dropped: int = 0
    """Samples given up because the database stayed unwritable past MAX_BUFFERED_SAMPLES."""
    restamped: int = 0
    """Samples stored later than their wall time: the clock was at or behind a stored sample of the source."""
    last_error: str | None = None
    first_write_after: float | None = None
    """Seconds from start to the first row committed."""
    errors: list[str] = field(default_factory=list)


class Recorder:
    """Samples a host on a fixed schedule into one database; the only writer of that file's metrics."""

    def __init__(
        self,
        db_path: Path,
        sampler: HostSampler,
        *,
        interval: float = 5.0,
        flush_interval: float = 10.0,
        busy_timeout_ms: int = 5000,
        on_sample: Callable[[MetricRecord], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
        on_start: Callable[[], None] | None = None,
        detection: DetectionSettings | None = None,
        retention_days: float | None = None,
        alerts: AlertSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[threading.Event, float], bool] | None = None,
    ) -> None:
        if interval < 1.0:
            raise ValueError("interval must be at least 1 second")
        self.db_path = db_path
        self.sampler = sampler
        self.interval = interval
        self.flush_interval = flush_interval
        self.busy_timeout_ms = busy_timeout_ms
        self.on_sample = on_sample
        self.on_error = on_error
        self.on_warning = on_warning or on_error
        self._clock_behind = False
        self.on_start = on_start
        self.detection_settings = detection
        self.retention_days = retention_days
        self.detection: LiveDetection | None = None
        self.alerts = alerts
        self.sender: AlertSender | None = None
        # Tests pass a fake clock and a wait that advances it, so hours of sampling run in a moment.
        self._clock = clock
        self._wait = wait or (lambda event, seconds: event.wait(seconds))
        self.stats = RecorderStats()

    def run(self, stop: threading.Event, duration: float | None = None) -> RecorderStats:
        """Record until `stop` is set or `duration` seconds have passed; flush the buffer, then return."""
        # A path that can never be a database (a FIFO, a device, a foreign file) is refused before the
        # lock file is made beside it, so a refused run leaves nothing behind.
        store.inspect_file(self.db_path)
        lock = RecorderLock(self.db_path)
        lock.acquire()
        try:
            conn = store.open_database(self.db_path, busy_timeout_ms=self.busy_timeout_ms)
            try:
                if self.detection_settings is not None:
                    from scops_tui.detection.live import LiveDetection

                    system_id = store.user_id(conn, store.SYSTEM_USERNAME)
                    self.detection = LiveDetection(
                        self.db_path, self.sampler.source, system_id, settings=self.detection_settings
                    )
                    with store.sqlite_errors(self.db_path):
                        self.detection.start(conn)
                self._start_alerts()
                if self.on_start is not None:
                    self.on_start()
                self._loop(conn, stop, duration)
            finally:
                if self.sender is not None:
                    self.sender.stop()
                if self.detection is not None:
                    self.detection.close()
                conn.close()
        finally:
            lock.release()
        return self.stats

    def _loop(self, conn: sqlite3.Connection, stop: threading.Event, duration: float | None) -> None:
        system_id = store.user_id(conn, store.SYSTEM_USERNAME)
        started = self._clock()
        end = None if duration is None else started + duration
        with store.sqlite_errors(self.db_path):
            newest = conn.execute(
                "SELECT max(timestamp) FROM metrics WHERE source = ?", (self.sampler.source,)
            ).fetchone()[0]
        if newest is not None:
            # Never write at or before a stored sample of this source (the clock may have stepped back).
            self.sampler.continue_after(int(newest))
        self.sampler.prime()
        buffer: list[MetricRecord] = []
        last_flush = last_rollup = started
        last_prune = started - PRUNE_EVERY  # the first prune comes with the first samples
        due = started + min(FIRST_SAMPLE_AFTER, self.interval)
        tick = 0
        try:
            while end is None or due <= end + 1e-3:
                if self._wait(stop, max(due - self._clock(), 0.0)):
                    break
                record = self.sampler.sample()
                self._note_clock(record)
                if self.detection is not None:
                    record = self.detection.score(record)
                self.stats.samples += 1
                buffer.append(record)
                if self.on_sample is not None:
                    self.on_sample(record)
                now = self._clock()
                # With alerts on, a flagged sample or a new episode is written at once (its alert leaves
                # within a second), and so is the next one while an alert waits for the top processes it stores.
                urgent = self.sender is not None and (
                    record.is_anomaly
                    or self.sender.awaiting_processes
                    or (self.detection is not None and self.detection.has_new_episode)
                )
                if self.stats.written == 0 or urgent or now - last_flush >= self.flush_interval:
                    self._flush(conn, buffer, system_id, started)
                    last_flush = now
                if now - last_rollup >= ROLLUP_EVERY:
                    self._roll_up(conn)
                    last_rollup = now
                if self.retention_days is not None and now - last_prune >= PRUNE_EVERY:
                    self._prune(conn)
                    last_prune = now
                if self.detection is not None:
                    self._detection_housekeeping(conn)
                tick += 1
                due = started + tick * self.interval
                if due < now:
                    # Missed ticks (suspend, overload) are skipped, not sampled in a burst.
                    tick = int((now - started) // self.interval) + 1
                    due = started + tick * self.interval
        finally:
            if buffer:
                self._flush(conn, buffer, system_id, started, final=True)

    def _flush(
        self,
        conn: sqlite3.Connection,
        buffer: list[MetricRecord],
        system_id: bytes,
        started: float,
        *,
        final: bool = False,
    ) -> None:
        detection = self.detection
        try:
            with store.sqlite_errors(self.db_path), store.transaction(conn):
                self._skip_taken_timestamps(conn, buffer)
                result = store.write_metrics(conn, buffer, created_by=system_id, created_at=now_ms())
                if detection is not None:
                    self._persist_detection(conn, detection, result.first_id)
        except ScopsError as exc:
            if detection is not None:
                detection.after_rollback()
            self.stats.failed_flushes += 1
            message = str(exc)
            if message != self.stats.last_error and self.on_error is not None:
                self.on_error(message)
            self.stats.last_error = message
            if len(self.stats.errors) < 100:
                self.stats.errors.append(message)
            overflow = max(len(buffer) - MAX_BUFFERED_SAMPLES, 0)
            if overflow:
                del buffer[:overflow]
                self.stats.dropped += overflow
                if detection is not None:
                    detection.drop_oldest(overflow)
                if self.on_error is not None:
                    self.on_error(
                        f"{self.stats.dropped} oldest samples dropped: the database has been unwritable for "
                        f"more than {MAX_BUFFERED_SAMPLES} samples"
                    )
            if final:
                raise
            return
        if detection is not None:
            detection.after_commit()
        if self.sender is not None:
            self.sender.wake()
        if self.stats.first_write_after is None:
            self.stats.first_write_after = self._clock() - started
        self.stats.written += len(buffer)
        self.stats.flushes += 1
        self.stats.last_error = None
        buffer.clear()

    def _start_alerts(self) -> None:
        """Start the alert sender (its own thread and connection) and queue alerts with each episode change."""
        if self.alerts is None or not self.alerts.enabled:
            return
        from scops_tui.alerts.sender import AlertSender

        self.sender = AlertSender(
            self.db_path, self.alerts, busy_timeout_ms=self.busy_timeout_ms, on_warning=self.on_warning
        )
        if self.detection is not None:
            self.detection.on_episode = self.sender.outbox.note
        self.sender.start()

    def _note_clock(self, record: MetricRecord) -> None:
        """Count a sample stamped past its wall time; warn once each time the clock falls behind."""
        shifted = self.sampler.shifted_ms
        if not shifted:
            self._clock_behind = False
            return
        self.stats.restamped += 1
        if not self._clock_behind:
            self._clock_behind = True
            if self.on_warning is not None:
                self.on_warning(
                    f"the wall clock is {(shifted - 1) / 1000:,.3f} s behind the newest sample of {record.source} "
                    "(it stepped back): samples are stored 1 ms apart after it until the clock catches up"
                )

    def _skip_taken_timestamps(self, conn: sqlite3.Connection, buffer: list[MetricRecord]) -> None:
        """Move any buffered sample whose (source, timestamp) another writer stored meanwhile to the next free ms.

        The sampler already stamps every sample after the newest one stored when recording started; this
        only matters if something else (an import under the same source) wrote into the batch's time span.
        Order is kept: each sample stays after the one before it.
        """
        if not buffer:
            return
        source = self.sampler.source
        low, high = buffer[0].timestamp_ms, buffer[-1].timestamp_ms + len(buffer)
        taken = {
            int(row[0])
            for row in conn.execute(
                "SELECT timestamp FROM metrics WHERE source = ? AND timestamp BETWEEN ? AND ?", (source, low, high)
            )
        }
        if not taken:
            return

        def is_taken(timestamp: int) -> bool:
            if timestamp <= high:
                return timestamp in taken
            return (
                conn.execute("SELECT 1 FROM metrics WHERE source = ? AND timestamp = ?", (source, timestamp)).fetchone()
                is not None
            )

        previous = low - 1
        moved = 0
        for index, record in enumerate(buffer):
            timestamp = max(record.timestamp_ms, previous + 1)
            while is_taken(timestamp):
                timestamp += 1
            if timestamp != record.timestamp_ms:
                buffer[index] = dataclasses.replace(record, timestamp_ms=timestamp)
                moved += 1
            previous = timestamp
        self.sampler.continue_after(previous)
        self.stats.restamped += moved
        if moved and self.on_warning is not None:
            self.on_warning(
                f"{moved} samples of {source} stored at the next free millisecond: "
                "another writer stored rows at their times"
            )

    def _persist_detection(self, conn: sqlite3.Connection, detection: LiveDetection, first_id: int | None) -> None:
        """Write the batch's predictions and episodes; a failure there never costs the samples themselves."""
        conn.execute("SAVEPOINT detection")
        try:
            detection.persist(conn, first_id)
        except sqlite3.OperationalError:
            raise  # locked, full, I/O: the whole batch waits for the next try
        except (sqlite3.Error, ValueError) as exc:
            # A row the schema refuses would be refused again on every retry: give it up, keep the samples.
            conn.execute("ROLLBACK TO detection")
            detection.discard_pending()
            message = f"detection results of this batch were not stored: {exc}"
            self.stats.errors.append(message)
            if self.on_error is not None:
                self.on_error(message)
        conn.execute("RELEASE detection")

    def _housekeeping(self, work: Callable[[], object]) -> None:
        """Run upkeep between samples; a database problem is reported (once) and never stops recording."""
        try:
            with store.sqlite_errors(self.db_path):
                work()
        except ScopsError as exc:
            if self.on_error is not None and str(exc) != self.stats.last_error:
                self.on_error(str(exc))

    def _prune(self, conn: sqlite3.Connection) -> None:
        """Apply the retention setting: raw rows older than it go (the rollup and unsynced rows stay)."""
        from scops_tui.store import rollup
        from scops_tui.store.maintenance import prune_older_than

        assert self.retention_days is not None
        cutoff = now_ms() - round(self.retention_days * 86_400_000)
        self._housekeeping(lambda: (rollup.catch_up(conn), prune_older_than(conn, cutoff)))

    def _roll_up(self, conn: sqlite3.Connection) -> None:
        """Fold new samples into the per-minute and per-hour summary that long charts read."""
        from scops_tui.store import rollup

        self._housekeeping(lambda: rollup.catch_up(conn))

    def _detection_housekeeping(self, conn: sqlite3.Connection) -> None:
        detection = self.detection
        assert detection is not None
        self._housekeeping(lambda: detection.tick(conn))


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """Set `stop` on SIGINT and SIGTERM while the block runs (main thread only)."""
    import signal

    def handler(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
