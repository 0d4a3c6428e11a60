"""`/ml/predict`: check a posted metrics record and score it with its source's deployed model against
that source's recent history, the way the recorder scores (`detection.live.LiveDetection`)."""

from __future__ import annotations

import copy
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scops_tui import config
from scops_tui.store.database import METRIC_SCALES, transaction
from scops_tui.store.timestamps import check_range, now_ms, parse_timestamp

PERCENT = (0.0, 100.0)
LOAD = (0.0, 1e6)
RATE = (0.0, 1e15)
FIELDS: dict[str, tuple[float, float]] = {
    "cpu_usage": PERCENT,
    "memory_usage": PERCENT,
    "disk_usage": PERCENT,
    "load_1m": LOAD,
    "load_5m": LOAD,
    "load_15m": LOAD,
    "disk_io_read": RATE,
    "disk_io_write": RATE,
    "network_rx": RATE,
    "network_tx": RATE,
    "response_time": (0.0, 1e9),
    "error_rate": PERCENT,
}
"""Metric fields a record may carry (the schema's names, plain units) and their ranges."""

_CONTEXT_FIELDS = ("timestamp", "source")


class FieldError(ValueError):
    """A posted field is missing, of the wrong type or out of range (HTTP 422)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"field {field!r}: {problem}")


class NoModelError(Exception):
    """The source has no deployed model to score with (HTTP 404)."""


@dataclass(frozen=True)
class PostedRecord:
    """A checked `/ml/predict` body."""

    source: str
    timestamp_ms: int
    values: dict[str, float]


def detected_metrics() -> tuple[str, ...]:
    """The metrics the host detector reads, which a record must carry."""
    from scops_tui.detection.registry import DETECTED_METRICS

    return DETECTED_METRICS


def parse_record(body: Any, default_source: str) -> PostedRecord:
    """Check a decoded JSON body; FieldError names the first bad field."""
    if not isinstance(body, dict):
        raise FieldError("(body)", f"expected a JSON object of metric fields, found {type(body).__name__}")
    for name in body:
        if name not in FIELDS and name not in _CONTEXT_FIELDS:
            raise FieldError(str(name), "not a field of a metrics record")
    values: dict[str, float] = {}
    for name in detected_metrics():
        if name not in body or body[name] is None:
            raise FieldError(name, "missing (required)")
    for name, (low, high) in FIELDS.items():
        if name not in body or body[name] is None:
            continue
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldError(name, f"expected a number, found {type(value).__name__}")
        number = float(value)
        if not math.isfinite(number) or not low <= number <= high:
            raise FieldError(name, f"{value!r} is out of range ({low:g} to {high:g})")
        values[name] = number
    source = default_source
    if body.get("source") is not None:
        if not isinstance(body["source"], str):
            raise FieldError("source", "expected a string")
        try:
            source = config.source_name(body["source"])
        except ValueError as exc:
            raise FieldError("source", str(exc)) from None
    timestamp = now_ms()
    raw_time = body.get("timestamp")
    if raw_time is not None:
        try:
            if isinstance(raw_time, str):
                timestamp = parse_timestamp(raw_time)
            elif isinstance(raw_time, int | float) and not isinstance(raw_time, bool) and math.isfinite(raw_time):
                timestamp = check_range(round(raw_time * 1000))
            else:
                raise ValueError("expected an ISO-8601 string or epoch seconds")
        except (ValueError, OverflowError) as exc:
            raise FieldError("timestamp", str(exc)) from None
    return PostedRecord(source=source, timestamp_ms=timestamp, values=values)


@dataclass(frozen=True)
class Prediction:
    """The score of a posted record."""

    anomaly_score: float
    is_anomaly: bool
    severity: str
    contributions: dict[str, float]
    model_version: str
    model_version_id: int
    prediction_time_ms: float
    features: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        """The response body of `/ml/predict`."""
        return {
            "anomaly_score": self.anomaly_score,
            "is_anomaly": self.is_anomaly,
            "severity": self.severity,
            "contributions": self.contributions,
            "model_version": self.model_version,
        }

    def features_json(self) -> str:
        """The feature values used, as stored in model_predictions.model_features."""
        return json.dumps(self.features)


@dataclass(frozen=True)
class _Warm:
    """A source's detector, fed with its stored history up to `newest_ms`; never changed once published."""

    version_id: int
    version: str
    threshold: float
    detector: Any
    newest_ms: int


class PredictionService:
    """Keeps one warm detector per source, so scoring a record costs a copy and one sample, not a replay.

    The deployed version and the recorder's new samples are picked up by `refresh` (the server calls it
    every second in the background); a request scores on a copy, so posted records never enter history.
    """

    def __init__(self, db_path: Path, reader: Callable[[], sqlite3.Connection]) -> None:
        self.db_path = db_path
        self._reader = reader
        self._warm: dict[str, _Warm] = {}
        self._build_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def score(self, record: PostedRecord) -> Prediction:
        """Score a checked record; NoModelError when its source has no deployed model."""
        warm = self._warm.get(record.source) or self._build(record.source)
        started = time.perf_counter()
        names = detected_metrics()
        detector = copy.deepcopy(warm.detector)
        result = detector.score(record.timestamp_ms, [record.values[name] for name in names])
        elapsed_ms = (time.perf_counter() - started) * 1000
        from scops_tui.detection.episodes import severity_of

        score = round(min(max(float(result.value), 0.0), 1.0), 4)
        return Prediction(
            anomaly_score=score,
            is_anomaly=score >= warm.threshold,
            severity=severity_of(score),
            contributions={name: round(float(c), 3) for name, c in zip(names, result.contributions, strict=True)},
            model_version=warm.version,
            model_version_id=warm.version_id,
            prediction_time_ms=round(elapsed_ms, 3),
            features={name: record.values[name] for name in names},
        )

    def score_ready(self, source: str) -> None:
        """Build `source`'s detector now (the server warms its own source at start)."""
        if source not in self._warm:
            self._build(source)

    def _lock_for(self, source: str) -> threading.Lock:
        with self._locks_guard:
            return self._build_locks.setdefault(source, threading.Lock())

    def _build(self, source: str) -> _Warm:
        with self._lock_for(source):
            warm = self._warm.get(source)
            if warm is None:
                warm = self._load(self._reader(), source)
                self._warm[source] = warm
            return warm

    def _load(self, conn: sqlite3.Connection, source: str) -> _Warm:
        """Build a source's detector as the recorder does at start: its deployed version, then recent history."""
        from scops_tui.detection.live import DetectionSettings, LiveDetection

        live = LiveDetection(
            self.db_path,
            source,
            created_by=b"\0" * 16,
            settings=DetectionSettings(train_in_background=False, capture_processes=False),
        )
        with transaction(conn, immediate=False):
            live.start(conn)
            newest = conn.execute("SELECT max(timestamp) FROM metrics WHERE source = ?", (source,)).fetchone()[0]
        version = live.version
        if version is None:
            problem = f": {live.last_error}" if live.last_error else ""
            raise NoModelError(f"source {source!r} has no deployed model{problem}")
        _settle(live.detector)
        threshold = version.thresholds.get("anomaly_score", live.settings.threshold)
        return _Warm(version.id, version.version, float(threshold), live.detector, int(newest or 0))

    def refresh(self) -> None:
        """Bring every warm detector up to date: a new deployed version rebuilds it, new samples are fed."""
        from scops_tui.detection import registry

        conn = self._reader()
        for source, warm in list(self._warm.items()):
            deployed = registry.deployed_version(conn, source)
            if deployed is None or deployed.id != warm.version_id:
                try:
                    self._warm[source] = self._load(conn, source)
                except NoModelError:
                    self._warm.pop(source, None)
                continue
            columns = ", ".join(detected_metrics())
            rows = conn.execute(
                f"SELECT timestamp, {columns} FROM metrics WHERE source = ? AND timestamp > ? "  # noqa: S608
                "ORDER BY timestamp",
                (source, warm.newest_ms),
            ).fetchall()
            if not rows:
                continue
            detector = copy.deepcopy(warm.detector)
            for row in rows:
                detector.score(int(row[0]), _plain(row[1:]))
            _settle(detector)
            self._warm[source] = _Warm(
                warm.version_id, warm.version, warm.threshold, detector, max(int(rows[-1][0]), warm.newest_ms)
            )


def _plain(row: tuple[Any, ...]) -> list[float]:
    return [value / METRIC_SCALES.get(name, 1) for name, value in zip(detected_metrics(), row, strict=True)]


def _settle(detector: Any) -> None:
    """Do now the tail refresh the detector's next sample would do, so no request pays for it on every copy.

    The result is the same as refreshing inside the next `score` (the history is the same); without this
    a detector published just before a refresh falls due would repeat it (about 10 ms) on every copy.
    """
    due = getattr(detector, "_since_refresh", 0) >= getattr(detector, "_refresh_every", 1 << 62)
    if due and getattr(detector, "_features", None) is not None and detector._features.count:
        detector._refresh_tails()
