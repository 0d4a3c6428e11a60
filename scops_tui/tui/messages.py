"""Typed messages that thread workers post to the UI: small dataclasses, one per kind of result."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from scops_tui.alerts.status import NewEpisode
from scops_tui.detection.registry import ModelVersion
from scops_tui.detection.review import Episode
from scops_tui.recording.processes import ProcessUsage
from scops_tui.store.records import MetricRecord
from scops_tui.sync.report import SyncReport
from scops_tui.tui.live_extras import LiveExtras
from scops_tui.tui.readers import HistoryView, StatusFacts, SyncView


@dataclass
class SampleTaken(Message):
    """The recorder took a sample."""

    record: MetricRecord


@dataclass
class RecentSamplesLoaded(Message):
    """The newest stored samples, to fill the live charts on start."""

    records: list[MetricRecord]


@dataclass
class RecordingChanged(Message):
    """The recorder started, stopped, failed, or found another recorder (then the app only reads)."""

    state: str


@dataclass
class RecorderProblem(Message):
    """The recorder could not write (it keeps the samples and retries)."""

    text: str


@dataclass
class EpisodesOpened(Message):
    """Episodes opened since the app last looked (a toast each), and the newest episode id."""

    newest_id: int
    episodes: list[NewEpisode]


@dataclass
class StatusLoaded(Message):
    """Fresh database facts for the status line."""

    facts: StatusFacts


@dataclass
class ProcessesLoaded(Message):
    """The top processes by CPU right now."""

    processes: list[ProcessUsage]


@dataclass
class LiveExtrasLoaded(Message):
    """Per-core CPU, swap, disk and interface rates, read live."""

    extras: LiveExtras


@dataclass
class SourcesLoaded(Message):
    """The sources with samples in the database."""

    sources: list[str]


@dataclass
class PreviewLoaded(Message):
    """The selected episode of the queue with its history, for the preview under the queue."""

    episode: Episode
    view: HistoryView


@dataclass
class EpisodesLoaded(Message):
    """The review queue with the current filter."""

    episodes: list[Episode]


@dataclass
class EpisodesReviewed(Message):
    """A review action was stored; these are the episodes as they are now."""

    action: str
    episodes: list[Episode]


@dataclass
class EpisodeLoaded(Message):
    """One episode with its history, for the detail screen."""

    episode: Episode
    view: HistoryView


@dataclass
class HistoryLoaded(Message):
    """A downsampled window of history."""

    view: HistoryView
    label: str


@dataclass
class MissedMarked(Message):
    """A span was stored as a missed anomaly."""

    samples: int


@dataclass
class VersionsLoaded(Message):
    """The model versions."""

    versions: list[ModelVersion]


@dataclass
class VersionChanged(Message):
    """A version was trained or deployed."""

    verb: str
    version: ModelVersion


@dataclass
class TrainingFinished(Message):
    """A training run ended (its result or error is reported separately)."""


@dataclass
class SyncLoaded(Message):
    """The local sync state: target, last outcome, pending rows, rejects."""

    view: SyncView


@dataclass
class SyncProgress(Message):
    """A sync batch was committed: rows of `table` done so far in this run, of `pending` at its start."""

    table: str
    done: int
    pending: int


@dataclass
class SyncFinished(Message):
    """A sync run ended: its report, or the one-line error (password masked)."""

    report: SyncReport | None
    error: str | None = None
