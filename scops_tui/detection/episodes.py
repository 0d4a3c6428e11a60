"""Groups consecutive anomalous samples into episodes, with hysteresis so a noisy series does not flood."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

SEVERITY_BANDS = ((0.8, "critical"), (0.6, "high"), (0.4, "medium"))


def severity_of(score: float) -> str:
    """Severity band of a score: critical >= 0.8, high >= 0.6, medium >= 0.4, else low."""
    for bound, name in SEVERITY_BANDS:
        if score >= bound:
            return name
    return "low"


@dataclass(frozen=True)
class EpisodeSnapshot:
    """The state of an episode after a sample."""

    start_ms: int
    end_ms: int
    peak_score: float
    samples: int
    """Anomalous samples in the episode."""
    deviations: tuple[tuple[str, float], ...]
    """Each metric's largest deviation during the episode, largest first."""

    @property
    def severity(self) -> str:
        """The band of the peak score."""
        return severity_of(self.peak_score)


@dataclass(frozen=True)
class EpisodeEvent:
    """What a sample did to the episode: opened one, extended the open one, or closed it."""

    kind: Literal["opened", "extended", "closed"]
    episode: EpisodeSnapshot


@dataclass
class _OpenEpisode:
    start_ms: int
    end_ms: int
    peak: float
    samples: int
    deviations: list[float]
    quiet: int = 0
    names: Sequence[str] = field(default_factory=tuple)

    def snapshot(self) -> EpisodeSnapshot:
        ranked = sorted(zip(self.names, self.deviations, strict=True), key=lambda item: (-item[1], item[0]))
        return EpisodeSnapshot(self.start_ms, self.end_ms, self.peak, self.samples, tuple(ranked))


class EpisodeGrouper:
    """Turns a stream of scores into episode events.

    An episode opens at a score >= `open_threshold`, stays open while scores are >= `close_threshold`
    (the lower bar is the hysteresis), and closes after `quiet_samples` consecutive samples below it;
    an anomalous sample within that quiet spell extends the same episode instead of opening a new one.
    """

    def __init__(
        self,
        metric_names: Sequence[str],
        *,
        open_threshold: float = 0.5,
        close_threshold: float | None = None,
        quiet_samples: int = 6,
    ) -> None:
        close = open_threshold * 0.7 if close_threshold is None else close_threshold
        if not 0 < close <= open_threshold <= 1:
            raise ValueError("thresholds must satisfy 0 < close_threshold <= open_threshold <= 1")
        if quiet_samples < 1:
            raise ValueError("quiet_samples must be at least 1")
        self.metric_names = tuple(metric_names)
        self.open_threshold = open_threshold
        self.close_threshold = close
        self.quiet_samples = quiet_samples
        self._open: _OpenEpisode | None = None

    @property
    def current(self) -> EpisodeSnapshot | None:
        """The open episode, if any."""
        return None if self._open is None else self._open.snapshot()

    def feed(self, timestamp_ms: int, score: float, deviations: Sequence[float]) -> EpisodeEvent | None:
        """Account for one scored sample; return the event it caused, if any."""
        episode = self._open
        if episode is None:
            if score < self.open_threshold:
                return None
            self._open = _OpenEpisode(
                timestamp_ms, timestamp_ms, score, 1, [float(d) for d in deviations], names=self.metric_names
            )
            return EpisodeEvent("opened", self._open.snapshot())
        if score >= self.close_threshold:
            episode.quiet = 0
            episode.end_ms = timestamp_ms
            episode.samples += 1
            episode.peak = max(episode.peak, score)
            episode.deviations = [max(a, float(b)) for a, b in zip(episode.deviations, deviations, strict=True)]
            return EpisodeEvent("extended", episode.snapshot())
        episode.quiet += 1
        if episode.quiet >= self.quiet_samples:
            self._open = None
            return EpisodeEvent("closed", episode.snapshot())
        return None

    def reset(self) -> None:
        """Forget the open episode (e.g. after a gap in recording)."""
        self._open = None
