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
   blip one or two. The sample's statistical evidence is the largest contribution, less ``log10`` of the
   number of tests (Bonferroni), so one threshold means the same for 1 metric and for 10.
3. **Learned model.** Once ``learned_after_rows`` rows exist, an isolation forest (scikit-learn, fixed
   seed) is trained on the past rows' shape features, plus the time of day once the history spans
   ``time_of_day_min_span_ms``; it is retrained every ``retrain_every_rows`` rows, always on past rows
   only. The forest is exported to plain arrays (:class:`LearnedModel`) and scored in numpy, so scoring
   never imports scikit-learn and a model is stored as JSON, never pickled. Its raw score gets a tail
   probability against its own recent scores (``calibration_window``); ``learned_weight`` times that
   is added to the statistical evidence.
4. **Score.** What is not news is discounted. An episode already under way: the evidence is reduced
   by ``repeat_discount`` times its peak over the previous ``repeat_window_rows`` rows, so an alert
   fires at the onset and again only if things get worse. What happened at about this time of day on
   the previous ``seasonal_days`` days (within ``seasonal_tolerance_ms``, as far as the history reaches):
   the evidence is reduced by ``seasonal_discount`` times the peak evidence then, so a nightly job's
   spike alerts once, not every night. The larger of the two discounts applies. The evidence ``L`` (in
   decades of probability) maps to
   [0, 1] by ``1 - 2 ** (-L / score_half_decades)``: 0.5 at ``L = score_half_decades`` (2: as
   unusual as 1 sample in 100 after the corrections above), 0.75 at twice that, and so on.

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

from scops_tui.core.episodes import severity_of

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
#: standard profile (0.458 on the 21 files in docs/benchmarks-detector.md), rounded down.
DEFAULT_THRESHOLD = 0.45
#: The ``format`` tag of a serialised :class:`LearnedModel`.
MODEL_FORMAT = "scops-tui/isolation-forest"
MODEL_FORMAT_VERSION = 1

_DAY_MS = 86_400_000
# score_series reports progress every this many rows.
_PROGRESS_ROWS = 1000
# Shape features per metric: level, first difference, short mean, rolling standard deviation.
_FEATURES_PER_METRIC = 4
_LN10 = math.log(10.0)
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
        for name in ("warmup_rows", "seasonal_days", "seasonal_tolerance_ms"):
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


class _Calibrator:
    """Turns a raw score into ``-log10`` of its upper-tail probability among the recent raw scores.

    The probability is empirical (the share of the last ``window`` raw scores at or above this one), so a
    deviation the series shows every day, such as a nightly backup spike, stops looking rare. Above the
    top ``tail_share`` of the history, where counts run out, the tail is extrapolated as exponential
    with the mean excess of that top part (a peaks-over-threshold fit), so a raw score far beyond
    anything seen still gets an ever smaller probability instead of a floor of ``1 / window``.
    """

    def __init__(self, window: int, smoothing: int, min_spread: float, refresh: int, tail_share: float) -> None:
        self.history = _Ring(window, 1)
        self.recent = _Ring(smoothing, 1)
        self.smoothing = smoothing
        self.min_spread = min_spread
        self.refresh = refresh
        self.tail_share = tail_share
        self.sorted_past = np.zeros(0)
        self.tail_start = 0.0
        self.tail_scale = min_spread
        self.since_refresh = refresh  # refresh at the first use

    def seed(self, values: FloatArray) -> None:
        """Replace the history with these raw scores (oldest first)."""
        self.history = _Ring(self.history.capacity, 1)
        self.recent = _Ring(self.smoothing, 1)
        for value in values[-self.history.capacity :]:
            self.history.append(np.array([value]))
        self.since_refresh = self.refresh

    def _refresh(self) -> None:
        past = np.sort(self.history.last(self.history.capacity)[:, 0])
        size = len(past)
        top = max(1, math.ceil(self.tail_share * size))
        self.sorted_past = past
        self.tail_start = float(past[size - top])
        self.tail_scale = max(float(past[size - top :].mean()) - self.tail_start, self.min_spread)
        self.since_refresh = 0

    def decades(self, raw: float) -> float:
        """Tail probability of ``raw`` (averaged over the last ``smoothing`` rows) in decades; then remember it."""
        self.recent.append(np.array([raw]))
        smoothed = float(self.recent.last(self.smoothing).mean()) if self.smoothing > 1 else raw
        result = 0.0
        if self.history.count:
            if self.since_refresh >= self.refresh:
                self._refresh()
            self.since_refresh += 1
            size = len(self.sorted_past)
            if smoothed <= self.tail_start:
                at_or_above = size - int(np.searchsorted(self.sorted_past, smoothed, side="left"))
                result = -math.log10(at_or_above / size)
            else:
                top = size - int(np.searchsorted(self.sorted_past, self.tail_start, side="left"))
                excess = (smoothed - self.tail_start) / self.tail_scale
                result = -math.log10(top / size) + excess / math.log(10.0)
        self.history.append(np.array([smoothed]))
        return result


# ---------------------------------------------------------------------------------------------------------
# Streaming detector


class StreamingDetector:
    """Scores one source's samples one at a time; each score depends only on that sample and earlier ones.

    Not thread-safe: one detector per source, fed in time order by one writer.
    """

    def __init__(self, n_features: int, config: DetectorConfig | None = None, model: LearnedModel | None = None):
        if not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        self.n_features = n_features
        self.config = config or DetectorConfig()
        cfg = self.config
        width = n_features * _FEATURES_PER_METRIC
        self._raw = _Ring(max(cfg.mean_window, cfg.spread_window, 2), n_features)
        self._features = _Ring(cfg.baseline_window, width)
        self._highest = self._lowest = np.zeros((1, width))
        self._median = self._band_edge_high = self._band_edge_low = np.zeros(width)
        self._inner_slope_up = self._inner_slope_down = np.zeros(width)
        self._inner_cap = 0.0
        self._band_rows = 0
        self._log_band_share = 0.0
        self._floor = np.ones(width)
        self._refresh_every = cfg.baseline_refresh_rows
        self._upper_start = self._lower_start = np.zeros(width)
        self._upper_scale = self._lower_scale = np.ones(width)
        self._log_tail_share = self._log_size = 0.0
        self._since_refresh = cfg.baseline_refresh_rows
        self._log_tests = math.log10(2 * width)
        self._learned = _Calibrator(
            cfg.calibration_window,
            cfg.smoothing_rows,
            cfg.calibration_min_spread / 10,
            cfg.baseline_refresh_rows,
            cfg.tail_share,
        )
        self._model: LearnedModel | None = None
        self._rows_seen = 0
        self._recent_decades = _Ring(max(cfg.repeat_window_rows, 1), 1)
        # Timestamp and evidence of each row over the feature history (seasonal discount).
        self._past_stamps = _Ring(cfg.baseline_window, 1)
        self._past_evidence = _Ring(cfg.baseline_window, 1)
        # Rows kept for inline training (auto_train only): values and timestamps, oldest first.
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
            self._learned.seed(model.reference_scores)
        self._model = model

    def score(self, timestamp_ms: int, values: Sequence[float]) -> Score:
        """Score one sample. ``values`` has one finite number per feature, in a fixed order.

        Raises ValueError for a wrong number of values or a non-finite value.
        """
        cfg = self.config
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (self.n_features,):
            raise ValueError(f"expected {self.n_features} values, got {len(values)}")
        if not np.isfinite(x).all():
            raise ValueError("values must be finite numbers")
        x = clip_values(x)
        n = self.n_features
        first = self._raw.count == 0
        previous = self._raw.last(1)[0].copy() if not first else x
        self._raw.append(x)
        features = np.empty(n * _FEATURES_PER_METRIC)
        features[:n] = x
        features[n : 2 * n] = x - previous
        features[2 * n : 3 * n] = self._raw.last(cfg.mean_window).mean(axis=0)
        spread_rows = self._raw.last(cfg.spread_window)
        deviations = spread_rows - spread_rows.mean(axis=0)
        features[3 * n :] = np.sqrt((deviations * deviations).mean(axis=0))

        # Each shape feature's two-sided tail probability among its own earlier values (in decades).
        if self._features.count:
            if self._since_refresh >= self._refresh_every:
                self._refresh_tails()
            self._since_refresh += 1
            feature_decades = self._tail_decades(features)
        else:
            feature_decades = np.zeros_like(features)
        self._features.append(features)
        # A metric's evidence combines its shape features' evidence: half their sum, between the max
        # (features fully dependent) and the sum (independent, Fisher's method). A real change usually
        # moves several features at once, a noise blip only one or two.
        contributions = feature_decades.reshape(_FEATURES_PER_METRIC, n).sum(axis=0) * 0.5

        # The largest metric's evidence is corrected for the number of tail tests (Bonferroni), so one
        # threshold means the same for a source with 1 metric and one with 10.
        decades = float(contributions.max()) - self._log_tests
        learned = self._model is not None
        if self._model is not None:
            inputs = features
            if self._model.use_time_of_day:
                angle = (timestamp_ms % _DAY_MS) * (2.0 * math.pi / _DAY_MS)
                inputs = np.concatenate([features, (math.sin(angle), math.cos(angle))])
            learned_decades = self._learned.decades(self._model.raw_score(inputs))
            # The learned model adds its evidence: what the statistical tests judged stays judged, and a
            # combination of values that no single feature shows as rare can still raise the score.
            decades = decades + cfg.learned_weight * learned_decades

        # An episode that is already under way is no news: discount by the recent peak. Nor is what
        # happened at about this time of day on an earlier day (a nightly job): discount by that peak.
        discount = 0.0
        if cfg.repeat_window_rows and self._recent_decades.count:
            recent_peak = float(self._recent_decades.last(cfg.repeat_window_rows).max())
            discount = cfg.repeat_discount * max(recent_peak, 0.0)
        if cfg.seasonal_days and self._past_evidence.count:
            discount = max(discount, cfg.seasonal_discount * self._seasonal_peak(timestamp_ms))
        # Warm-up rows are not judged, so their (unreliable) evidence must not discount later rows.
        index = self._rows_seen
        remembered = np.array([decades if index >= cfg.warmup_rows else 0.0])
        if cfg.repeat_window_rows:
            self._recent_decades.append(remembered)
        if cfg.seasonal_days:
            self._past_stamps.append(np.array([float(timestamp_ms)]))
            self._past_evidence.append(remembered)
        decades = decades - discount
        self._rows_seen += 1
        value = 0.0 if index < cfg.warmup_rows else 1.0 - 2.0 ** (-max(decades, 0.0) / cfg.score_half_decades)
        self._maybe_train(timestamp_ms, x)
        return Score(value=value, contributions=tuple(contributions.tolist()), learned=learned)

    def _seasonal_peak(self, timestamp_ms: int) -> float:
        """Largest evidence within ``seasonal_tolerance_ms`` of this time of day on the last ``seasonal_days`` days."""
        cfg = self.config
        stamps = self._past_stamps.last(cfg.baseline_window)[:, 0]
        evidence = self._past_evidence.last(cfg.baseline_window)[:, 0]
        tolerance = cfg.seasonal_tolerance_ms
        if timestamp_ms - _DAY_MS + tolerance < stamps[0]:
            return 0.0  # the history does not reach back a day
        peak = 0.0
        for day in range(1, cfg.seasonal_days + 1):
            centre = float(timestamp_ms - day * _DAY_MS)
            low = int(np.searchsorted(stamps, centre - tolerance, side="left"))
            high = int(np.searchsorted(stamps, centre + tolerance, side="right"))
            if high > low:
                peak = max(peak, float(evidence[low:high].max()))
        return peak

    def _refresh_tails(self) -> None:
        cfg = self.config
        n = self.n_features
        past = self._features.last(cfg.baseline_window)
        size = past.shape[0]
        tail = min(size, max(3, math.ceil(cfg.tail_share * size)))
        band = min(size, max(tail, math.ceil(_BAND_SHARE * size)))
        middle = size // 2
        # A partial sort is enough: only the outer bands and the median are ever looked at.
        kth = sorted({band - 1, middle, size - band})
        # Partitioned along contiguous rows (one per feature): several times faster than down columns.
        parted = np.partition(np.ascontiguousarray(past.T), kth, axis=1)
        lowest = np.ascontiguousarray(np.sort(parted[:, :band], axis=1).T)
        highest = np.ascontiguousarray(np.sort(parted[:, size - band :], axis=1).T)
        median = parted[:, middle].copy()
        # Typical magnitude of each metric (median |level|, else its spread) sets the smallest tail
        # scale of all its features, so an almost flat metric's tiny wobble is not a certainty.
        magnitude = np.maximum(np.abs(median[:n]), np.abs(past[:, :n] - median[:n]).mean(axis=0))
        floor = np.tile(cfg.relative_floor * magnitude, _FEATURES_PER_METRIC) + 1e-12
        self._floor = floor
        self._highest = highest
        self._lowest = lowest
        self._median = median
        self._upper_start = highest[band - tail]
        self._upper_scale = np.maximum(highest[band - tail :].mean(axis=0) - self._upper_start, floor)
        self._lower_start = lowest[tail - 1]
        self._lower_scale = np.maximum(self._lower_start - lowest[:tail].mean(axis=0), floor)
        self._band_edge_high = highest[0]
        self._band_edge_low = lowest[band - 1]
        self._log_tail_share = math.log10(tail / size)
        self._log_band_share = math.log10(band / size)
        self._log_size = math.log10(size)
        half = -math.log10(2.0)
        # Between the median (p = 1/2) and a band edge the log tail probability is a straight line.
        self._inner_slope_up = (self._log_band_share - half) / np.maximum(self._band_edge_high - median, floor)
        self._inner_slope_down = (self._log_band_share - half) / np.maximum(median - self._band_edge_low, floor)
        self._inner_cap = self._log_band_share
        self._band_rows = band
        # Refresh again once 1% of the history is new, so the amortised cost per row stays
        # flat however long the history is.
        self._refresh_every = max(cfg.baseline_refresh_rows, size // 100)
        self._since_refresh = 0

    def _tail_log_decay(self, excess: FloatArray) -> FloatArray:
        """Decades lost beyond the tail start for an excess in units of the tail scale (GPD tail)."""
        shape = self.config.tail_shape
        excess = np.maximum(excess, 0.0)
        if shape == 0.0:
            return np.asarray(excess / _LN10, dtype=np.float64)
        return np.asarray(np.log10(1.0 + shape * excess) / shape, dtype=np.float64)

    def _tail_decades(self, features: FloatArray) -> FloatArray:
        """``-log10`` of each feature's smaller tail probability (upper or lower) among the stored history.

        Inside the history's range the probability is the share of earlier values at or beyond this
        one; past the outer ``tail_share`` of them it is extrapolated as an exponential tail with their
        mean excess (peaks over threshold), so a value far beyond anything seen keeps getting rarer.
        """
        # The upper tail matters above the median, the lower tail below it: one side per feature.
        up = features >= self._median
        result = np.empty_like(features)
        for side, mask in ((True, up), (False, ~up)):
            if not mask.any():
                continue
            x = features[mask]
            if side:
                start, scale, edge = self._upper_start[mask], self._upper_scale[mask], self._band_edge_high[mask]
                beyond, excess = x > start, (x - start) / scale
                inner = self._inner_slope_up[mask] * (x - self._median[mask])
                counted = (self._highest[:, mask] >= x).sum(axis=0)
                in_band = x >= edge
            else:
                start, scale, edge = self._lower_start[mask], self._lower_scale[mask], self._band_edge_low[mask]
                beyond, excess = x < start, (start - x) / scale
                inner = self._inner_slope_down[mask] * (self._median[mask] - x)
                counted = (self._lowest[:, mask] <= x).sum(axis=0)
                in_band = x <= edge
            log_p = np.maximum(-math.log10(2.0) + inner, self._inner_cap)
            # Counts are exact only while some band value lies beyond x; when the whole band ties with
            # or passes x (a flat or quantised metric), the straight line is the better estimate.
            in_band &= counted < self._band_rows
            if in_band.any():
                log_p = np.where(in_band, np.log10(np.maximum(counted, 1)) - self._log_size, log_p)
            if beyond.any():
                log_p = np.where(beyond, self._log_tail_share - self._tail_log_decay(excess), log_p)
            result[mask] = -log_p
        return result

    def _maybe_train(self, timestamp_ms: int, x: FloatArray) -> None:
        if self._train_values is None or self._train_stamps is None:
            return
        cfg = self.config
        self._train_values.append(x)
        self._train_stamps.append(np.array([float(timestamp_ms)]))
        seen = self._rows_seen
        if seen < cfg.learned_after_rows or cfg.learned_weight == 0.0:
            return
        # Retrain once the history has doubled since the last training (at least ``retrain_every_rows``
        # and at most a quarter of ``max_train_rows`` apart): a model trained on 1,000 rows is soon
        # stale, one trained on 100,000 rows hardly changes with the next 1,000.
        gap = min(max(cfg.retrain_every_rows, self._last_trained_at), max(cfg.max_train_rows // 4, 1))
        if self._model is not None and seen - self._last_trained_at < gap:
            return
        rows = self._train_values.last(cfg.max_train_rows)
        stamps = self._train_stamps.last(cfg.max_train_rows)[:, 0].astype(np.int64)
        self.set_model(LearnedModel.train(stamps, rows, cfg))
        self._last_trained_at = seen


def score_series(
    timestamps_ms: Sequence[int],
    rows: Sequence[Sequence[float]],
    config: DetectorConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """Score a whole series exactly as a stream would, including inline training and retraining.

    ``config.auto_train`` is forced on so the switch to the learned model happens as in a long-running
    detector. Row ``i``'s score depends only on rows ``0..i``. Rows are scored in the order given, whatever
    their timestamps (a clock that steps back or repeats changes nothing but the time of day they show).
    ``progress``, if given, is called with the number of rows scored since its previous call.
    """
    if len(timestamps_ms) != len(rows):
        raise ValueError(f"{len(timestamps_ms)} timestamps for {len(rows)} rows")
    if not rows:
        return []
    cfg = replace(config or DetectorConfig(), auto_train=True)
    detector = StreamingDetector(len(rows[0]), cfg)
    scores: list[float] = []
    for index, (t, row) in enumerate(zip(timestamps_ms, rows, strict=True)):
        scores.append(detector.score(int(t), row).value)
        if progress is not None and (index + 1) % _PROGRESS_ROWS == 0:
            progress(_PROGRESS_ROWS)
    if progress is not None and len(rows) % _PROGRESS_ROWS:
        progress(len(rows) % _PROGRESS_ROWS)
    return scores
