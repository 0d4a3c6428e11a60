"""The learned model: an isolation forest trained with scikit-learn (imported only to train), exported to
node arrays, scored in numpy, and stored as validated JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np

from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.features import FEATURES_PER_METRIC, FloatArray, IntArray, clip_values, model_inputs

__all__ = ["MODEL_FORMAT", "LearnedModel"]

#: The ``format`` tag of a serialised :class:`LearnedModel`.
MODEL_FORMAT = "scops-tui/isolation-forest"
MODEL_FORMAT_VERSION = 1


def _average_path_length(n: FloatArray) -> FloatArray:
    """Expected path length of an unsuccessful search in a binary search tree of ``n`` items (iForest's c(n))."""
    out = np.zeros_like(n, dtype=np.float64)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


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
        return self.n_features * FEATURES_PER_METRIC + (2 if self.use_time_of_day else 0)

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
        inputs = model_inputs(matrix, stamps, cfg.mean_window, cfg.spread_window, use_time_of_day)

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
        n_inputs = n_features * FEATURES_PER_METRIC + (2 if use_time_of_day else 0)
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
