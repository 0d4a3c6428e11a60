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
   by ``repeat_discount`` times its peak over the previous ``repeat_window_rows`` rows, so a spike alerts
   at its start and again only if things get worse (the held evidence is not discounted by it). What
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from scops_tui.detection.episodes import severity_of

__all__ = [
    "DEFAULT_THRESHOLD",
    "MODEL_FORMAT",
    "VALUE_LIMIT",
    "DetectorConfig",
    "LearnedModel",
    "Score",
    "StreamingDetector",
    "clip_values",
    "is_anomalous",
    "score_series",
    "severity",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Score at or above which a sample counts as anomalous by default: NAB's corpus-optimal threshold for the
#: standard profile (0.458 on the 21 files before issue 11, 0.460 after; docs/benchmarks-detector.md),
#: rounded down.
DEFAULT_THRESHOLD = 0.45
#: The ``format`` tag of a serialised :class:`LearnedModel`.
MODEL_FORMAT = "scops-tui/isolation-forest"
MODEL_FORMAT_VERSION = 1

_DAY_MS = 86_400_000
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
# Shape features per metric: level, first difference, short mean, rolling standard deviation.
_FEATURES_PER_METRIC = 4
_LN10 = math.log(10.0)
_LOG_HELD_TESTS = math.log10(8.0)
# Share of the history, at each end, whose values are kept sorted for exact tail counts.
_BAND_SHARE = 0.05
#: Largest magnitude a value is scored at; larger finite values are clipped to it. The learned model
#: compares its inputs in float32 (as scikit-learn does) and a shape feature reaches twice a value (a first
#: difference from -v to +v), so this bound keeps every feature finite in float32 with room to spare, and
#: every float64 intermediate (squares, sums over the longest window) far from overflow. No real metric
#: comes near it (about 4.3e37), so ordinary series score exactly as before.
VALUE_LIMIT = float(np.finfo(np.float32).max) / 8


@dataclass(frozen=True)
class DetectorConfig:
    """Settings of the detector; every window is a number of rows (samples).

    Attributes:
        mean_window: rows in the short rolling mean (smooths noise so a level shift shows early).
        spread_window: rows in the rolling standard deviation (catches changes of variability).
        baseline_window: rows of feature history the tail probabilities are taken over.
        baseline_refresh_rows: the sorted tails of that history are rebuilt at least this many rows
            apart (and once 1% of a long history is new), which keeps the per-sample cost flat.
        warmup_rows: samples scored 0.0 at the start, while there is too little history to judge.
        relative_floor: smallest tail scale of a feature, as a fraction of its metric's typical
            magnitude; stops tiny wobbles of an almost flat metric from looking impossibly rare.
        tail_share: outer share of the history beyond which tail probabilities are extrapolated.
        tail_shape: shape of the extrapolated tail (generalised Pareto; 0 = exponential, larger =
            heavier, so a modest new maximum is not called impossible).
        calibration_window: rows of the learned model's own raw scores its tail probability uses.
        calibration_min_spread: smallest tail scale of the learned model's raw score.
        smoothing_rows: the learned model's raw scores are averaged over this many rows (1 = none).
        score_half_decades: evidence (decades of probability, ``-log10 p``) that maps to a score of 0.5.
        repeat_window_rows: rows over which an episode under way discounts new evidence (0 = off).
        repeat_discount: share of the recent peak evidence subtracted from the current evidence.
        seasonal_days: earlier days whose evidence at about this time of day discounts the current
            evidence (0 = off); only rows still in the ``baseline_window`` history count.
        seasonal_tolerance_ms: how far from this time of day an earlier day's row may lie.
        seasonal_discount: share of that earlier peak evidence subtracted from the current evidence.
        news_horizon_ms: how long a change stays news: the held evidence judges the level against the
            history before the last ``news_horizon_ms`` (at most a quarter of ``baseline_window`` rows
            are held back), so a level held that long becomes the new normal. 30 minutes: longer than
            a routine burst (a compile, a backup's first minutes), short enough that a changed workload
            stops alerting within the hour.
        learned_after_rows: rows of history before the first learned model is trained (``auto_train``).
        retrain_every_rows: fewest rows between retrainings (``auto_train``); a model is retrained once
            the history has doubled since its training, at most ``max_train_rows / 4`` rows apart.
        max_train_rows: most recent rows a model is trained on (7 days at 5 s by default).
        time_of_day_min_span_ms: history span from which the learned model also sees the time of day.
        n_trees: trees in the isolation forest.
        tree_sample_rows: rows drawn (without replacement) to grow each tree.
        random_seed: seed of the isolation forest, so training is reproducible.
        learned_weight: weight of the learned model's evidence, added to the statistical evidence once
            a model exists (0 = statistical detector only).
        auto_train: whether :class:`StreamingDetector` trains and retrains its own model inline on the
            rows it has seen. A live recorder may instead train in the background and call
            :meth:`StreamingDetector.set_model`.
    """

    mean_window: int = 5
    spread_window: int = 20
    baseline_window: int = 8000
    baseline_refresh_rows: int = 10
    warmup_rows: int = 30
    relative_floor: float = 1e-3
    calibration_window: int = 2000
    calibration_min_spread: float = 0.05
    smoothing_rows: int = 1
    tail_share: float = 0.01
    tail_shape: float = 1.0
    score_half_decades: float = 2.0
    learned_after_rows: int = 1000
    retrain_every_rows: int = 1000
    max_train_rows: int = 120_960
    time_of_day_min_span_ms: int = 2 * _DAY_MS
    n_trees: int = 50
    tree_sample_rows: int = 256
    random_seed: int = 42
    learned_weight: float = 0.2
    auto_train: bool = True
    repeat_window_rows: int = 200
    repeat_discount: float = 0.5
    seasonal_days: int = 1
    seasonal_tolerance_ms: int = 3_600_000
    seasonal_discount: float = 1.0
    news_horizon_ms: int = 30 * 60_000

    def __post_init__(self) -> None:
        positive = (
            "mean_window",
            "spread_window",
            "baseline_window",
            "baseline_refresh_rows",
            "calibration_window",
            "smoothing_rows",
            "learned_after_rows",
            "retrain_every_rows",
            "max_train_rows",
            "n_trees",
            "tree_sample_rows",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DetectorConfig.{name} must be a positive integer, got {value!r}")
        for name in ("warmup_rows", "seasonal_days", "seasonal_tolerance_ms", "news_horizon_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"DetectorConfig.{name} must be an integer >= 0, got {value!r}")
        for name in ("repeat_discount", "seasonal_discount"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"DetectorConfig.{name} must be a number >= 0, got {value!r}")
        if self.warmup_rows < 0:
            raise ValueError(f"DetectorConfig.warmup_rows must be >= 0, got {self.warmup_rows!r}")
        if not 0.0 <= self.learned_weight <= 1.0:
            raise ValueError(f"DetectorConfig.learned_weight must be in [0, 1], got {self.learned_weight!r}")
        for name in ("relative_floor", "calibration_min_spread", "score_half_decades"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"DetectorConfig.{name} must be a positive number, got {value!r}")


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


# ---------------------------------------------------------------------------------------------------------
# Small numeric helpers


def clip_values(values: FloatArray) -> FloatArray:
    """Finite values limited to ``[-VALUE_LIMIT, VALUE_LIMIT]`` (a new array), so scoring stays finite."""
    return np.asarray(np.clip(values, -VALUE_LIMIT, VALUE_LIMIT), dtype=np.float64)


def _neg_log10_upper_tail(z: float) -> float:
    """``-log10 P(N(0,1) > z)``, accurate far into the tail (where ``erfc`` underflows to 0)."""
    if z < 30.0:
        tail = 0.5 * math.erfc(z / math.sqrt(2.0))
        return -math.log10(tail)
    # Mills-ratio asymptote: P(Z > z) ~ phi(z) / z.
    return (z * z / 2.0 + math.log(z * math.sqrt(2.0 * math.pi))) / math.log(10.0)


def _average_path_length(n: FloatArray) -> FloatArray:
    """Expected path length of an unsuccessful search in a binary search tree of ``n`` items (iForest's c(n))."""
    out = np.zeros_like(n, dtype=np.float64)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _time_of_day(timestamps_ms: IntArray | Sequence[int]) -> FloatArray:
    """Time of day (UTC) as a point on the unit circle, so 23:59 and 00:00 are neighbours; shape (N, 2)."""
    angle = (np.asarray(timestamps_ms, dtype=np.int64) % _DAY_MS).astype(np.float64) * (2.0 * math.pi / _DAY_MS)
    return np.stack([np.sin(angle), np.cos(angle)], axis=1)


def _shape_features(rows: FloatArray, mean_window: int, spread_window: int) -> FloatArray:
    """Batch form of the streaming shape features: (N, n) rows -> (N, 4n) [levels, diffs, means, spreads].

    Row ``i`` uses rows ``max(0, i - w + 1) .. i`` like the stream does (partial windows at the start).
    """
    count = rows.shape[0]
    diffs = np.zeros_like(rows)
    diffs[1:] = rows[1:] - rows[:-1]

    def rolling(window: int) -> tuple[FloatArray, FloatArray]:
        # Centre on the column means first so the sum-of-squares variance keeps its precision.
        centred = rows - rows.mean(axis=0) if count else rows
        zero = np.zeros((1, rows.shape[1]))
        sums = np.concatenate([zero, np.cumsum(centred, axis=0)])
        squares = np.concatenate([zero, np.cumsum(centred * centred, axis=0)])
        ends = np.arange(1, count + 1)
        starts = np.maximum(0, ends - window)
        sizes = (ends - starts).astype(np.float64)[:, None]
        mean = (sums[ends] - sums[starts]) / sizes
        variance = np.maximum((squares[ends] - squares[starts]) / sizes - mean * mean, 0.0)
        return mean + (rows.mean(axis=0) if count else 0.0), np.sqrt(variance)

    means, _ = rolling(mean_window)
    _, spreads = rolling(spread_window)
    return np.concatenate([rows, diffs, means, spreads], axis=1)


class _Ring:
    """Fixed-capacity row buffer written twice so the latest ``k`` rows are always one contiguous slice."""

    def __init__(self, capacity: int, width: int) -> None:
        self.capacity = capacity
        self.data = np.zeros((2 * capacity, width))
        self.count = 0

    def append(self, row: FloatArray) -> None:
        slot = self.count % self.capacity
        self.data[slot] = row
        self.data[slot + self.capacity] = row
        self.count += 1

    def extend(self, rows: FloatArray) -> None:
        """Append several rows (oldest first); the same as appending them one by one."""
        total = rows.shape[0]
        if total == 1:
            self.append(rows[0])
            return
        kept = rows[-self.capacity :]
        slots = (self.count + total - kept.shape[0] + np.arange(kept.shape[0])) % self.capacity
        self.data[slots] = kept
        self.data[slots + self.capacity] = kept
        self.count += total

    def last(self, k: int) -> FloatArray:
        """The latest ``min(k, stored)`` rows, oldest first."""
        k = min(k, self.count, self.capacity)
        end = (self.count - 1) % self.capacity + self.capacity + 1
        return self.data[end - k : end]


# ---------------------------------------------------------------------------------------------------------
# Learned model


def _require(mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in mapping:
        raise ValueError(f"learned model: missing field {key!r}")
    value = mapping[key]
    if isinstance(value, bool) and kind is not bool:
        raise ValueError(f"learned model: field {key!r} must not be a boolean")
    if not isinstance(value, kind):
        raise ValueError(f"learned model: field {key!r} has type {type(value).__name__}")
    return value


def _number_list(values: Any, key: str, integer: bool) -> list[Any]:
    if not isinstance(values, list):
        raise ValueError(f"learned model: {key!r} must be a list")
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    for item in values:
        if isinstance(item, bool) or not isinstance(item, kinds):
            raise ValueError(f"learned model: {key!r} must hold only {'integers' if integer else 'numbers'}")
        if not integer and not math.isfinite(cast("float", item)):
            raise ValueError(f"learned model: {key!r} holds a non-finite number")
    return values


@dataclass(frozen=True, eq=False)
class LearnedModel:
    """An isolation forest trained on one source's history, held as plain arrays.

    All trees are flattened into one node table. ``left``/``right`` hold global child indices (-1 at
    leaves in the serialised form); ``leaf_value`` is, at a leaf, its depth plus the expected remaining
    path length ``c(samples in leaf)``, so a sample's path length in a tree is the ``leaf_value`` of
    the leaf it lands in. The anomaly score is ``2 ** (-mean path length / c(tree_sample_rows))``,
    exactly scikit-learn's ``-score_samples``.
    """

    n_features: int
    mean_window: int
    spread_window: int
    use_time_of_day: bool
    roots: IntArray
    left: IntArray
    right: IntArray
    feature: IntArray
    threshold: FloatArray
    leaf_value: FloatArray
    path_normaliser: float
    reference_scores: FloatArray
    trained_rows: int
    trained_from_ms: int
    trained_to_ms: int
    random_seed: int
    # Derived at construction: leaves point to themselves so traversal needs no branch.
    _step_left: IntArray = field(init=False, repr=False)
    _step_right: IntArray = field(init=False, repr=False)
    _depth: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        leaf = self.left < 0
        own = np.arange(len(self.left), dtype=np.int64)
        object.__setattr__(self, "_step_left", np.where(leaf, own, self.left))
        object.__setattr__(self, "_step_right", np.where(leaf, own, self.right))
        object.__setattr__(self, "_depth", _tree_depth(self.roots, self.left, self.right))

    @property
    def n_inputs(self) -> int:
        """Length of the feature vector the forest reads (shape features, plus 2 for the time of day)."""
        return self.n_features * _FEATURES_PER_METRIC + (2 if self.use_time_of_day else 0)

    @classmethod
    def train(
        cls,
        timestamps_ms: Sequence[int] | IntArray,
        rows: Sequence[Sequence[float]] | FloatArray,
        config: DetectorConfig | None = None,
    ) -> LearnedModel:
        """Fit an isolation forest on these rows (all of them are history) and export it to arrays.

        Imports scikit-learn here, and only here. Deterministic for given rows and config.
        """
        from sklearn.ensemble import IsolationForest  # heavy import, kept off the scoring path

        cfg = config or DetectorConfig()
        matrix = np.asarray(rows, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 1:
            raise ValueError("training needs at least 2 rows of at least 1 value")
        if not np.isfinite(matrix).all():
            raise ValueError("training rows must be finite numbers")
        matrix = clip_values(matrix)
        stamps = np.asarray(timestamps_ms, dtype=np.int64)
        if stamps.shape != (matrix.shape[0],):
            raise ValueError("one timestamp per row is needed")
        span = int(stamps[-1] - stamps[0])
        use_time_of_day = span >= cfg.time_of_day_min_span_ms
        inputs = _model_inputs(matrix, stamps, cfg.mean_window, cfg.spread_window, use_time_of_day)

        sample_rows = min(cfg.tree_sample_rows, inputs.shape[0])
        forest = IsolationForest(
            n_estimators=cfg.n_trees, max_samples=sample_rows, random_state=cfg.random_seed, n_jobs=1
        ).fit(inputs)

        roots, lefts, rights, features, thresholds, values = [], [], [], [], [], []
        offset = 0
        for estimator, columns in zip(forest.estimators_, forest.estimators_features_, strict=True):
            tree = estimator.tree_
            node_count = int(tree.node_count)
            is_leaf = tree.children_left < 0
            depth = _node_depths(np.zeros(1, dtype=np.int64), tree.children_left, tree.children_right)
            samples = tree.n_node_samples.astype(np.float64)
            roots.append(offset)
            lefts.append(np.where(is_leaf, -1, tree.children_left + offset))
            rights.append(np.where(is_leaf, -1, tree.children_right + offset))
            # The tree was grown on a column subset; map its feature numbers back to input columns.
            features.append(np.where(is_leaf, 0, np.asarray(columns)[np.maximum(tree.feature, 0)]))
            thresholds.append(np.where(is_leaf, 0.0, tree.threshold))
            values.append(np.where(is_leaf, depth + _average_path_length(samples), 0.0))
            offset += node_count

        model = cls(
            n_features=matrix.shape[1],
            mean_window=cfg.mean_window,
            spread_window=cfg.spread_window,
            use_time_of_day=use_time_of_day,
            roots=np.asarray(roots, dtype=np.int64),
            left=np.concatenate(lefts).astype(np.int64),
            right=np.concatenate(rights).astype(np.int64),
            feature=np.concatenate(features).astype(np.int64),
            threshold=np.concatenate(thresholds).astype(np.float64),
            leaf_value=np.concatenate(values).astype(np.float64),
            path_normaliser=float(len(roots) * _average_path_length(np.array([float(sample_rows)]))[0]),
            reference_scores=np.zeros(0),
            trained_rows=int(matrix.shape[0]),
            trained_from_ms=int(stamps[0]),
            trained_to_ms=int(stamps[-1]),
            random_seed=cfg.random_seed,
        )
        # The latest training rows' own scores seed the calibration of a detector that loads this model.
        recent = inputs[-cfg.calibration_window :]
        return replace(model, reference_scores=model.raw_scores(recent))

    def raw_score(self, inputs: FloatArray) -> float:
        """Isolation-forest anomaly score (about 0.5 normal, towards 1 anomalous) of one input vector."""
        # Trees compare in float32 like scikit-learn does, so scores match its score_samples.
        x = inputs.astype(np.float32).astype(np.float64)
        node = self.roots
        for _ in range(self._depth):
            node = np.where(
                x[self.feature[node]] <= self.threshold[node], self._step_left[node], self._step_right[node]
            )
        if self.path_normaliser <= 0.0:
            return 1.0
        return float(2.0 ** (-float(self.leaf_value[node].sum()) / self.path_normaliser))

    def raw_scores(self, inputs: FloatArray) -> FloatArray:
        """:meth:`raw_score` for each row of an (N, n_inputs) matrix."""
        x = inputs.astype(np.float32).astype(np.float64)
        if x.shape[0] == 1:  # one row (the recorder's case): plain 1-D traversal, much cheaper
            row = x[0]
            single = self.roots
            for _ in range(self._depth):
                single = np.where(
                    row[self.feature[single]] <= self.threshold[single],
                    self._step_left[single],
                    self._step_right[single],
                )
            node = single[None, :]
        else:
            rows = np.arange(x.shape[0])[:, None]
            node = np.broadcast_to(self.roots, (x.shape[0], len(self.roots)))
            for _ in range(self._depth):
                node = np.where(
                    x[rows, self.feature[node]] <= self.threshold[node], self._step_left[node], self._step_right[node]
                )
        if self.path_normaliser <= 0.0:
            return np.ones(x.shape[0])
        return np.asarray(2.0 ** (-self.leaf_value[node].sum(axis=1) / self.path_normaliser), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (lists, ints, floats, strings, booleans); see :meth:`from_dict`."""
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_FORMAT_VERSION,
            "n_features": self.n_features,
            "mean_window": self.mean_window,
            "spread_window": self.spread_window,
            "use_time_of_day": self.use_time_of_day,
            "n_inputs": self.n_inputs,
            "path_normaliser": self.path_normaliser,
            "roots": self.roots.tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "feature": self.feature.tolist(),
            "threshold": self.threshold.tolist(),
            "leaf_value": self.leaf_value.tolist(),
            "reference_scores": self.reference_scores.tolist(),
            "trained_rows": self.trained_rows,
            "trained_from_ms": self.trained_from_ms,
            "trained_to_ms": self.trained_to_ms,
            "random_seed": self.random_seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearnedModel:
        """Rebuild a model from :meth:`to_dict` output (e.g. after ``json.loads``), validating every field.

        Never imports scikit-learn or scipy. Raises ValueError naming the first problem.
        """
        if not isinstance(data, Mapping):
            raise ValueError("learned model: expected a JSON object")
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"learned model: format must be {MODEL_FORMAT!r}, got {data.get('format')!r}")
        version = _require(data, "version", int)
        if version != MODEL_FORMAT_VERSION:
            raise ValueError(f"learned model: unsupported version {version} (this build reads {MODEL_FORMAT_VERSION})")
        n_features = _require(data, "n_features", int)
        mean_window = _require(data, "mean_window", int)
        spread_window = _require(data, "spread_window", int)
        use_time_of_day = _require(data, "use_time_of_day", bool)
        if n_features < 1 or mean_window < 1 or spread_window < 1:
            raise ValueError("learned model: n_features, mean_window and spread_window must be positive")
        n_inputs = n_features * _FEATURES_PER_METRIC + (2 if use_time_of_day else 0)
        if _require(data, "n_inputs", int) != n_inputs:
            raise ValueError(f"learned model: n_inputs must be {n_inputs} for {n_features} features")
        normaliser = float(_require(data, "path_normaliser", (int, float)))
        if not math.isfinite(normaliser) or normaliser < 0:
            raise ValueError("learned model: path_normaliser must be a finite number >= 0")

        roots = np.asarray(_number_list(data.get("roots"), "roots", integer=True), dtype=np.int64)
        left = np.asarray(_number_list(data.get("left"), "left", integer=True), dtype=np.int64)
        right = np.asarray(_number_list(data.get("right"), "right", integer=True), dtype=np.int64)
        feature = np.asarray(_number_list(data.get("feature"), "feature", integer=True), dtype=np.int64)
        threshold = np.asarray(_number_list(data.get("threshold"), "threshold", integer=False), dtype=np.float64)
        leaf_value = np.asarray(_number_list(data.get("leaf_value"), "leaf_value", integer=False), dtype=np.float64)
        reference = np.asarray(
            _number_list(data.get("reference_scores"), "reference_scores", integer=False), dtype=np.float64
        )
        nodes = len(left)
        if nodes == 0 or len(roots) == 0:
            raise ValueError("learned model: the forest has no trees")
        if not all(len(a) == nodes for a in (right, feature, threshold, leaf_value)):
            raise ValueError("learned model: left, right, feature, threshold and leaf_value must have equal lengths")
        if roots.min() < 0 or roots.max() >= nodes:
            raise ValueError("learned model: a root index is out of range")
        leaf = left < 0
        if not np.array_equal(leaf, right < 0):
            raise ValueError("learned model: a node has exactly one child")
        own = np.arange(nodes)
        # Children must come after their parent: this rules out cycles, so traversal always ends.
        if np.any(~leaf & ((left <= own) | (right <= own) | (left >= nodes) | (right >= nodes))):
            raise ValueError("learned model: a child index is out of range or not after its parent")
        if np.any((feature < 0) | (feature >= n_inputs)):
            raise ValueError(f"learned model: a feature index is outside 0..{n_inputs - 1}")
        if np.any(leaf_value < 0):
            raise ValueError("learned model: leaf_value must be >= 0")
        return cls(
            n_features=n_features,
            mean_window=mean_window,
            spread_window=spread_window,
            use_time_of_day=use_time_of_day,
            roots=roots,
            left=left,
            right=right,
            feature=feature,
            threshold=threshold,
            leaf_value=leaf_value,
            path_normaliser=normaliser,
            reference_scores=reference,
            trained_rows=_require(data, "trained_rows", int),
            trained_from_ms=_require(data, "trained_from_ms", int),
            trained_to_ms=_require(data, "trained_to_ms", int),
            random_seed=_require(data, "random_seed", int),
        )


def _node_depths(roots: IntArray, left: IntArray, right: IntArray) -> IntArray:
    """Depth of every node (root = 0; -1 if unreachable), one vectorised pass per tree level."""
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    depth = np.full(len(left), -1, dtype=np.int64)
    depth[roots] = 0
    frontier = np.asarray(roots, dtype=np.int64)
    level = 0
    while frontier.size:
        frontier = frontier[left[frontier] >= 0]
        level += 1
        # Unique, so a malformed table whose nodes share children cannot blow up the frontier.
        frontier = np.unique(np.concatenate([left[frontier], right[frontier]]))
        depth[frontier] = level
    return depth


def _tree_depth(roots: IntArray, left: IntArray, right: IntArray) -> int:
    """Deepest level of any tree (root = 0)."""
    return int(_node_depths(roots, left, right).max())


def _model_inputs(
    rows: FloatArray, timestamps_ms: IntArray, mean_window: int, spread_window: int, use_time_of_day: bool
) -> FloatArray:
    features = _shape_features(rows, mean_window, spread_window)
    if use_time_of_day:
        features = np.concatenate([features, _time_of_day(timestamps_ms)], axis=1)
    return features


# ---------------------------------------------------------------------------------------------------------
# Calibration


def _running_sums(previous: FloatArray, block: FloatArray, window: int) -> FloatArray:
    """For each row of ``block``, the sum of it and up to ``window - 1`` rows before it (in ``previous``/``block``).

    Added one offset at a time, so every row's sum is the same sequence of additions however many rows
    are scored together: a block of 1 row and a block of 100 give bit-identical results.
    """
    rows = np.concatenate([previous[-(window - 1) :] if window > 1 else previous[:0], block])
    m = block.shape[0]
    first = rows.shape[0] - m
    total = rows[first : first + m].copy()
    for back in range(1, window):
        start = first - back
        if start >= 0:
            total += rows[start : start + m]
        elif m + start > 0:
            # Rows near the start of the series have fewer predecessors: add those that exist.
            total[-start:] += rows[: m + start]
    return total


class _Calibrator:
    """Turns a raw score into ``-log10`` of its upper-tail probability among a reference of past raw scores.

    The probability is empirical (the share of the reference at or above the value), so what the series
    does often, such as a nightly backup spike, stops looking rare. Above the top ``tail_share`` of the
    reference, where counts run out, the tail is extrapolated as exponential with the mean excess of
    that top part (peaks over threshold), so a value far beyond anything seen still gets an ever smaller
    probability instead of a floor of ``1 / size``. The reference is rebuilt by :meth:`refresh` only, so
    a block of rows scored between two refreshes is judged against the same reference.
    """

    def __init__(self, min_scale: float, tail_share: float) -> None:
        self.min_scale = min_scale
        self.tail_share = tail_share
        self.sorted_past = np.zeros(0)
        self.tail_start = 0.0
        self.tail_scale = min_scale
        self.log_top = 0.0

    def refresh(self, past: FloatArray) -> None:
        """Use these past values (any order) as the reference."""
        self.sorted_past = np.sort(past)
        size = len(self.sorted_past)
        if not size:
            return
        top = min(size, max(3, math.ceil(self.tail_share * size)))
        self.tail_start = float(self.sorted_past[size - top])
        self.tail_scale = max(float(self.sorted_past[size - top :].mean()) - self.tail_start, self.min_scale)
        self.log_top = -math.log10(top / size)

    def decades(self, values: FloatArray) -> FloatArray:
        """Upper-tail probability of each value among the reference, in decades (0 without a reference)."""
        size = len(self.sorted_past)
        if not size:
            return np.zeros_like(values)
        at_or_above = size - np.searchsorted(self.sorted_past, values, side="left")
        counted = -np.log10(np.maximum(at_or_above, 1) / size)
        beyond = self.log_top + (values - self.tail_start) / (self.tail_scale * _LN10)
        return np.asarray(np.where(values > self.tail_start, np.maximum(beyond, counted), counted), dtype=np.float64)


class _Tails:
    """One reference of feature values, summarised for tail probabilities (see :meth:`decades`)."""

    def __init__(self, width: int, config: DetectorConfig) -> None:
        self.config = config
        self.ready = False
        self.highest = self.lowest = np.zeros((1, width))
        self.median = self.band_edge_high = self.band_edge_low = np.zeros(width)
        self.inner_slope_up = self.inner_slope_down = np.zeros(width)
        self.inner_cap = 0.0
        self.band_rows = 0
        self.log_size = self.log_tail_share = 0.0
        self.upper_start = self.lower_start = np.zeros(width)
        self.upper_scale = self.lower_scale = np.ones(width)
        self.upper_params = self.lower_params = np.zeros((4, width))

    def refresh(self, past: FloatArray, magnitude: FloatArray | None = None, metrics: int = 0) -> FloatArray:
        """Summarise these past feature rows and return the typical magnitude of each metric.

        ``magnitude`` (one per column) sets the smallest tail scale; without it, it is the typical
        magnitude of each of the first ``metrics`` columns (median |level|, else its mean distance from
        the median), repeated for every further group of ``metrics`` columns.
        """
        cfg = self.config
        size = past.shape[0]
        tail = min(size, max(3, math.ceil(cfg.tail_share * size)))
        band = min(size, max(tail, math.ceil(_BAND_SHARE * size)))
        middle = size // 2
        # A partial sort is enough: only the outer bands and the median are ever looked at; partitioned
        # along contiguous rows (one per feature), several times faster than down columns.
        kth = sorted({band - 1, middle, size - band})
        parted = np.partition(np.ascontiguousarray(past.T), kth, axis=1)
        lowest = np.ascontiguousarray(np.sort(parted[:, :band], axis=1).T)
        highest = np.ascontiguousarray(np.sort(parted[:, size - band :], axis=1).T)
        median = parted[:, middle].copy()
        if magnitude is None:
            centre = median[:metrics]
            typical = np.maximum(np.abs(centre), np.abs(past[:, :metrics] - centre).mean(axis=0))
            magnitude = np.tile(typical, past.shape[1] // metrics)
        floor = cfg.relative_floor * magnitude + 1e-12
        self.highest = highest
        self.lowest = lowest
        self.median = median
        self.upper_start = highest[band - tail]
        self.upper_scale = np.maximum(highest[band - tail :].mean(axis=0) - self.upper_start, floor)
        self.lower_start = lowest[tail - 1]
        self.lower_scale = np.maximum(self.lower_start - lowest[:tail].mean(axis=0), floor)
        self.band_edge_high = highest[0]
        self.band_edge_low = lowest[band - 1]
        self.log_tail_share = math.log10(tail / size)
        log_band_share = math.log10(band / size)
        self.log_size = math.log10(size)
        half = -math.log10(2.0)
        # Between the median (p = 1/2) and a band edge the log tail probability is a straight line.
        self.inner_slope_up = (log_band_share - half) / np.maximum(self.band_edge_high - median, floor)
        self.inner_slope_down = (log_band_share - half) / np.maximum(median - self.band_edge_low, floor)
        self.inner_cap = log_band_share
        self.band_rows = band
        # Per side: tail start, tail scale, slope of the inner line, band edge (one where() picks a side).
        self.upper_params = np.stack([self.upper_start, self.upper_scale, self.inner_slope_up, self.band_edge_high])
        self.lower_params = np.stack([self.lower_start, self.lower_scale, self.inner_slope_down, self.band_edge_low])
        self.ready = True
        return magnitude

    def _log_decay(self, excess: FloatArray) -> FloatArray:
        """Decades lost beyond the tail start for an excess in units of the tail scale (GPD tail)."""
        shape = self.config.tail_shape
        excess = np.maximum(excess, 0.0)
        if shape == 0.0:
            return np.asarray(excess / _LN10, dtype=np.float64)
        return np.asarray(np.log10(1.0 + shape * excess) / shape, dtype=np.float64)

    def decades(self, features: FloatArray) -> FloatArray:
        """``-log10`` of each value's smaller tail probability (upper or lower) among the reference; (m, w).

        Inside the reference's range the probability is the share of its values at or beyond this one;
        past the outer ``tail_share`` of them it is extrapolated with a generalised-Pareto tail fitted to
        their mean excess (peaks over threshold), so a value far beyond anything seen keeps getting rarer.
        Zero for every value while there is no reference.
        """
        if not self.ready:
            return np.zeros_like(features)
        up = features >= self.median
        # Each value is judged on one side: the upper tail above the median, the lower tail below it.
        # Distances are signed so that positive means "further out" on that side (a - b == -(b - a)
        # exactly, so this equals the two-sided formulas bit for bit).
        sign = np.where(up, 1.0, -1.0)
        start, scale, slope, edge = np.where(up, self.upper_params[:, None, :], self.lower_params[:, None, :])
        outward = sign * (features - start)
        log_p = np.maximum(-math.log10(2.0) + slope * (sign * (features - self.median)), self.inner_cap)
        in_band = sign * (features - edge) >= 0.0
        if in_band.any():
            # Exact counts, only for the few values in an outer band.
            values = features[in_band]
            columns = np.nonzero(in_band)[1]
            counted = np.where(
                up[in_band],
                (self.highest[:, columns] >= values).sum(axis=0),
                (self.lowest[:, columns] <= values).sum(axis=0),
            )
            exact = counted < self.band_rows
            log_p[in_band] = np.where(exact, np.log10(np.maximum(counted, 1)) - self.log_size, log_p[in_band])
        beyond = outward > 0.0
        if beyond.any():
            log_p[beyond] = self.log_tail_share - self._log_decay(outward[beyond] / scale[beyond])
        return np.asarray(-log_p, dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# Streaming detector


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
        width = n_features * _FEATURES_PER_METRIC
        # Rows held back from the reference (the last ``news_horizon_ms``) are capped at a quarter of the
        # reference, so memory stays bounded at any sampling rate.
        self._max_lag = cfg.baseline_window // 4
        capacity = cfg.baseline_window + self._max_lag
        self._raw = _Ring(max(cfg.mean_window, cfg.spread_window, 2), n_features)
        self._features = _Ring(capacity, width)
        # Monotone clock (running maximum of the timestamps): the news horizon and the seasonal look-up
        # need ordered times; the timestamps themselves are used as given for the time of day.
        self._clock = _Ring(capacity, 1)
        self._seasonal_memory = _Ring(capacity, 1)  # evidence remembered for the seasonal discount
        self._onset_memory = _Ring(max(cfg.repeat_window_rows, 1), 1)
        # Tails of every shape feature over the whole history (what is news), and of the level and short
        # mean over the history before the news horizon (whether a change is still abnormal).
        self._now = _Tails(width, cfg)
        self._before = _Tails(2 * n_features, cfg)
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
        self._log_tests = math.log10(2 * _FEATURES_PER_METRIC)
        self._extra_offset = _METRIC_NULL_DECADES - self._log_tests
        self._learned = _Calibrator(cfg.calibration_min_spread / 10, cfg.tail_share)
        self._learned_history = _Ring(cfg.calibration_window, 1)
        self._learned_recent = _Ring(cfg.smoothing_rows, 1)
        self._model: LearnedModel | None = None
        self._rows_seen = 0
        self._train_values = _Ring(cfg.max_train_rows, n_features) if cfg.auto_train else None
        self._train_stamps = _Ring(cfg.max_train_rows, 1) if cfg.auto_train else None
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
            self._learned_history = _Ring(cfg.calibration_window, 1)
            self._learned_recent = _Ring(cfg.smoothing_rows, 1)
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
        features = np.empty((m, n * _FEATURES_PER_METRIC))
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
        per_feature = self._now.decades(features).reshape(m, _FEATURES_PER_METRIC, n)
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
        if self._model is not None:
            onset = onset + cfg.learned_weight * self._learned_decades(features, stamps)

        index = self._rows_seen + np.arange(m)
        warm = index >= cfg.warmup_rows
        remembered_onset = np.where(warm, onset, 0.0)
        remembered = np.where(warm, np.maximum(onset, held), 0.0)
        clock = np.maximum.accumulate(np.concatenate([self._clock.last(1)[:, 0], stamps.astype(np.float64)]))[-m:]

        # An onset already under way is no news: discount by its recent peak. Nor is what happened at
        # about this time of day on an earlier day (a nightly job): discount by that peak. A held level
        # is not discounted by its own onset: it stays news until the reference takes it in.
        repeat = np.zeros(m)
        if cfg.repeat_window_rows:
            window = cfg.repeat_window_rows
            past = self._onset_memory.last(window)[:, 0]
            if m == 1:
                peaks = np.array([past.max() if past.shape[0] else -np.inf])
            else:
                padded = np.concatenate([np.full(window - past.shape[0], -np.inf), past, remembered_onset])
                peaks = np.lib.stride_tricks.sliding_window_view(padded, window)[:m].max(axis=1)
            repeat = cfg.repeat_discount * np.maximum(peaks, 0.0)
        seasonal = np.zeros(m)
        if cfg.seasonal_days:
            seasonal = cfg.seasonal_discount * self._seasonal_peaks(clock, remembered)
        evidence = np.maximum(onset - np.maximum(repeat, seasonal), held - seasonal)
        evidence = np.where(warm, evidence, 0.0)

        scores = np.where(warm, 1.0 - 2.0 ** (-np.maximum(evidence, 0.0) / cfg.score_half_decades), 0.0)

        self._features.extend(features)
        self._clock.extend(clock[:, None])
        self._seasonal_memory.extend(remembered[:, None])
        self._onset_memory.extend(remembered_onset[:, None])
        if self._train_values is not None and self._train_stamps is not None:
            self._train_values.extend(x)
            self._train_stamps.extend(stamps.astype(np.float64)[:, None])
        self._rows_seen += m
        return scores, contributions

    @staticmethod
    def _window_mean(previous: FloatArray, block: FloatArray, window: int) -> FloatArray:
        first = previous.shape[0]
        sizes = np.minimum(np.arange(first + 1, first + block.shape[0] + 1), window).astype(np.float64)
        return _running_sums(previous, block, window) / sizes[:, None]

    def _combine(self, per_metric: FloatArray) -> FloatArray:
        """Evidence that some metrics deviate together: the best ``k * (k-th largest) - log10 C(n, k)``.

        ``per_metric`` is each metric's evidence already corrected for its own tests. If k of n
        independent metrics each have a tail probability of at most p, the chance of that is at most
        ``C(n, k) p ** k``; k = 1 is Bonferroni over the metrics. So two metrics jumping together count
        for more than either alone, and one metric alone is judged as before.
        """
        if per_metric.shape[1] == 1:
            return np.asarray(per_metric[:, 0], dtype=np.float64)
        ordered = -np.sort(-per_metric, axis=1)
        # Each metric beyond the first must clear the null-calibrated offset (``_METRIC_NULL_DECADES``
        # rather than the lone metric's ``log10 8``) before it adds evidence.
        stricter = np.maximum(ordered - self._extra_offset, 0.0)
        together = stricter * self._ks - self._log_choose
        together[:, 0] = ordered[:, 0] - self._log_choose[0]
        return np.asarray(together.max(axis=1), dtype=np.float64)

    def _learned_decades(self, features: FloatArray, stamps: IntArray) -> FloatArray:
        assert self._model is not None
        cfg = self.config
        inputs = features
        if self._model.use_time_of_day:
            inputs = np.concatenate([features, _time_of_day(stamps)], axis=1)
        raw = self._model.raw_scores(inputs)
        if cfg.smoothing_rows > 1:
            previous = self._learned_recent.last(cfg.smoothing_rows)
            smoothed = _running_sums(previous, raw[:, None], cfg.smoothing_rows)[:, 0]
            first = previous.shape[0]
            smoothed = smoothed / np.minimum(np.arange(first + 1, first + len(raw) + 1), cfg.smoothing_rows)
        else:
            smoothed = raw
        result = self._learned.decades(smoothed) if self._learned_history.count else np.zeros_like(raw)
        self._learned_history.extend(smoothed[:, None])
        self._learned_recent.extend(raw[:, None])
        return result

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
        if not stored or clock[-1] - _DAY_MS + cfg.seasonal_tolerance_ms < clocks[0]:
            return np.zeros(m)  # the history does not reach back a day
        position = stored + np.arange(m)  # rows strictly before each row of the block
        peaks = np.zeros(m)
        tolerance = cfg.seasonal_tolerance_ms
        for day in range(1, cfg.seasonal_days + 1):
            centre = clock - day * _DAY_MS
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
        magnitude = self._now.refresh(recent, metrics=n)[:n]
        # The rows of the last ``news_horizon_ms`` are held back from the second reference: a change is
        # judged against what came before it until it has lasted that long, then it joins the reference
        # and stops being news. While the history is young, at most half of it is held back.
        clocks = self._clock.last(count)[:, 0]
        lag = count - int(np.searchsorted(clocks, clocks[-1] - cfg.news_horizon_ms, side="right"))
        lag = min(lag, self._max_lag, count // 2)
        self._lag = lag
        past = self._features.last(cfg.baseline_window + lag)
        past = past[: past.shape[0] - lag]
        self._before.refresh(np.concatenate([past[:, :n], past[:, 2 * n : 3 * n]], axis=1), np.tile(magnitude, 2))
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
