"""Replay recorded samples through the recorder's live path (sampling loop, live detection, batched
writes) as if the host produced them again, at full speed: for tests and the scenario benchmark."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scops_tui.detection.live import DetectionSettings
from scops_tui.detection.registry import DETECTED_METRICS
from scops_tui.recording.recorder import Recorder, RecorderStats
from scops_tui.recording.sampler import HostSampler
from scops_tui.store.records import MetricRecord


class ReplaySampler(HostSampler):
    """A sampler that hands out recorded samples, in order, instead of reading the host."""

    def __init__(self, source: str, rows: Iterable[Mapping[str, Any]]) -> None:
        super().__init__(source, counters=None)
        self._rows = iter(rows)
        self._next: MetricRecord | None = None
        self.exhausted = False
        self._advance()

    def _advance(self) -> None:
        try:
            row = next(self._rows)
        except StopIteration:
            self._next, self.exhausted = None, True
            return
        self._next = MetricRecord(
            timestamp_ms=int(row["timestamp_ms"]),
            source=self.source,
            cpu_usage=float(row["cpu_usage"]),
            memory_usage=float(row["memory_usage"]),
            disk_usage=float(row["disk_usage"]),
            load_1m=float(row["load_1m"]),
            load_5m=float(row.get("load_5m", row["load_1m"])),
            load_15m=float(row.get("load_15m", row["load_1m"])),
            disk_io_read=int(row["disk_io_read"]),
            disk_io_write=int(row["disk_io_write"]),
            network_rx=int(row["network_rx"]),
            network_tx=int(row["network_tx"]),
            response_time=float(row.get("response_time", 1.0)),
        )

    def continue_after(self, timestamp_ms: int) -> None:
        return

    def prime(self) -> None:
        return

    def sample(self) -> MetricRecord:
        """The next recorded sample."""
        record = self._next
        if record is None:
            raise RuntimeError("the replayed trace is exhausted")
        self._advance()
        return record


def replay_into(
    rows: Iterable[Mapping[str, Any]],
    db_path: Path,
    source: str,
    *,
    settings: DetectionSettings | None = None,
    interval: float = 1.0,
    history: Sequence[Mapping[str, Any]] | None = None,
) -> RecorderStats:
    """Run the recorder with live detection over `rows` (timestamp_ms and the metrics in plain units).

    Time is simulated: the recorder's waits return at once, so an hour of samples takes seconds. The
    episodes, predictions and scored metrics land in `db_path` exactly as a live recording writes them.
    `history` (samples of the same host, recorded earlier) is stored first, moved in time to end just
    before `rows`: the recorder then starts as it does on a host it has recorded before, replaying
    that history into its detector.
    """
    rows = list(rows)
    if history:
        _store_history(db_path, source, history, int(rows[0]["timestamp_ms"]) - int(interval * 1000))
    sampler = ReplaySampler(source, rows)
    now = [0.0]

    def clock() -> float:
        return now[0]

    def wait(stop: threading.Event, seconds: float) -> bool:
        now[0] += seconds
        return sampler.exhausted or stop.is_set()

    recorder = Recorder(
        db_path,
        sampler,
        interval=interval,
        flush_interval=10.0 * interval,
        detection=settings or DetectionSettings(train_in_background=False, capture_processes=False),
        clock=clock,
        wait=wait,
    )
    return recorder.run(threading.Event())


def _store_history(db_path: Path, source: str, history: Sequence[Mapping[str, Any]], last_ms: int) -> None:
    from scops_tui.store import database as store

    shift = last_ms - int(history[-1]["timestamp_ms"])
    sampler = ReplaySampler(source, [{**row, "timestamp_ms": int(row["timestamp_ms"]) + shift} for row in history])
    records = []
    while not sampler.exhausted:
        records.append(sampler.sample())
    conn = store.open_database(db_path)
    try:
        system = store.user_id(conn, store.SYSTEM_USERNAME)
        store.insert_metrics(conn, records, created_by=system, created_at=last_ms)
    finally:
        conn.close()


def mirrored(rows: Sequence[Mapping[str, Any]], samples: int, step_ms: int = 1000) -> list[dict[str, Any]]:
    """The rows played forwards, backwards, forwards... (no seams) until `samples` rows exist, re-stamped
    one every `step_ms` from the first row's timestamp."""
    if not rows:
        return []
    start = int(rows[0]["timestamp_ms"])
    out: list[dict[str, Any]] = []
    forward = True
    while len(out) < samples:
        for row in (rows if forward else rows[::-1])[: samples - len(out)]:
            out.append({**row, "timestamp_ms": start + len(out) * step_ms})
        forward = not forward
    return out


def lead_in_history(
    rows: Sequence[Mapping[str, Any]], faults: Sequence[Mapping[str, Any]], samples: int = 900, step_ms: int = 1000
) -> list[dict[str, Any]]:
    """A recorded history made of a trace's own lead-in (its samples before the first fault), played
    backwards and forwards to `samples` rows and ending on the trace's first sample's neighbour, so the
    trace continues it without a seam: the host as the recorder saw it just before the fault. (A calm
    trace recorded at another time joins the trace with a jump in every slow metric, which no running
    recorder sees.) Timestamps are `step_ms` apart; `replay_into` moves them to end before the trace."""
    first_fault = min((int(f["start_ms"]) for f in faults), default=None)
    lead = [r for r in rows if first_fault is None or int(r["timestamp_ms"]) < first_fault]
    # Mirrored from the trace's start back in time, then put in time order.
    history = mirrored(lead, samples, step_ms)[::-1]
    return [{**row, "timestamp_ms": i * step_ms} for i, row in enumerate(history)]


# -- judging episodes against labelled fault windows ------------------------------------------------------

CALM_GRACE_SAMPLES = 30
"""Samples after a fault's end still counted as its after-effect, not as calm (writeback, load average)."""


def load_trace(folder: Path, name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A saved trace: the rows of `<name>.csv` (timestamp_ms and the detected metrics in plain units) and
    the fault windows of `<name>.json`."""
    with open(folder / f"{name}.csv", newline="") as handle:
        rows = [
            {"timestamp_ms": int(r["timestamp_ms"]), **{m: float(r[m]) for m in DETECTED_METRICS}}
            for r in csv.DictReader(handle)
        ]
    return rows, json.loads((folder / f"{name}.json").read_text())


@dataclass
class FaultFigures:
    """How the episodes matched one fault window."""

    label: str
    samples: int
    opened: bool
    episodes: int
    onset_delay: int | None
    """Samples from the fault's first sample to the first episode's first sample (0 = on it)."""
    coverage: float
    """Share of the fault's samples inside an episode."""
    close_delay: int | None
    """Samples from the fault's last sample to the end of the episode covering it (None if none reaches it)."""


@dataclass
class ScenarioFigures:
    """Figures of one scenario."""

    name: str
    faults: list[FaultFigures]
    false_episodes: int
    calm_hours: float

    @property
    def false_per_hour(self) -> float:
        return self.false_episodes / self.calm_hours if self.calm_hours > 0 else 0.0


def judge(
    name: str,
    stamps: Sequence[int],
    windows: Sequence[Mapping[str, Any]],
    episodes: Sequence[tuple[int, int]],
    interval_s: float = 1.0,
) -> ScenarioFigures:
    """Compare episodes (start, end) with labelled fault windows over the sample timestamps `stamps`."""
    index = {t: i for i, t in enumerate(stamps)}

    def position(t: int) -> int:
        return index.get(t, _bisect(stamps, t))

    fault_spans = []
    for window in windows:
        first = _bisect(stamps, window["start_ms"])
        last = max(_bisect(stamps, window["end_ms"]) - 1, first)
        fault_spans.append((first, min(last, len(stamps) - 1), window.get("label", "fault")))
    spans = [(position(a), position(b)) for a, b in episodes]
    figures: list[FaultFigures] = []
    touched: set[int] = set()
    for first, last, label in fault_spans:
        # The fault's episodes: those that opened from just before it (3 samples) to its end. An episode
        # already open for long before the fault is not one the fault opened.
        related = [k for k, (a, b) in enumerate(spans) if first - 3 <= a <= last]
        # Episodes opening just after it (writeback, a load average coming down) are neither its own nor
        # false alarms in calm.
        touched.update(k for k, (a, b) in enumerate(spans) if first - 3 <= a <= last + CALM_GRACE_SAMPLES)
        inside = sum(1 for i in range(first, last + 1) if any(spans[k][0] <= i <= spans[k][1] for k in related))
        onset = min((spans[k][0] for k in related), default=None)
        ends = [spans[k][1] for k in related if spans[k][1] >= last]
        figures.append(
            FaultFigures(
                label=str(label),
                samples=last - first + 1,
                opened=bool(related),
                episodes=len(related),
                onset_delay=None if onset is None else max(onset - first, 0),
                coverage=inside / (last - first + 1),
                close_delay=None if not ends else max(ends) - last,
            )
        )
    false = [k for k in range(len(spans)) if k not in touched]
    busy = sum(min(last + CALM_GRACE_SAMPLES, len(stamps) - 1) - first + 1 for first, last, _ in fault_spans)
    calm_hours = max(len(stamps) - busy, 0) * interval_s / 3600.0
    return ScenarioFigures(name, figures, len(false), calm_hours)


def _bisect(stamps: Sequence[int], t: int) -> int:
    lo, hi = 0, len(stamps)
    while lo < hi:
        mid = (lo + hi) // 2
        if stamps[mid] < t:
            lo = mid + 1
        else:
            hi = mid
    return lo
