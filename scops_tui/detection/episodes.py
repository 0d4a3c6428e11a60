"""Groups consecutive anomalous samples into episodes, with hysteresis so a noisy series does not flood."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
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
    reason: Literal["quiet", "new_normal"] | None = None
    """Why a closed episode closed: the host was normal again (`quiet`), or its level was held for
    `new_normal_ms` and became the new normal."""


REFERENCE_SAMPLES = 300
"""Samples outside any episode that the pre-onset reference of each metric is taken over."""
MIN_REFERENCE_SAMPLES = 60
"""Fewer samples outside episodes than this (just after start): episodes follow the score alone."""
LEVEL_WINDOW = 5
"""A metric's current level is the mean of its last this many samples (a bursty write storm has a level)."""
ONSET_SAMPLES = 10
"""A metric whose level rises above its range within this many samples of the onset is part of the change."""
LEVEL_SPREADS = 3.0
"""How far outside its reference range, in robust spreads, a level must be to count as abnormal."""
SETTLE_SAMPLES = 60
"""Samples after an episode's end during which a score carried by metrics below their usual level does not
open a new one (with `hold_rises_only`): the host settling after a change (memory freed below its old level,
a load average coming down) is that change's after-effect, not news."""
ROUTINE_MS = 3 * 3_600_000
"""A change that has come back this often (`ROUTINE_REPEATS`) within this long is routine."""
ROUTINE_REPEATS = 2
"""Earlier occurrences on the same leading metrics within `ROUTINE_MS` that make a new onset routine: the
third time a change comes back within three hours (no worse) it is a pattern, not news."""
CONFIRM_MS = 2_000
"""An onset is reported as an episode (whose start is still the onset) once the host has been abnormal in
its own right on two samples (flagged on a level metric, or a metric it is about with its value outside
its range: not merely the 5-sample level still holding the first sample's spike), or on one sample
spanning at least this long (the time since the sample before it, which its rates and CPU share are
averaged over). At 1 s a one-second blip, such as a page-cache read burst, is not something to act on
(its sample stays flagged); at 2 s or slower one sample is enough."""
BURST_CONFIRM_MS = 8_000
"""A change led only by bursty rates (`burst_metrics`: disk and network bytes per second) is reported once
it has held without a break for this long. The kernel writes dirty pages back in bursts (every 5 s by
default) and a program that starts reads its files in one, so at 1 s a rate jumps for a sample or two
and its 5-sample level stays up for at most 6 samples after; a write storm keeps it up. At 5 s a sample
is already a writeback period's average, and two samples in a row are enough."""
NEW_NORMAL_MS = 30 * 60_000
"""A level held this long is no longer news: the episode closes and that level becomes the reference."""


@dataclass
class _Reference:
    """What a metric looked like before the episode, and how far the episode has taken it."""

    median: float
    low: float
    high: float
    """The range it covered before the onset (1st and 99th percentiles) widened by robust spreads."""
    top: float = math.inf
    """Its 99th percentile before the onset (not widened): a value more than `step` above it is up."""
    step: float = 0.0
    """The resolution it is reported to."""
    furthest: float = 0.0
    """The largest distance of its level from `median` since the onset, signed (the change's direction)."""

    def abnormal(self, level: float) -> bool:
        """Outside the pre-onset range at all."""
        return level < self.low or level > self.high

    def holds(self, level: float) -> bool:
        """Still changed: outside the pre-onset range, on the side of the change, and at least a quarter as
        far from the pre-onset median as the furthest level of the episode (a slow drift back is not news)."""
        distance = level - self.median
        outside = self.abnormal(level)
        if outside and (self.furthest == 0.0 or (distance * self.furthest > 0 and abs(distance) > abs(self.furthest))):
            self.furthest = distance
        if not outside or self.furthest == 0.0:
            return False
        return distance * self.furthest > 0 and abs(distance) >= 0.25 * abs(self.furthest)


def _band_rank(score: float) -> int:
    """0 for low, 1 medium, 2 high, 3 critical."""
    return sum(1 for bound, _ in SEVERITY_BANDS if score >= bound)


def _leading(deviations: Sequence[float]) -> frozenset[int]:
    """The metrics deviating at least half as much as the most deviating one (none if none deviates)."""
    if not deviations:
        return frozenset()
    largest = max(float(d) for d in deviations)
    if largest <= 0:
        return frozenset()
    return frozenset(k for k, d in enumerate(deviations) if float(d) >= 0.5 * largest)


def _reference(history: Sequence[float], step: float = 0.0) -> _Reference:
    """What a metric covered over `history`; `step` is the resolution its values are reported to."""
    ordered = sorted(history)
    n = len(ordered)

    def quantile(q: float) -> float:
        return ordered[min(max(round(q * (n - 1)), 0), n - 1)]

    median = quantile(0.5)
    magnitude = max(abs(median), sum(abs(x) for x in ordered) / n)
    # A robust spread: the MAD (as a standard deviation), and 1 % of the metric's magnitude so an almost flat
    # metric's tiny wobble is not called a change. Not the inter-decile range: a host busy for a while and
    # then idle (CPU at 40 %, then 1 %) made it so wide that its range reached past 100 % and a CPU burn
    # after it could not hold an episode (seen live: the burn's episode closed after 9 of 90 samples).
    # And at least the resolution the metric is reported to (psutil gives memory to 0.1 %): one step is no
    # change.
    mad = sorted(abs(x - median) for x in ordered)[n // 2]
    spread = max(1.4826 * mad, 0.01 * magnitude, step, 1e-9)
    top = quantile(0.99)
    return _Reference(median, quantile(0.01) - LEVEL_SPREADS * spread, top + LEVEL_SPREADS * spread, top, step)


@dataclass
class _Occurrence:
    """A change that opened an episode, or would have had it not been routine."""

    start_ms: int
    lead: frozenset[int]
    """The metrics deviating most at its onset (at least half the largest deviation), with the way each
    moved (`k` up, `-k - 1` down)."""
    peak: float
    last_ms: int
    quiet: int = 0


@dataclass
class _OpenEpisode:
    start_ms: int
    end_ms: int
    peak: float
    samples: int
    deviations: list[float]
    quiet: int = 0
    names: Sequence[str] = field(default_factory=tuple)
    references: dict[int, _Reference] = field(default_factory=dict)
    """Pre-onset range of each metric the episode is about (those that deviated when the score was high)."""
    candidates: dict[int, _Reference] = field(default_factory=dict)
    """Pre-onset range of every level metric, for those that join the change just after the onset."""
    rows: int = 1
    """Samples fed since the onset (anomalous or not)."""
    confirming: int = 1
    """Samples abnormal in their own right until it is reported (flagged with a level metric among those
    deviating most, or a watched metric's value outside its range), not only through the 5-sample level
    that still holds an earlier spike."""
    abnormal_ms: int = 0
    """The time those samples span (each counts for the time since the sample before it)."""
    reported: bool = False
    """Whether its `opened` event was given (once `abnormal_ms` reached the confirmation time)."""
    bursty: bool = False
    """Led only by bursty rates so far (see `BURST_CONFIRM_MS`)."""
    held_ms: int = 0
    """Time it has held without a break since its onset (the onset sample's span included)."""
    rose: bool = False
    """Whether a resource has risen since its onset (at it, or on a sample abnormal in its own right)."""
    lead: frozenset[int] = frozenset()
    """The metrics deviating most at its onset, with the way each moved (as `_Occurrence.lead`)."""

    def snapshot(self) -> EpisodeSnapshot:
        ranked = sorted(zip(self.names, self.deviations, strict=True), key=lambda item: (-item[1], item[0]))
        return EpisodeSnapshot(self.start_ms, self.end_ms, self.peak, self.samples, tuple(ranked))


class EpisodeGrouper:
    """Turns a stream of scores (and the metric values they judged) into episode events.

    The score says how unusual the host is now; the grouper decides what is news:

    * **Onset.** An episode opens at a score >= `open_threshold` (the flag threshold). With
      `confirm_ms` (the recorder: `CONFIRM_MS`), it is reported only once the host has been abnormal on two
      samples or on one spanning `confirm_ms`, still dated from the onset; a blip that never gets there is
      no episode (its sample stays flagged). A change led by `burst_metrics` alone (disk and network
      rates) must hold without a break for `BURST_CONFIRM_MS`. With `hold_rises_only`, a flagged sample
      confirms only when a leading level metric is up: a host that went quiet opens no episode.
    * **Sustained.** It stays open while the score is >= `close_threshold` (the lower bar is the
      hysteresis) with one of `level_metrics` among the metrics deviating most (at least half the
      largest deviation: a score carried by a lagging load average alone does not hold it), *or*
      while the host is still changed: a metric the episode is about (among
      `level_metrics`: one that deviated at least half as much as the most deviating one while the score
      was high, or whose level left its range within 10 samples of the onset) has its level (mean of
      the last 5 samples) outside the range it covered over the last 300 samples before the onset
      (1st to 99th percentile) widened by 3 robust spreads, on the side of the change and at least a
      quarter as far from its pre-onset median as the furthest level of the episode. So a CPU burn or a memory
      hog is one episode from its onset to its end, even when the detector has stopped finding the
      level surprising. With `hold_rises_only`, only a level above its range holds (a resource held
      busy, not a host that went quiet), a high score holds only while a leading level metric's latest
      value is above its pre-onset 99th percentile, and in the 60 samples after an episode ends a score
      without such a metric opens none (the host settling: memory freed below its old level, the load
      coming down). With fewer than 60 samples before the onset (just after start), or without values,
      the episode follows the score alone.
    * **End.** It closes after `quiet_samples` consecutive samples that are neither; its end is the last
      abnormal sample. An anomalous sample within that quiet spell extends the same episode instead of
      opening a new one.
    * **Routine.** An onset on the same leading metrics as at least 2 changes that began within the
      last 3 hours, and in no higher severity band than the worst of them, opens no episode: a job
      that bursts every few minutes (or hourly) is news twice, then routine until it skips 3 hours or
      gets worse. Recorded history replayed at start (:meth:`replay_history`) counts as well.
    * **New normal.** A level held for `new_normal_ms` (30 minutes) is no longer news: the episode closes
      (reason `new_normal`), the held level becomes the reference, and no new episode opens until the
      score has dropped below the close bar or the host leaves that level.
    """

    def __init__(
        self,
        metric_names: Sequence[str],
        *,
        open_threshold: float = 0.5,
        close_threshold: float | None = None,
        quiet_samples: int = 5,
        new_normal_ms: int = NEW_NORMAL_MS,
        confirm_ms: int = 0,
        level_metrics: Sequence[str] | None = None,
        burst_metrics: Sequence[str] = (),
        resolutions: Mapping[str, float] | None = None,
        hold_rises_only: bool = False,
    ) -> None:
        close = open_threshold * 0.7 if close_threshold is None else close_threshold
        if not 0 < close <= open_threshold <= 1:
            raise ValueError("thresholds must satisfy 0 < close_threshold <= open_threshold <= 1")
        if quiet_samples < 1:
            raise ValueError("quiet_samples must be at least 1")
        if new_normal_ms < 1:
            raise ValueError("new_normal_ms must be positive")
        self.metric_names = tuple(metric_names)
        self.open_threshold = open_threshold
        self.close_threshold = close
        self.quiet_samples = quiet_samples
        self.new_normal_ms = new_normal_ms
        self.confirm_ms = max(int(confirm_ms), 0)
        chosen = self.metric_names if level_metrics is None else tuple(level_metrics)
        self._level_indexes = {k for k, name in enumerate(self.metric_names) if name in chosen}
        """Metrics whose level can hold an episode open (not a lagging average such as the load)."""
        self._steps = {k: float((resolutions or {}).get(name, 0.0)) for k, name in enumerate(self.metric_names)}
        """The resolution each metric is reported to (a change of one step is no change)."""
        self._burst_indexes = {k for k, name in enumerate(self.metric_names) if name in burst_metrics}
        """Bursty rates: a change led by them alone must hold for `BURST_CONFIRM_MS` (with `confirm_ms`)."""
        self.hold_rises_only = hold_rises_only
        self._open: _OpenEpisode | None = None
        self._calm: deque[tuple[float, ...]] = deque(maxlen=REFERENCE_SAMPLES)
        self._recent: deque[tuple[float, ...]] = deque(maxlen=LEVEL_WINDOW)
        self._latest: deque[tuple[float, ...]] = deque(maxlen=REFERENCE_SAMPLES)
        """Every recent sample, in or out of an episode (a held level becomes the new reference)."""
        self._since_close = SETTLE_SAMPLES
        """Samples fed since the last episode closed."""
        self._occurrences: deque[_Occurrence] = deque(maxlen=64)
        """Recent onsets (episodes and routine ones), oldest first."""
        self._routine: _Occurrence | None = None
        """A routine change under way (no episode), until it has been quiet for `quiet_samples`."""
        self._previous_ms: int | None = None
        """Timestamp of the sample fed before this one (a sample's span is the time since)."""
        self._held: dict[int, _Reference] | None = None
        """After a new-normal close: the held level's range, until the score calms or the host leaves it."""

    @property
    def current(self) -> EpisodeSnapshot | None:
        """The open episode, if any."""
        return None if self._open is None or not self._open.reported else self._open.snapshot()

    @property
    def onset_ms(self) -> int | None:
        """Start of the open episode, also while it is not yet confirmed (None when there is none)."""
        return None if self._open is None else self._open.start_ms

    @property
    def onset_rose(self) -> bool:
        """Whether the open episode (also one not yet confirmed) has seen a resource rise: with
        `hold_rises_only`, an onset carried only by metrics that fell has nothing busy to look at yet."""
        return self._open is not None and self._open.rose

    @property
    def onset_lead(self) -> frozenset[int]:
        """The open episode's leading metrics at its onset: index `k` for one that rose, `-k - 1` for one
        that fell (empty when there is none)."""
        return frozenset() if self._open is None else self._open.lead

    def note_history(self, values: Sequence[float]) -> None:
        """Remember a sample from before this grouper started (recorded history), for the reference."""
        row = tuple(float(v) for v in values)
        self._calm.append(row)
        self._recent.append(row)
        self._latest.append(row)

    def replay_history(
        self, timestamp_ms: int, score: float, deviations: Sequence[float], values: Sequence[float]
    ) -> None:
        """Account for a scored sample from before this grouper started (recorded history), as if it had
        been running then, without reporting anything: the references, and the changes that came back
        (the routine rule), are what they were. Call :meth:`end_history` after the last one."""
        self.feed(timestamp_ms, score, deviations, values)

    def end_history(self) -> None:
        """After :meth:`replay_history`: an episode or routine change still open in the history is not
        carried on (its row, if any, was closed by whoever recorded it); the next sample starts afresh."""
        self._open = None
        self._routine = None
        self._previous_ms = None

    def feed(
        self,
        timestamp_ms: int,
        score: float,
        deviations: Sequence[float],
        values: Sequence[float] | None = None,
    ) -> EpisodeEvent | None:
        """Account for one scored sample; return the event it caused, if any.

        `values` are the sample's metric values (in the order of `metric_names`); without them the
        episode follows the score alone.
        """
        row = None if values is None else tuple(float(v) for v in values)
        if row is not None:
            self._recent.append(row)
            self._latest.append(row)
        span = 0 if self._previous_ms is None else max(timestamp_ms - self._previous_ms, 0)
        self._previous_ms = timestamp_ms
        episode = self._open
        if episode is None:
            return self._maybe_open(timestamp_ms, score, deviations, row, span)
        episode.rows += 1
        if score >= self.open_threshold:
            self._watch(episode, deviations)
        led = score >= self.close_threshold and self._led_by_level_metric(deviations, episode.candidates)
        # Before it is reported, a sample is abnormal in its own right when it is flagged on a level metric
        # or a metric the episode is about has its value outside its range (the 5-sample level lags).
        outside = self._values_outside(episode) if not episode.reported else set()
        own = not episode.reported and (self._flagged_on_level_metric(score, deviations, episode) or bool(outside))
        rising = self._rising_leaders(deviations, episode.candidates) if score >= self.open_threshold else set()
        if (rising | outside) - self._burst_indexes:
            episode.bursty = False  # a level metric that is not a bursty rate joined the change
        if led or own or self._abnormal(episode):
            episode.held_ms += span
            episode.quiet = 0
            episode.end_ms = timestamp_ms
            episode.samples += 1
            episode.peak = max(episode.peak, score)
            if self._occurrences:
                self._occurrences[-1].peak = max(self._occurrences[-1].peak, score)
            episode.deviations = [max(a, float(b)) for a, b in zip(episode.deviations, deviations, strict=True)]
            if own:
                episode.rose = True
                episode.confirming += 1
                episode.abnormal_ms += span
            if not episode.reported:
                if not self._confirmed(episode):
                    return None
                episode.reported = True
                return EpisodeEvent("opened", episode.snapshot())
            if timestamp_ms - episode.start_ms >= self.new_normal_ms and episode.references:
                self._open = None
                held = list(self._latest)[-episode.rows :]
                self._calm = deque(held, maxlen=REFERENCE_SAMPLES)
                self._held = {k: self._reference_of(k) for k in episode.references}
                self._since_close = 0
                return EpisodeEvent("closed", episode.snapshot(), "new_normal")
            return EpisodeEvent("extended", episode.snapshot())
        episode.quiet += 1
        if episode.quiet >= self.quiet_samples or (episode.bursty and not episode.reported):
            self._open = None
            if not episode.reported:
                # Never confirmed: a blip, not an episode, nor anything to settle from or count as a repeat.
                if self._occurrences and self._occurrences[-1].start_ms == episode.start_ms:
                    self._occurrences.pop()
                return None
            self._since_close = 0
            return EpisodeEvent("closed", episode.snapshot(), "quiet")
        return None

    def _maybe_open(
        self,
        timestamp_ms: int,
        score: float,
        deviations: Sequence[float],
        row: tuple[float, ...] | None,
        span: int,
    ) -> EpisodeEvent | None:
        if self._held is not None:
            level = self._levels()
            left = level is not None and any(ref.abnormal(level[k]) for k, ref in self._held.items())
            if score < self.close_threshold or left:
                self._held = None  # the detector calmed down, or the host moved: news again
            else:
                if row is not None:
                    self._calm.append(row)
                return None
        self._since_close += 1
        if self._routine is not None and self._routine_goes_on(timestamp_ms, score):
            return None
        if score < self.open_threshold:
            if row is not None:
                self._calm.append(row)
            return None
        if self._since_close <= SETTLE_SAMPLES and self.hold_rises_only and len(self._calm) >= MIN_REFERENCE_SAMPLES:
            usual = {k: self._reference_of(k) for k in sorted(self._level_indexes)}
            if not self._led_by_level_metric(deviations, usual):
                return None  # the host settling after the last episode
        lead = self._signed(_leading(deviations), row)
        if self._is_routine(timestamp_ms, score, lead):
            self._routine = _Occurrence(timestamp_ms, lead, score, timestamp_ms)
            self._occurrences.append(self._routine)
            return None
        self._occurrences.append(_Occurrence(timestamp_ms, lead, score, timestamp_ms))
        episode = _OpenEpisode(
            timestamp_ms, timestamp_ms, score, 1, [float(d) for d in deviations], names=self.metric_names
        )
        self._open = episode
        episode.lead = lead
        if len(self._calm) >= MIN_REFERENCE_SAMPLES:
            episode.candidates = {k: self._reference_of(k) for k in sorted(self._level_indexes)}
        self._watch(episode, deviations)
        episode.abnormal_ms = episode.held_ms = span
        # Led by bursty rates alone, as far as what rose goes (a metric that fell is no resource held busy).
        rising = self._rising_leaders(deviations, episode.candidates)
        episode.bursty = self.confirm_ms > 0 and bool(self._burst_indexes) and rising <= self._burst_indexes
        episode.rose = bool(rising) or not episode.candidates or not self.hold_rises_only
        if not self._confirmed(episode):
            return None
        episode.reported = True
        return EpisodeEvent("opened", episode.snapshot())

    def _confirmed(self, episode: _OpenEpisode) -> bool:
        """Whether the change has lasted long enough to be reported (see `CONFIRM_MS`, `BURST_CONFIRM_MS`)."""
        if episode.bursty:
            return episode.held_ms >= BURST_CONFIRM_MS
        return self.confirm_ms == 0 or episode.confirming >= 2 or episode.abnormal_ms >= self.confirm_ms

    def _flagged_on_level_metric(self, score: float, deviations: Sequence[float], episode: _OpenEpisode) -> bool:
        """Flagged, with a metric that can hold an episode among those deviating most; with
        `hold_rises_only`, that metric's value must be up (above its usual 99th percentile): a host that
        went quiet (a background job ending, CPU falling from 30 % to 2 %) is flagged but is no episode."""
        if score < self.open_threshold:
            return False
        if self.hold_rises_only:
            return self._led_by_level_metric(deviations, episode.candidates)
        return not deviations or bool(_leading(deviations) & self._level_indexes)

    def _values_outside(self, episode: _OpenEpisode) -> set[int]:
        """The metrics the episode is about whose latest value is outside its pre-onset range (widened by
        robust spreads, as for the level; with `hold_rises_only` only above it): the change itself goes on,
        not just its echo in the 5-sample level."""
        if not self._recent:
            return set()
        latest = self._recent[-1]
        return {
            k
            for k, ref in episode.references.items()
            if latest[k] > ref.high or (latest[k] < ref.low and not self.hold_rises_only)
        }

    def _signed(self, lead: frozenset[int], row: tuple[float, ...] | None) -> frozenset[int]:
        """The leading metrics with the way each moved: `k` for up, `-k - 1` for down (against the median of
        the samples before), so a CPU drop and a CPU burst are not the same change."""
        before = self._calm if len(self._calm) >= LEVEL_WINDOW else self._latest
        if row is None or not before:
            return lead
        signed = set()
        for k in lead:
            ordered = sorted(r[k] for r in before)
            signed.add(k if row[k] >= ordered[len(ordered) // 2] else -k - 1)
        return frozenset(signed)

    def _is_routine(self, timestamp_ms: int, score: float, lead: frozenset[int]) -> bool:
        """Whether an onset is routine: at least `ROUTINE_REPEATS` earlier changes on any of the same
        leading metrics began within `ROUTINE_MS`, and this one is in no higher severity band than the
        worst of them (a job that runs every few minutes stops being news; the same job going worse does
        not)."""
        if not lead:
            return False
        earlier = [o for o in self._occurrences if 0 <= timestamp_ms - o.start_ms <= ROUTINE_MS and o.lead & lead]
        if len(earlier) < ROUTINE_REPEATS:
            return False
        worst = max(o.peak for o in earlier)
        return _band_rank(score) <= _band_rank(worst)

    def _routine_goes_on(self, timestamp_ms: int, score: float) -> bool:
        """Account a sample to the routine change under way; False once it has been quiet long enough."""
        routine = self._routine
        assert routine is not None
        if score >= self.close_threshold:
            routine.quiet = 0
            routine.last_ms = timestamp_ms
            if _band_rank(score) <= _band_rank(routine.peak) or score < self.open_threshold:
                routine.peak = max(routine.peak, score)
                return True
            # Worse than routine: it opens an episode after all.
            self._routine = None
            return False
        routine.quiet += 1
        if routine.quiet >= self.quiet_samples:
            self._routine = None
            return False
        return True

    def _watch(self, episode: _OpenEpisode, deviations: Sequence[float]) -> None:
        """Start watching the metrics that deviate most now (at least half the largest deviation)."""
        if not episode.candidates or not deviations:
            return
        largest = max(float(d) for d in deviations)
        if largest <= 0:
            return
        for k, d in enumerate(deviations):
            if float(d) >= 0.5 * largest and k not in episode.references and k in episode.candidates:
                episode.references[k] = episode.candidates[k]

    def _led_by_level_metric(self, deviations: Sequence[float], usual: Mapping[int, _Reference]) -> bool:
        """Whether a metric that can hold an episode is among those deviating most now (at least half the
        largest deviation): a high score carried by the load average alone (which lags the end of a change
        by about a minute) or by disk usage (what a burst wrote stays written) does not keep one open. With
        `hold_rises_only`, that metric's latest value must also be up, above the 99th percentile of its
        usual values (`usual`, where known): memory freed below its old level as a fault ends, or a metric
        wobbling within its range beside the settling load, is not the change going on."""
        if not deviations or max(float(d) for d in deviations) <= 0:
            return True
        return bool(self._rising_leaders(deviations, usual))

    def _rising_leaders(self, deviations: Sequence[float], usual: Mapping[int, _Reference]) -> set[int]:
        """The level metrics among those deviating most now; with `hold_rises_only`, only those whose latest
        value is above the 99th percentile of their usual values (`usual`, where known)."""
        leading = _leading(deviations) & self._level_indexes
        latest = self._recent[-1] if self.hold_rises_only and self._recent else None
        if latest is None:
            return set(leading)
        return {k for k in leading if k not in usual or latest[k] > usual[k].top + usual[k].step}

    def _reference_of(self, k: int) -> _Reference:
        """Metric `k`'s range over the samples before (outside episodes)."""
        return _reference([r[k] for r in self._calm], self._steps.get(k, 0.0))

    def _levels(self) -> list[float] | None:
        if not self._recent:
            return None
        width = len(self._recent[0])
        return [sum(r[k] for r in self._recent) / len(self._recent) for k in range(width)]

    def _abnormal(self, episode: _OpenEpisode) -> bool:
        level = self._levels()
        if level is None:
            return False
        if episode.rows <= ONSET_SAMPLES:
            for k, ref in episode.candidates.items():
                rose = level[k] > ref.high or (level[k] < ref.low and not self.hold_rises_only)
                if k not in episode.references and rose:
                    episode.references[k] = ref
        if not episode.references:
            return False
        # Every watched metric updates its furthest level, so no short-circuit.
        held = [
            ref.holds(level[k]) and (ref.furthest > 0 or not self.hold_rises_only)
            for k, ref in episode.references.items()
        ]
        return any(held)

    def reset(self) -> None:
        """Forget the open episode (e.g. after a gap in recording)."""
        self._open = None
        self._routine = None
        self._held = None
        self._previous_ms = None
        self._recent.clear()
        self._latest.clear()
