"""Causal, deterministic streaming anomaly detection for one source's multivariate numeric series.

How a sample is scored (every step uses only the sample itself and earlier ones):

1. **Shape features.** For each metric: its level, its first difference, a short rolling mean
   (``mean_window`` rows) and a rolling standard deviation (``spread_window`` rows), so a change of
   level, a sudden jump and a change of variability all show.
2. **Statistical detector (robust, distribution-free).** Each shape feature is compared with its own
   history (the last ``baseline_window`` rows): the share of earlier values at or beyond it, in either
   direction, is its tail probability. Beyond the outer ``tail_share`` of the history, where counts
   run out, the tail is extrapolated with a generalised-Pareto shape fitted to the mean excess of that
   outer part (peaks over threshold), so a value far beyond anything seen keeps getting rarer instead of
   stopping at ``1 / rows``. Unlike a z-score, this compares a spike with earlier spikes: a spike bigger
   than any before is news. A metric's deviation (its ``contribution``) is half the sum of its features'
   ``-log10`` tail probabilities (between their maximum, right if the features were fully dependent, and
   their sum, right if they were independent): a real change moves several features at once, a noise
   blip one or two. Each metric's onset evidence is that, less ``log10 8`` (its eight one-sided tests).
   Its **held** evidence asks whether it is still abnormal now: the smaller of its level's and short
   mean's tail probabilities, judged against the history *before* the last ``news_horizon_ms``
   (30 minutes), so a single spike passes at once while a level shift keeps scoring until it has lasted
   that long; then it is in that reference too and stops being news ("a level held for 30 minutes is no
   longer news").
   **Day on day.** Where the kept history reaches back a day (5-minute rows: yes; the recorder's 1-5 s
   rows: no), each metric's short mean less its short mean a day earlier is judged against its own past
   values the same way (``daily_difference``): a daily cycle that goes flat, speeds up or swings wider
   moves it while every value stays in its usual range. It is used for a metric only while yesterday
   predicts today better than the usual level does (the difference spreads less than the short mean
   itself), so a series without a daily cycle gets no extra test; it joins the onset evidence at the cost
   of ``log10 2`` per side and ``log10 2`` for the second family (Bonferroni).
3. **Metrics together.** Over the metrics, the evidence is the best of ``k * (k-th largest) - log10
   C(n, k)`` for k = 1..n: if k of n independent metrics each have tail probability at most p, the chance
   is at most ``C(n, k) p ** k``. k = 1 is Bonferroni over the metrics (one metric alone is judged as
   before); for k >= 2 each metric's evidence is taken with a null-calibrated offset (1.5 decades, see
   ``_METRIC_NULL_DECADES``) and the choice of k costs ``log10 (n - 1)``. So memory and disk writes
   jumping together count for more than either alone, and ordinary noise on 8 metrics flags no more
   often than on 1.
4. **Learned model.** Once ``learned_after_rows`` rows exist, an isolation forest (scikit-learn, fixed
   seed) is trained on the past rows' shape features, plus the time of day once the history spans
   ``time_of_day_min_span_ms``; it is retrained as the history grows, always on past rows only. The
   forest is exported to plain arrays (:class:`LearnedModel`) and scored in numpy, so scoring never
   imports scikit-learn and a model is stored as JSON, never pickled. Its raw score gets a tail
   probability against its own recent scores (``calibration_window``); ``learned_weight`` times that is
   added to the onset evidence.
5. **Score.** What is not news is discounted. An onset already under way: the onset evidence is reduced
   by ``repeat_discount`` times its peak over the previous ``repeat_window_rows`` rows whose onset was led
   by some of the same metrics (those deviating at least half as much as the most deviating one), so a
   spike alerts at its start and again only if things get worse, while a network burst does not make a
   CPU burn two minutes later old news (the held evidence is not discounted by it). What
   happened at about this time of day on the previous ``seasonal_days`` days (within
   ``seasonal_tolerance_ms``): both are reduced by ``seasonal_discount`` times the peak evidence then, so
   a nightly job's spike alerts once, not every night. The evidence ``L`` (in decades of probability) is
   the larger of the two and maps to [0, 1] by ``1 - 2 ** (-L / score_half_decades)``: 0.5 at
   ``L = score_half_decades`` (2: as unusual as 1 sample in 100 after the corrections above), 0.75 at
   twice that, and so on.

Rows are scored in the order given. The news horizon and the seasonal look-up use a monotone clock (the
running maximum of the timestamps), so a clock that steps back or repeats changes nothing but the time
of day the learned model sees (taken as given). :meth:`StreamingDetector.score_many` (and
:func:`score_series`) score many rows in blocks that share one reference, bit-identical to one row at a
time and several times faster.

Window lengths are in rows (samples), not seconds: the detector sees a sequence. At the recorder's
default period of 5 s, 8,000 rows are about 11 hours; on NAB's 5-minute data, about 28 days.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from scops_tui.detection.config import DAY_MS, DetectorConfig
from scops_tui.detection.episodes import severity_of
from scops_tui.detection.features import (
    FEATURES_PER_METRIC,
    FloatArray,
    IntArray,
    Ring,
    clip_values,
    running_sums,
    time_of_day,
)
from scops_tui.detection.forest import LearnedModel
from scops_tui.detection.tails import Calibrator, Tails, resolution_of

__all__ = [
    "DEFAULT_THRESHOLD",
    "Score",
    "StreamingDetector",
    "is_anomalous",
    "score_series",
    "severity",
]

#: Score at or above which a sample counts as anomalous by default: NAB's corpus-optimal threshold for the
#: standard profile (0.458 on the 21 files before issue 11, 0.460 after; docs/benchmarks-detector.md),
#: rounded down.
DEFAULT_THRESHOLD = 0.45
# A metric's onset statistic (half the sum of its four features' decades) under noise, simulated with 30,000-
# 40,000 rows each of Gaussian, Student-t(3), AR(1) with coefficient 0.9, Poisson(3) and log-normal series:
# P(statistic >= 1.5 + v) <= 10 ** -v for all five families up to v = 2 (and for the three light-tailed
# ones up to v = 3; Student-t and log-normal need up to 1.9 there). Its null tail is rank-based, so close
# to distribution-free. So ``statistic - 1.5`` is close to a valid per-metric p-value in decades, which the
# combination across metrics needs (k metrics multiply small miscalibrations by k); a lone metric keeps
# the plain Bonferroni correction (``log10 8``, its eight one-sided tests), as before.
_METRIC_NULL_DECADES = 1.5
# score_series reports progress every this many rows.
_PROGRESS_ROWS = 1000
_LOG_HELD_TESTS = math.log10(8.0)
_LOG_TWO = math.log10(2.0)
# Day-on-day differences a metric needs in its history before they are judged.
_MIN_DAILY_ROWS = 100


@dataclass(frozen=True)
class Score:
    """The score of one sample.

    Attributes:
        value: anomaly score in [0, 1]; see :func:`severity` for the bands.
        contributions: per-metric deviation, in the order of the input values: half the sum of the
            ``-log10`` tail probabilities of that metric's shape features (0 = typical; a level 1 in
            10,000 with its short mean as rare scores about 4); larger means that metric deviated more.
        learned: whether a learned model took part in this score.
    """

    value: float
    contributions: tuple[float, ...]
    learned: bool = False


def severity(score: float) -> str:
    """Severity band of a score: ``critical`` >= 0.8, ``high`` >= 0.6, ``medium`` >= 0.4, else ``low``."""
    return severity_of(score)


def is_anomalous(score: float, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """Whether a score counts as an anomaly: ``score >= threshold``."""
    return score >= threshold


class StreamingDetector:
    """Scores one source's samples one at a time; each score depends only on that sample and earlier ones.

    Not thread-safe: one detector per source, fed in order by one writer. Rows are taken in the order
    given, whatever their timestamps; a clock that steps back only moves the time of day they show.
    """

    def __init__(self, n_features: int, config: DetectorConfig | None = None, model: LearnedModel | None = None):
        if not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        self.n_features = n_features
        self.config = config or DetectorConfig()
        cfg = self.config
        width = n_features * FEATURES_PER_METRIC
        # Rows held back from the reference (the last ``news_horizon_ms``) are capped at a quarter of the
        # reference, so memory stays bounded at any sampling rate.
        self._max_lag = cfg.baseline_window // 4
        capacity = cfg.baseline_window + self._max_lag
        self._raw = Ring(max(cfg.mean_window, cfg.spread_window, 2), n_features)
        self._features = Ring(capacity, width)
        # Monotone clock (running maximum of the timestamps): the news horizon and the seasonal look-up
        # need ordered times; the timestamps themselves are used as given for the time of day.
        self._clock = Ring(capacity, 1)
        self._seasonal_memory = Ring(capacity, 1)  # evidence remembered for the seasonal discount
        self._onset_memory = Ring(max(cfg.repeat_window_rows, 1), 1)
        # The metrics that led each remembered onset (a bit mask): an onset is discounted only by earlier
        # onsets led by some of the same metrics, so a network burst does not make a CPU burn news-less.
        self._lead_memory = Ring(max(cfg.repeat_window_rows, 1), 1)
        self._metric_bits = (1 << np.arange(n_features, dtype=np.int64)) if n_features <= 62 else None
        # Tails of every shape feature over the whole history (what is news), and of the level and short
        # mean over the history before the news horizon (whether a change is still abnormal).
        self._now = Tails(width, cfg)
        self._before = Tails(2 * n_features, cfg)
        # Each metric's short mean less its short mean a day earlier (NaN where the history does not reach
        # back a day), and the tails of its past values.
        self._daily = Ring(cfg.baseline_window, n_features)
        self._daily_tails = Tails(n_features, cfg)
        self._daily_useful = np.zeros(n_features, dtype=bool)
        self._next_refresh = 0
        self._lag = 0
        # Metrics deviating together: ``log10`` of the number of ways to pick k of n metrics (k = 1..n).
        # For k >= 2 also log10(n - 1): the best of the n - 1 group sizes is taken (Bonferroni over them).
        self._log_choose = np.array(
            [
                math.log10(math.comb(n_features, k)) + (math.log10(n_features - 1) if k > 1 else 0.0)
                for k in range(1, n_features + 1)
            ],
            dtype=np.float64,
        )
        self._ks = np.arange(1, n_features + 1, dtype=np.float64)
        # One metric's tests: its shape features, each judged on one side (Bonferroni).
        self._log_tests = math.log10(2 * FEATURES_PER_METRIC)
        self._extra_offset = _METRIC_NULL_DECADES - self._log_tests
        self._learned = Calibrator(cfg.calibration_min_spread / 10, cfg.tail_share)
        self._learned_history = Ring(cfg.calibration_window, 1)
        self._learned_recent = Ring(cfg.smoothing_rows, 1)
        self._model: LearnedModel | None = None
        self._rows_seen = 0
        self._train_values = Ring(cfg.max_train_rows, n_features) if cfg.auto_train else None
        self._train_stamps = Ring(cfg.max_train_rows, 1) if cfg.auto_train else None
        self._last_trained_at = 0
        if model is not None:
            self.set_model(model)

    @property
    def rows_seen(self) -> int:
        """Number of samples scored so far."""
        return self._rows_seen

    @property
    def model(self) -> LearnedModel | None:
        """The learned model in use, if any."""
        return self._model

    @property
    def history_rows(self) -> int:
        """Rows of history the detector keeps (replaying this many restores its state after a restart)."""
        return self.config.baseline_window + self._max_lag + self.config.spread_window

    def set_model(self, model: LearnedModel | None) -> None:
        """Use this learned model from the next sample on (None: statistical detector only).

        The model must have been trained for the same number of features and feature windows.
        """
        if model is not None:
            cfg = self.config
            if model.n_features != self.n_features:
                raise ValueError(f"model has {model.n_features} features, detector has {self.n_features}")
            if (model.mean_window, model.spread_window) != (cfg.mean_window, cfg.spread_window):
                raise ValueError("model was trained with other feature windows than this detector's config")
            self._learned_history = Ring(cfg.calibration_window, 1)
            self._learned_recent = Ring(cfg.smoothing_rows, 1)
            for value in model.reference_scores[-cfg.calibration_window :]:
                self._learned_history.append(np.array([value]))
            self._learned.refresh(self._learned_history.last(cfg.calibration_window)[:, 0])
        self._model = model

    def score(self, timestamp_ms: int, values: Sequence[float]) -> Score:
        """Score one sample. ``values`` has one finite number per feature, in a fixed order.

        Raises ValueError for a wrong number of values or a non-finite value.
        """
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (self.n_features,):
            raise ValueError(f"expected {self.n_features} values, got {len(values)}")
        if not np.isfinite(x).all():
            raise ValueError("values must be finite numbers")
        if self._rows_seen >= self._next_refresh:
            self._refresh()
        learned = self._model is not None
        scores, contributions = self._score_block(np.array([int(timestamp_ms)], dtype=np.int64), x[None, :])
        self._maybe_train()
        return Score(value=float(scores[0]), contributions=tuple(contributions[0].tolist()), learned=learned)

    def score_many(
        self, timestamps_ms: Sequence[int] | IntArray, rows: Sequence[Sequence[float]] | FloatArray
    ) -> FloatArray:
        """Scores of many samples in order: the same values :meth:`score` gives one at a time, computed in blocks.

        Raises ValueError for a wrong shape or a non-finite value (before any row is scored).
        """
        stamps = np.asarray(timestamps_ms, dtype=np.int64)
        matrix = np.asarray(rows, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features or stamps.shape != (matrix.shape[0],):
            raise ValueError(f"expected one timestamp and {self.n_features} values per row")
        if not np.isfinite(matrix).all():
            raise ValueError("values must be finite numbers")
        out = np.empty(matrix.shape[0])
        done = 0
        while done < matrix.shape[0]:
            if self._rows_seen >= self._next_refresh:
                self._refresh()
            end = matrix.shape[0]
            end = min(end, done + self._next_refresh - self._rows_seen)
            train_at = self._next_training()
            if train_at is not None:
                end = min(end, done + max(train_at - self._rows_seen, 1))
            out[done:end], _ = self._score_block(stamps[done:end], matrix[done:end])
            done = end
            self._maybe_train()
        return out

    # -- one block of rows, judged against one reference -----------------------------------------------

    def _score_block(self, stamps: IntArray, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        cfg = self.config
        n = self.n_features
        m = x.shape[0]
        x = clip_values(x)
        previous = self._raw.last(self._raw.capacity)
        features = np.empty((m, n * FEATURES_PER_METRIC))
        features[:, :n] = x
        before = np.concatenate([previous[-1:], x[:-1]]) if previous.shape[0] else np.concatenate([x[:1], x[:-1]])
        features[:, n : 2 * n] = x - before
        features[:, 2 * n : 3 * n] = self._window_mean(previous, x, cfg.mean_window)
        mean = self._window_mean(previous, x, cfg.spread_window)
        rows = np.concatenate([previous, x])
        first = previous.shape[0]
        squares = np.zeros((m, n))
        if first >= cfg.spread_window - 1:
            # Every row has a full window: all deviations at once, then added in the same order as below.
            offsets = first - np.arange(cfg.spread_window)[:, None] + np.arange(m)[None, :]
            deviations = rows[offsets] - mean[None, :, :]
            deviations *= deviations
            for back in range(cfg.spread_window):
                squares += deviations[back]
        else:
            for back in range(cfg.spread_window):
                start = first - back
                if start >= 0:
                    deviation = rows[start : start + m] - mean
                    squares += deviation * deviation
                elif m + start > 0:
                    deviation = rows[: m + start] - mean[-start:]
                    squares[-start:] += deviation * deviation
        counts = np.minimum(np.arange(first + 1, first + m + 1), cfg.spread_window).astype(np.float64)[:, None]
        features[:, 3 * n :] = np.sqrt(squares / counts)
        self._raw.extend(x)

        # Each shape feature's one-sided tail probability among its own earlier values (in decades).
        per_feature = self._now.decades(features).reshape(m, FEATURES_PER_METRIC, n)
        # A metric's onset evidence: half the sum of its shape features' evidence (between their max,
        # right if fully dependent, and their sum, right if independent): a real change moves several.
        contributions = per_feature.sum(axis=1) * 0.5
        # A metric that *stays* abnormal: both its level and its short mean are rare now. A single spike
        # passes at once; a level shift keeps this up for as long as it is news.
        level_and_mean = np.concatenate([features[:, :n], features[:, 2 * n : 3 * n]], axis=1)
        before = self._before.decades(level_and_mean).reshape(m, 2, n)
        held_metric = np.minimum(before[:, 0], before[:, 1])
        onset = self._combine(contributions - self._log_tests)
        # Bonferroni over the tests it uses: two features, each judged on the side its value lies.
        held = self._combine(held_metric - _LOG_HELD_TESTS)
        clock = np.maximum.accumulate(np.concatenate([self._clock.last(1)[:, 0], stamps.astype(np.float64)]))[-m:]
        daily = self._daily_differences(clock, features[:, 2 * n : 3 * n])
        if self._daily_tails.ready:
            # Each metric's day-on-day change of its short mean: one feature, judged on either side (a
            # calibrated tail probability, so no further offset); the family costs log10 2 against the
            # onset's (Bonferroni over the two).
            known = np.isfinite(daily)
            decades = self._daily_tails.decades(np.where(known, daily, self._daily_tails.median))
            per_metric = np.where(known & self._daily_useful, decades - _LOG_TWO, 0.0)
            onset = np.maximum(onset, self._combine(per_metric, 0.0) - _LOG_TWO)
        if self._model is not None:
            onset = onset + cfg.learned_weight * self._learned_decades(features, stamps)

        index = self._rows_seen + np.arange(m)
        warm = index >= cfg.warmup_rows
        remembered_onset = np.where(warm, onset, 0.0)
        remembered = np.where(warm, np.maximum(onset, held), 0.0)

        # An onset already under way is no news: discount by its recent peak. Nor is what happened at
        # about this time of day on an earlier day (a nightly job): discount by that peak. A held level
        # is not discounted by its own onset: it stays news until the reference takes it in.
        leads = self._leads(contributions)
        repeat = np.zeros(m)
        if cfg.repeat_window_rows:
            window = cfg.repeat_window_rows
            past = self._onset_memory.last(window)[:, 0]
            past_leads = self._lead_memory.last(window)[:, 0].astype(np.int64)
            if m == 1:
                shared = (past_leads & leads[0]) != 0
                peaks = np.array([past[shared].max() if shared.any() else -np.inf])
            else:
                missing = window - past.shape[0]
                padded = np.concatenate([np.full(missing, -np.inf), past, remembered_onset])
                padded_leads = np.concatenate([np.zeros(missing, dtype=np.int64), past_leads, leads])
                before = np.lib.stride_tricks.sliding_window_view(padded, window)[:m]
                before_leads = np.lib.stride_tricks.sliding_window_view(padded_leads, window)[:m]
                shared = (before_leads & leads[:, None]) != 0
                peaks = np.where(shared, before, -np.inf).max(axis=1)
            repeat = cfg.repeat_discount * np.maximum(peaks, 0.0)
        seasonal = np.zeros(m)
        if cfg.seasonal_days:
            seasonal = cfg.seasonal_discount * self._seasonal_peaks(clock, remembered)
        evidence = np.maximum(onset - np.maximum(repeat, seasonal), held - seasonal)
        evidence = np.where(warm, evidence, 0.0)

        scores = np.where(warm, 1.0 - 2.0 ** (-np.maximum(evidence, 0.0) / cfg.score_half_decades), 0.0)

        self._features.extend(features)
        self._daily.extend(daily)
        self._clock.extend(clock[:, None])
        self._seasonal_memory.extend(remembered[:, None])
        self._onset_memory.extend(remembered_onset[:, None])
        self._lead_memory.extend(leads.astype(np.float64)[:, None])
        if self._train_values is not None and self._train_stamps is not None:
            self._train_values.extend(x)
            self._train_stamps.extend(stamps.astype(np.float64)[:, None])
        self._rows_seen += m
        return scores, contributions

    def _leads(self, contributions: FloatArray) -> IntArray:
        """Bit mask of the metrics leading each row (at least half its largest deviation); every metric's
        bit where none deviates (a learned model's evidence belongs to them all) or there are too many
        metrics for a mask. With one metric, always that metric: the discount is as before."""
        m = contributions.shape[0]
        if self._metric_bits is None:
            return np.full(m, -1, dtype=np.int64)
        largest = contributions.max(axis=1, keepdims=True)
        leading = (contributions >= 0.5 * largest) & (largest > 0)
        masks = (leading * self._metric_bits).sum(axis=1).astype(np.int64)
        return np.where(masks == 0, int(self._metric_bits.sum()), masks)

    @staticmethod
    def _window_mean(previous: FloatArray, block: FloatArray, window: int) -> FloatArray:
        first = previous.shape[0]
        sizes = np.minimum(np.arange(first + 1, first + block.shape[0] + 1), window).astype(np.float64)
        return running_sums(previous, block, window) / sizes[:, None]

    def _combine(self, per_metric: FloatArray, extra_offset: float | None = None) -> FloatArray:
        """Evidence that some metrics deviate together: the best ``k * (k-th largest) - log10 C(n, k)``.

        ``per_metric`` is each metric's evidence already corrected for its own tests. If k of n
        independent metrics each have a tail probability of at most p, the chance of that is at most
        ``C(n, k) p ** k``; k = 1 is Bonferroni over the metrics. So two metrics jumping together count
        for more than either alone, and one metric alone is judged as before. ``extra_offset`` is what each
        metric beyond the first must clear (default: the onset statistic's null offset; 0 for evidence that
        is already a calibrated tail probability).
        """
        if per_metric.shape[1] == 1:
            return np.asarray(per_metric[:, 0], dtype=np.float64)
        ordered = -np.sort(-per_metric, axis=1)
        # Each metric beyond the first must clear the null-calibrated offset (``_METRIC_NULL_DECADES``
        # rather than the lone metric's ``log10 8``) before it adds evidence.
        offset = self._extra_offset if extra_offset is None else extra_offset
        stricter = np.maximum(ordered - offset, 0.0)
        together = stricter * self._ks - self._log_choose
        together[:, 0] = ordered[:, 0] - self._log_choose[0]
        return np.asarray(together.max(axis=1), dtype=np.float64)

    def _learned_decades(self, features: FloatArray, stamps: IntArray) -> FloatArray:
        assert self._model is not None
        cfg = self.config
        inputs = features
        if self._model.use_time_of_day:
            inputs = np.concatenate([features, time_of_day(stamps)], axis=1)
        raw = self._model.raw_scores(inputs)
        if cfg.smoothing_rows > 1:
            previous = self._learned_recent.last(cfg.smoothing_rows)
            smoothed = running_sums(previous, raw[:, None], cfg.smoothing_rows)[:, 0]
            first = previous.shape[0]
            smoothed = smoothed / np.minimum(np.arange(first + 1, first + len(raw) + 1), cfg.smoothing_rows)
        else:
            smoothed = raw
        result = self._learned.decades(smoothed) if self._learned_history.count else np.zeros_like(raw)
        self._learned_history.extend(smoothed[:, None])
        self._learned_recent.extend(raw[:, None])
        return result

    def _daily_differences(self, clock: FloatArray, means: FloatArray) -> FloatArray:
        """Each row's short means less those of the last row at most a day before it (within
        ``seasonal_tolerance_ms`` of exactly a day); NaN where there is none."""
        cfg = self.config
        m, n = means.shape
        out = np.full((m, n), np.nan)
        stored = min(self._clock.count, self._clock.capacity)
        if not cfg.daily_difference or not stored:
            return out
        stored_clocks = self._clock.last(stored)[:, 0]
        if clock[-1] - DAY_MS < stored_clocks[0] - cfg.seasonal_tolerance_ms:
            return out  # the history does not reach back a day
        clocks = stored_clocks if m == 1 else np.concatenate([stored_clocks, clock])
        target = clock - DAY_MS
        earlier = np.searchsorted(clocks, target, side="right") - 1
        position = stored + np.arange(m)
        found = (earlier >= 0) & (earlier < position)
        found &= clocks[np.maximum(earlier, 0)] >= target - cfg.seasonal_tolerance_ms
        if not found.any():
            return out
        stored_means = self._features.last(stored)[:, 2 * n : 3 * n]
        rows = earlier[found]
        from_store = rows < stored
        then = np.empty((rows.shape[0], n))
        then[from_store] = stored_means[rows[from_store]]
        then[~from_store] = means[rows[~from_store] - stored]
        out[found] = means[found] - then
        return out

    def _seasonal_peaks(self, clock: FloatArray, remembered: FloatArray) -> FloatArray:
        """Largest evidence within ``seasonal_tolerance_ms`` of this time on the last ``seasonal_days`` days."""
        cfg = self.config
        m = clock.shape[0]
        stored = min(self._clock.count, self._clock.capacity)
        if m == 1:
            # One row: only stored rows lie before it, so no copy of the history is needed.
            clocks = self._clock.last(stored)[:, 0]
            evidence = self._seasonal_memory.last(stored)[:, 0]
        else:
            clocks = np.concatenate([self._clock.last(stored)[:, 0], clock])
            evidence = np.concatenate([self._seasonal_memory.last(stored)[:, 0], remembered])
        if not stored or clock[-1] - DAY_MS + cfg.seasonal_tolerance_ms < clocks[0]:
            return np.zeros(m)  # the history does not reach back a day
        position = stored + np.arange(m)  # rows strictly before each row of the block
        peaks = np.zeros(m)
        tolerance = cfg.seasonal_tolerance_ms
        for day in range(1, cfg.seasonal_days + 1):
            centre = clock - day * DAY_MS
            low = np.searchsorted(clocks, centre - tolerance, side="left")
            high = np.minimum(np.searchsorted(clocks, centre + tolerance, side="right"), position)
            found = high > low
            if not found.any():
                continue
            if m == 1:
                peaks[0] = max(peaks[0], float(evidence[int(low[0]) : int(high[0])].max()))
                continue
            pairs = np.stack([low[found], high[found]], axis=1).ravel()
            padded = np.concatenate([evidence, [0.0]])  # reduceat reads one past the last pair
            peaks[found] = np.maximum(peaks[found], np.maximum.reduceat(padded, pairs)[::2])
        return peaks

    def _refresh(self) -> None:
        """Rebuild both references from the feature history (``baseline_window`` rows each)."""
        cfg = self.config
        n = self.n_features
        count = min(self._features.count, self._features.capacity)
        self._next_refresh = self._rows_seen + cfg.baseline_refresh_rows
        if count == 0:
            return
        recent = self._features.last(cfg.baseline_window)
        # Typical magnitude of each metric (median |level|, else its spread) sets the smallest tail
        # scale of all its features, so an almost flat metric's tiny wobble is not a certainty.
        # The data's resolution (its smallest step) is a floor too: one step of a value recorded to 0.1 % is
        # the least it can move, not a rare move.
        resolution = 0.5 * resolution_of(recent[:, :n])
        magnitude = self._now.refresh(recent, metrics=n, resolution=np.tile(resolution, FEATURES_PER_METRIC))[:n]
        # The rows of the last ``news_horizon_ms`` are held back from the second reference: a change is
        # judged against what came before it until it has lasted that long, then it joins the reference
        # and stops being news. While the history is young, at most half of it is held back.
        clocks = self._clock.last(count)[:, 0]
        lag = count - int(np.searchsorted(clocks, clocks[-1] - cfg.news_horizon_ms, side="right"))
        lag = min(lag, self._max_lag, count // 2)
        self._lag = lag
        past = self._features.last(cfg.baseline_window + lag)
        past = past[: past.shape[0] - lag]
        self._before.refresh(
            np.concatenate([past[:, :n], past[:, 2 * n : 3 * n]], axis=1),
            np.tile(magnitude, 2),
            resolution=np.tile(resolution, 2),
        )
        daily = self._daily.last(cfg.baseline_window)
        known = np.isfinite(daily[:, 0])
        if known.sum() >= _MIN_DAILY_ROWS:
            daily = daily[known]
            self._daily_tails.refresh(daily, magnitude, resolution=resolution)
            # The day-on-day test is used for a metric only where yesterday predicts today better than the
            # usual level does (its difference spreads less than the short mean itself): a daily cycle. On
            # a series without one it would only add a noisier test.
            means = recent[-known.shape[0] :][known][:, 2 * n : 3 * n]
            self._daily_useful = _spread(daily) < _spread(means)
        if self._model is not None:
            self._learned.refresh(self._learned_history.last(cfg.calibration_window)[:, 0])
        # Refresh again once 2% of the history is new, so the amortised cost per row stays flat.
        self._next_refresh = self._rows_seen + max(cfg.baseline_refresh_rows, recent.shape[0] // 50)

    def _next_training(self) -> int | None:
        """Rows seen at which the next inline training happens (None: never)."""
        if self._train_values is None:
            return None
        cfg = self.config
        if cfg.learned_weight == 0.0:
            return None
        if self._model is None:
            return cfg.learned_after_rows
        # Retrain once the history has doubled since the last training (at least ``retrain_every_rows``
        # and at most a quarter of ``max_train_rows`` apart): a model trained on 1,000 rows is soon
        # stale, one trained on 100,000 rows hardly changes with the next 1,000.
        gap = min(max(cfg.retrain_every_rows, self._last_trained_at), max(cfg.max_train_rows // 4, 1))
        return self._last_trained_at + gap

    def _maybe_train(self) -> None:
        due = self._next_training()
        if due is None or self._rows_seen < due or self._train_values is None or self._train_stamps is None:
            return
        cfg = self.config
        rows = self._train_values.last(cfg.max_train_rows)
        stamps = self._train_stamps.last(cfg.max_train_rows)[:, 0].astype(np.int64)
        self.set_model(LearnedModel.train(stamps, rows, cfg))
        self._last_trained_at = self._rows_seen


def _spread(rows: FloatArray) -> FloatArray:
    """Each column's inter-decile range (a robust spread)."""
    low, high = np.quantile(rows, [0.1, 0.9], axis=0)
    return np.asarray(high - low, dtype=np.float64)


def score_series(
    timestamps_ms: Sequence[int],
    rows: Sequence[Sequence[float]],
    config: DetectorConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """Score a whole series exactly as a stream would, including inline training and retraining.

    ``config.auto_train`` is forced on so the switch to the learned model happens as in a long-running
    detector. Row ``i``'s score depends only on rows ``0..i`` and equals what :meth:`StreamingDetector.score`
    gives it; rows are scored in blocks that share a reference, which is much faster. Rows are scored in
    the order given, whatever their timestamps (a clock that steps back or repeats changes nothing but
    the time of day they show). ``progress``, if given, is called with the number of rows scored since
    its previous call.
    """
    if len(timestamps_ms) != len(rows):
        raise ValueError(f"{len(timestamps_ms)} timestamps for {len(rows)} rows")
    if not rows:
        return []
    cfg = replace(config or DetectorConfig(), auto_train=True)
    detector = StreamingDetector(len(rows[0]), cfg)
    stamps = np.asarray(timestamps_ms, dtype=np.int64)
    matrix = np.asarray(rows, dtype=np.float64)
    scores: list[float] = []
    for start in range(0, len(rows), _PROGRESS_ROWS):
        end = min(start + _PROGRESS_ROWS, len(rows))
        scores.extend(detector.score_many(stamps[start:end], matrix[start:end]).tolist())
        if progress is not None:
            progress(end - start)
    return scores
