"""Detection inside the recorder: score each sample as it is taken, group episodes, write predictions
with the sample's batch, and keep a learned model trained in a short-lived child process."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scops_tui.detection import registry, review
from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.detector import DEFAULT_THRESHOLD, StreamingDetector
from scops_tui.detection.episodes import CONFIRM_MS, EpisodeEvent, EpisodeGrouper
from scops_tui.store.database import METRIC_SCALES
from scops_tui.store.records import MetricRecord

LEVEL_METRICS = tuple(m for m in registry.DETECTED_METRICS if m not in ("load_1m", "disk_usage"))
"""Metrics whose level keeps an episode open while it stays changed. Not the load average (a 1-minute
moving average: it lags the end of a change by about a minute) nor disk usage (what a burst wrote stays
written): they still count towards the score and the ranking of deviating metrics. Only a rise holds an
episode open (a CPU burn, a memory hog, a write storm); a host that went quieter follows the score."""

BURST_METRICS = ("disk_io_read", "disk_io_write", "network_rx", "network_tx")
"""Rates that come in bursts of a second or two (dirty-page writeback, a program reading its files, a
download's chunks): a change led by them alone is reported once it has held for `BURST_CONFIRM_MS`."""

PROCESS_REUSE_MS = 10_000
"""A process scan started for an onset this recent also answers for a new onset (see `_note_onset`)."""

REPORTED_RESOLUTIONS = {"memory_usage": 0.1, "disk_usage": 0.1}
"""psutil reports memory and disk usage rounded to 0.1 %: one step up (page cache during a write storm) is
no resource held busy."""

_REMEMBERED_EPISODES = 16
"""Recent episodes whose row a late top-processes measurement can still find."""

REGISTRY_POLL_SECONDS = 60.0
"""How often the recorder looks for a version deployed by someone else (`model deploy`, a training run)."""


@dataclass(frozen=True)
class DetectionSettings:
    """How the recorder detects."""

    threshold: float = DEFAULT_THRESHOLD
    """Score at or above which a sample is flagged and an episode opens."""
    retrain_seconds: float = 6 * 3600.0
    """Time between scheduled retrainings once a learned model exists."""
    train_in_background: bool = True
    """Start training runs in a child process when enough history exists and on schedule."""
    capture_processes: bool = True
    """Measure the top processes when an episode opens."""


@dataclass
class _Pending:
    """What the next flush must write besides the metrics rows."""

    flagged: list[tuple[int, float, float, dict[str, float]]]
    """(index in batch, score, scoring time ms, features) of each flagged sample."""
    events: list[EpisodeEvent]


class LiveDetection:
    """Scores one source's samples in time order for the recorder (one instance, one thread)."""

    def __init__(
        self,
        db_path: Path,
        source: str,
        created_by: bytes,
        *,
        config: DetectorConfig | None = None,
        settings: DetectionSettings | None = None,
    ) -> None:
        self.db_path = db_path
        self.source = source
        self.created_by = created_by
        self.config = dataclasses.replace(config or DetectorConfig(), auto_train=False)
        self.settings = settings or DetectionSettings()
        self.detector = StreamingDetector(len(registry.DETECTED_METRICS), self.config)
        self.grouper = EpisodeGrouper(
            registry.DETECTED_METRICS,
            open_threshold=self.settings.threshold,
            # One bar: a sample is abnormal when it is flagged or the host is held changed; the hysteresis
            # is in time (5 quiet samples), so a score hovering just under the flag does not hold it open.
            close_threshold=self.settings.threshold,
            level_metrics=LEVEL_METRICS,
            burst_metrics=BURST_METRICS,
            resolutions=REPORTED_RESOLUTIONS,
            hold_rises_only=True,
            confirm_ms=CONFIRM_MS,
        )
        self.version: registry.ModelVersion | None = None
        self._batch_flagged: list[tuple[int, float, float, dict[str, float]]] = []
        self._events: list[EpisodeEvent] = []
        self._batch_size = 0
        self._episode_id: int | None = None
        self._staged_episode_id: int | None = None
        self._processes: queue.Queue[tuple[int, list[dict[str, Any]]]] = queue.Queue()
        self._process_results: dict[int, list[dict[str, Any]]] = {}
        """Top processes measured at an episode's onset, by its start, until they are stored on its row."""
        self._measured_onset: int | None = None
        """Start of the last onset whose top processes were measured."""
        self._last_scan: int | None = None
        """The onset the last process scan was started for."""
        self._last_lead: frozenset[int] = frozenset()
        """The leading metrics of that onset: a change led by others gets a scan of its own."""
        self._last_found: list[dict[str, Any]] | None = None
        """What that scan found, once it is back."""
        self._waiting: dict[int, list[int]] = {}
        """Onsets waiting for a scan that is not back yet, by the onset the scan was started for."""
        self._episode_ids: dict[int, int] = {}
        """Row id of each recent episode by its start (committed), so a late measurement finds its row."""
        self._staged_ids: dict[int, int] = {}
        self._staged_stored: list[int] = []
        self._trainer: subprocess.Popen[bytes] | None = None
        self._last_training = 0.0
        self._last_poll = 0.0
        self.last_error: str | None = None
        self.on_episode: Callable[[sqlite3.Connection, int | None, EpisodeEvent], None] | None = None
        """Called with each episode change inside the batch's transaction (the alert outbox)."""

    # -- start ------------------------------------------------------------------------------------------

    def start(self, conn: sqlite3.Connection, history_rows: int | None = None) -> None:
        """Load the deployed version and replay recent history, so scoring needs no warm-up after a restart."""
        self._load_deployed(conn)
        wanted = history_rows or (self.config.baseline_window + self.config.spread_window)
        columns = ", ".join(registry.DETECTED_METRICS)
        rows = conn.execute(
            f"SELECT timestamp, {columns} FROM (SELECT * FROM metrics WHERE source = ? "  # noqa: S608
            "ORDER BY timestamp DESC LIMIT ?) ORDER BY timestamp",
            (self.source, wanted),
        ).fetchall()
        for row in rows:
            values = _plain(row[1:])
            result = self.detector.score(int(row[0]), values)
            score = min(max(result.value, 0.0), 1.0)
            # Through the episode logic too, silently: a restarted recorder knows which changes are routine.
            self.grouper.replay_history(int(row[0]), score, result.contributions, values)
        self.grouper.end_history()
        self._last_training = time.monotonic()

    def _load_deployed(self, conn: sqlite3.Connection) -> None:
        version = registry.deployed_version(conn, self.source)
        if version is not None and (self.version is None or version.id != self.version.id):
            try:
                self.detector.set_model(registry.load_learned_model(conn, version))
            except (registry.RegistryError, ValueError) as exc:
                self.last_error = str(exc)
                return
            self.version = version

    # -- per sample -------------------------------------------------------------------------------------

    def score(self, record: MetricRecord) -> MetricRecord:
        """Score a sample; return it with its anomaly score and flag, and note what the flush must write."""
        started = time.perf_counter()
        values = [float(getattr(record, name)) for name in registry.DETECTED_METRICS]
        result = self.detector.score(record.timestamp_ms, values)
        elapsed_ms = (time.perf_counter() - started) * 1000
        score = min(max(result.value, 0.0), 1.0)
        flagged = score >= self.settings.threshold
        index = self._batch_size
        self._batch_size += 1
        if flagged:
            features = dict(zip(registry.DETECTED_METRICS, values, strict=True))
            self._batch_flagged.append((index, score, elapsed_ms, features))
        event = self.grouper.feed(record.timestamp_ms, score, result.contributions, values)
        if event is not None:
            self._events.append(event)
        # The top processes are measured at the onset (or at the first rise after it), before the episode
        # is confirmed, so they are at hand when it is (and its alert need not wait for them); a blip's
        # measurement is dropped later.
        onset = self.grouper.onset_ms
        if (
            onset is not None
            and onset != self._measured_onset
            and self.grouper.onset_rose
            and self.settings.capture_processes
        ):
            self._measured_onset = onset
            self._note_onset(onset)
        return dataclasses.replace(record, anomaly_score=round(score, 4), is_anomaly=flagged)

    @property
    def has_new_episode(self) -> bool:
        """Whether the next flush writes an episode that has just been reported (opened)."""
        return any(event.kind == "opened" for event in self._events)

    def _note_onset(self, onset: int) -> None:
        """Have the top processes measured for an onset, or taken from a scan started for an onset less than
        `PROCESS_REUSE_MS` before and led by the same metrics (a new database's first minutes, or a
        flickering score, bring onsets a few seconds apart; one scan says what is running for all of them).
        A change led by other metrics, such as a CPU burn just after a read burst, is scanned anew."""
        lead = self.grouper.onset_lead
        recent = self._last_scan is not None and 0 <= onset - self._last_scan < PROCESS_REUSE_MS
        if self._last_scan is not None and recent and lead <= self._last_lead:
            if self._last_found is not None:
                self._process_results[onset] = self._last_found
            else:
                self._waiting.setdefault(self._last_scan, [self._last_scan]).append(onset)
            return
        self._last_scan, self._last_found, self._last_lead = onset, None, lead
        self._waiting = {start: onsets for start, onsets in self._waiting.items() if onset - start < 60_000}
        self._measure_processes(onset)

    def _measure_processes(self, episode_start: int) -> None:
        def work() -> None:
            from scops_tui.recording.processes import top_processes

            try:
                found = [p.as_json() for p in top_processes(limit=10, window=0.5)]
            except Exception as exc:  # a process table we cannot read must not stop recording
                found = [{"error": str(exc)}]
            self._processes.put((episode_start, found))

        threading.Thread(target=work, name="scops-top-processes", daemon=True).start()

    # -- with the batch write ---------------------------------------------------------------------------

    def persist(self, conn: sqlite3.Connection, first_id: int | None) -> None:
        """Write predictions and episode changes for the batch just inserted (inside its transaction)."""
        version = self._ensure_version(conn)
        if first_id is not None:
            for index, score, elapsed_ms, features in self._batch_flagged:
                conn.execute(
                    "INSERT INTO model_predictions (model_version_id, metrics_id, predicted_anomaly, "
                    "confidence_score, prediction_time_ms, model_features) VALUES (?, ?, 1, ?, ?, ?)",
                    (
                        version.id,
                        first_id + index,
                        round(score, 4),
                        round(elapsed_ms, 3),
                        json.dumps(features),
                    ),
                )
        episode_id = self._episode_id
        self._staged_ids = dict(self._episode_ids)
        for event in self._events:
            if event.kind == "opened" or episode_id is None:
                episode_id = review.open_episode(
                    conn,
                    event.episode,
                    source=self.source,
                    model_name=version.model_name,
                    model_version=version.version,
                    model_version_id=version.id,
                )
                self._staged_ids[event.episode.start_ms] = episode_id
            else:
                review.update_episode(conn, episode_id, event.episode)
            if self.on_episode is not None:
                self.on_episode(conn, episode_id, event)
            if event.kind == "closed":
                episode_id = None
        # Top processes measured at each onset go onto that episode's row whenever they arrive: also when
        # the episode opened and closed within one batch, or closed before the measurement came back.
        while True:
            try:
                start, found = self._processes.get_nowait()
            except queue.Empty:
                break
            for onset in self._waiting.pop(start, [start]):
                self._process_results[onset] = found
            if start == self._last_scan:
                self._last_found = found
        self._staged_stored = []
        for start, found in self._process_results.items():
            row_id = self._staged_ids.get(start)
            if row_id is not None:
                review.set_top_processes(conn, row_id, found)
                self._staged_stored.append(start)
        self._staged_episode_id = episode_id

    def after_commit(self) -> None:
        """The batch is on disk: forget what was written."""
        self._episode_id = self._staged_episode_id
        self._episode_ids = dict(list(self._staged_ids.items())[-_REMEMBERED_EPISODES:])
        for start in self._staged_stored:
            self._process_results.pop(start, None)
        # A measurement whose episode never got a row (its batch was given up) is not kept forever.
        for start in list(self._process_results)[:-_REMEMBERED_EPISODES]:
            del self._process_results[start]
        self._staged_stored = []
        self._batch_flagged.clear()
        self._events.clear()
        self._batch_size = 0

    def discard_pending(self) -> None:
        """Give up the predictions and episode changes of the current batch (they could not be stored)."""
        self._batch_flagged.clear()
        self._events.clear()
        self._staged_episode_id = self._episode_id = None
        self._staged_ids = dict(self._episode_ids)
        self._staged_stored = []
        self.grouper.reset()

    def drop_oldest(self, count: int) -> None:
        """The recorder gave up the `count` oldest buffered samples: forget their predictions."""
        self._batch_flagged = [(i - count, *rest) for i, *rest in self._batch_flagged if i >= count]  # type: ignore[misc]
        self._batch_size = max(self._batch_size - count, 0)

    def after_rollback(self) -> None:
        """The batch was not written: keep everything for the next try."""
        self._staged_episode_id = self._episode_id
        self._staged_stored = []

    def _ensure_version(self, conn: sqlite3.Connection) -> registry.ModelVersion:
        if self.version is None:
            self._load_deployed(conn)
        if self.version is None:
            now = int(time.time() * 1000)
            self.version = registry.register_statistical(
                conn,
                self.source,
                self.config,
                threshold=self.settings.threshold,
                window=(now, now),
                rows=max(self.detector.rows_seen, 1),
                created_by=self.created_by,
            )
        return self.version

    # -- between samples --------------------------------------------------------------------------------

    def tick(self, conn: sqlite3.Connection) -> None:
        """Housekeeping between samples: notice finished training runs and new deployments, start training."""
        now = time.monotonic()
        if self._trainer is not None and self._trainer.poll() is not None:
            if self._trainer.returncode != 0:
                self.last_error = f"background training exited with status {self._trainer.returncode}"
            self._trainer = None
            self._last_poll = 0.0
        if now - self._last_poll >= REGISTRY_POLL_SECONDS:
            self._last_poll = now
            self._load_deployed(conn)
        if not self.settings.train_in_background or self._trainer is not None:
            return
        enough = self.detector.rows_seen >= self.config.learned_after_rows
        learned = self.version is not None and self.version.kind == registry.LEARNED
        due = not learned or now - self._last_training >= self.settings.retrain_seconds
        if enough and due:
            self._start_training()
            self._last_training = now

    def _start_training(self) -> None:
        command = [
            sys.executable,
            "-m",
            "scops_tui.detection.training",
            "--db",
            str(self.db_path),
            "--source",
            self.source,
            "--deploy",
        ]
        self._trainer = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: os.nice(10),
        )

    def close(self) -> None:
        """Stop a training run still going (it writes in one transaction, so nothing half-done remains)."""
        if self._trainer is not None and self._trainer.poll() is None:
            self._trainer.terminate()
            try:
                self._trainer.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._trainer.kill()


def _plain(row: tuple[Any, ...]) -> list[float]:
    """Detected metric values of a stored row in plain units."""
    return [value / METRIC_SCALES.get(name, 1) for name, value in zip(registry.DETECTED_METRICS, row, strict=True)]
