"""The detector's settings (every window a number of rows), validated when made."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DAY_MS", "DetectorConfig"]

DAY_MS = 86_400_000


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
        daily_difference: also judge each metric's short mean against its short mean one day earlier
            (the row nearest to exactly a day before, within ``seasonal_tolerance_ms``): a daily cycle that
            goes flat, speeds up or swings wider changes that difference while each value stays in its
            usual range. Only where the kept history reaches back a day (5-minute rows: yes; the
            recorder's 1-5 s rows: no, the history holds hours).
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
    time_of_day_min_span_ms: int = 2 * DAY_MS
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
    daily_difference: bool = True

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
