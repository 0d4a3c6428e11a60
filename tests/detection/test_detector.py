"""Tests of the streaming detector: causality, determinism, calibration range, block scoring."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.detector import (
    DEFAULT_THRESHOLD,
    StreamingDetector,
    is_anomalous,
    score_series,
    severity,
)
from tests.detection.helpers import MINUTE_MS, SMALL, noisy_series, trained_model


def test_scores_are_causal_across_the_switch_to_the_learned_model() -> None:
    stamps, rows = noisy_series(1000)
    full = score_series(stamps, rows, SMALL)
    # Cut points before, at and after the first training (row 300) and the retrainings (550, 800).
    for cut in (120, 299, 300, 301, 549, 551, 800, 999):
        prefix = score_series(stamps[:cut], rows[:cut], SMALL)
        assert prefix == full[:cut], f"scores before row {cut} changed when later rows were added"


def test_score_series_uses_the_learned_model_after_enough_history() -> None:
    stamps, rows = noisy_series(700)
    detector = StreamingDetector(2, SMALL)
    learned_flags = [detector.score(t, r).learned for t, r in zip(stamps, rows, strict=True)]
    assert not any(learned_flags[:300])
    assert all(learned_flags[300:])
    assert detector.model is not None and detector.model.use_time_of_day


def test_scores_are_deterministic() -> None:
    stamps, rows = noisy_series(800, seed=3)
    assert score_series(stamps, rows, SMALL) == score_series(stamps, rows, SMALL)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False), min_size=1, max_size=120)
)
def test_scores_stay_in_unit_interval(values: list[float]) -> None:
    config = replace(SMALL, warmup_rows=0, auto_train=False)
    detector = StreamingDetector(1, config)
    for i, value in enumerate(values):
        score = detector.score(i * 1000, [value])
        assert 0.0 <= score.value <= 1.0
        assert all(math.isfinite(c) and c >= 0 for c in score.contributions)


_EXTREME = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.7976931348623157e308, -1.7976931348623157e308, 1e308, -1e308, 5e-324, -5e-324, 0.0]),
    st.floats(min_value=-10.0, max_value=10.0),
)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_EXTREME, _EXTREME), min_size=1, max_size=80))
def test_any_finite_values_score_finite_in_unit_interval_without_numpy_warnings(
    rows: list[tuple[float, float]],
) -> None:
    """Values near +-1e308, subnormals and mixtures of both: every score finite in [0, 1], no RuntimeWarning."""
    config = replace(SMALL, warmup_rows=0, learned_after_rows=40, retrain_every_rows=20, n_trees=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = score_series([i * 5000 for i in range(len(rows))], rows, config)
        detector = StreamingDetector(2, replace(config, auto_train=False))
        contributions = [detector.score(i * 5000, row).contributions for i, row in enumerate(rows)]
    assert all(math.isfinite(score) and 0.0 <= score <= 1.0 for score in scores)
    assert all(math.isfinite(c) and c >= 0 for row in contributions for c in row)


@pytest.mark.parametrize(
    "values",
    [
        [1e308] * 60,
        [1e308 if i % 2 else -1e308 for i in range(60)],
        [float(i % 7) for i in range(50)] + [1.7976931348623157e308] * 5 + [5e-324] * 5,
    ],
    ids=["constant-1e308", "alternating-sign-1e308", "calm-then-max-then-subnormal"],
)
def test_huge_values_through_the_learned_model_score_finite(values: list[float]) -> None:
    """The default detector (learned model included) on huge finite values: finite scores, no warnings."""
    config = replace(DetectorConfig(), learned_after_rows=40, retrain_every_rows=20, n_trees=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = score_series([i * 5000 for i in range(len(values))], [[v] for v in values], config)
    assert all(math.isfinite(score) and 0.0 <= score <= 1.0 for score in scores)


def test_spike_after_calm_scores_high_and_names_the_metric() -> None:
    rng = np.random.default_rng(1)
    detector = StreamingDetector(3, replace(SMALL, auto_train=False))
    for i in range(400):
        detector.score(i * 5000, (50 + rng.normal(0, 1), 20 + rng.normal(0, 1), 5 + rng.normal(0, 0.1)))
    spike = detector.score(400 * 5000, (50.0, 45.0, 5.0))
    assert spike.value >= DEFAULT_THRESHOLD
    assert is_anomalous(spike.value)
    assert max(range(3), key=lambda k: spike.contributions[k]) == 1


def test_constant_series_scores_low() -> None:
    scores = score_series([i * 5000 for i in range(600)], [[42.0, 7.0]] * 600, SMALL)
    assert max(scores) < 0.1


def test_step_after_constant_history_is_flagged_once_it_happens() -> None:
    rows = [[10.0]] * 300 + [[20.0]] * 5
    scores = score_series([i * 5000 for i in range(305)], rows, replace(SMALL, learned_weight=0.0))
    assert max(scores[:300]) < 0.1
    assert scores[300] >= DEFAULT_THRESHOLD


def test_wrong_number_of_values_or_non_finite_is_rejected() -> None:
    detector = StreamingDetector(2)
    with pytest.raises(ValueError, match="expected 2 values"):
        detector.score(0, [1.0])
    with pytest.raises(ValueError, match="finite"):
        detector.score(0, [1.0, float("nan")])


def test_severity_bands() -> None:
    assert [severity(s) for s in (0.0, 0.39, 0.4, 0.59, 0.6, 0.79, 0.8, 1.0)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]
    assert is_anomalous(0.5, 0.5) and not is_anomalous(0.49, 0.5)


def test_model_for_other_features_is_refused() -> None:
    model, _, _ = trained_model()
    with pytest.raises(ValueError, match="features"):
        StreamingDetector(2, model=model)


def test_a_daily_spike_alerts_once_not_every_day() -> None:
    # Flat noise with the same spike at 02:00 each day: the first spike is news, later ones are not.
    rng = np.random.default_rng(3)
    rows_per_day = 288
    days = 5
    values = 10 + rng.normal(0, 0.5, size=rows_per_day * days)
    spikes = [day * rows_per_day + 24 for day in range(1, days)]
    for index in spikes:
        values[index] = 60.0
    stamps = [i * 5 * MINUTE_MS for i in range(len(values))]
    scores = score_series(stamps, [[v] for v in values], replace(DetectorConfig(), learned_weight=0.0))
    assert scores[spikes[0]] >= DEFAULT_THRESHOLD
    assert all(scores[i] < DEFAULT_THRESHOLD for i in spikes[1:])
    # Without the seasonal discount every spike would be flagged.
    plain = score_series(stamps, [[v] for v in values], replace(DetectorConfig(), learned_weight=0.0, seasonal_days=0))
    assert sum(plain[i] >= DEFAULT_THRESHOLD for i in spikes) > 1


def test_new_settings_are_validated() -> None:
    for change in ({"seasonal_days": -1}, {"seasonal_tolerance_ms": -5}, {"seasonal_discount": -0.1}):
        with pytest.raises(ValueError, match=next(iter(change))):
            DetectorConfig(**change)  # type: ignore[arg-type]


def test_quantised_metric_at_its_usual_value_scores_zero() -> None:
    # A metric that sits on one value most of the time with rare steps: the usual value is no news.
    values = [0.066] * 900
    for i in range(50, 900, 97):
        values[i] = 0.134
    scores = score_series([i * 5000 for i in range(900)], [[v] for v in values], DetectorConfig(learned_weight=0.0))
    calm = [i for i in range(100, 900) if all(v == 0.066 for v in values[i - 20 : i + 1])]
    assert calm and max(scores[i] for i in calm) == 0.0


# ---------------------------------------------------------------------------------------------------------
# Issue 11: the score says how unusual the host is now.

SECOND_MS = 1000
HOST_START_MS = 1_700_000_000_000


def host_series(rows: int, seed: int) -> np.ndarray:
    """Eight host metrics at 1 s sampling: CPU about 8 %, seven others about 50, all noisy."""
    rng = np.random.default_rng(seed)
    cpu = np.clip(rng.normal(8, 3, rows), 0, 100)
    return np.column_stack([cpu] + [rng.normal(50, 5, rows) for _ in range(7)])


def score_rows(matrix: np.ndarray, config: DetectorConfig | None = None) -> np.ndarray:
    stamps = [HOST_START_MS + i * SECOND_MS for i in range(matrix.shape[0])]
    return np.array(score_series(stamps, matrix.tolist(), config))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_ten_minute_cpu_shift_keeps_scoring_while_it_lasts(seed: int) -> None:
    """(a) One hour calm, then a CPU burn for 10 minutes at 1 s: flagged from its first rows to its end, then quiet."""
    calm, burn, after = 3600, 600, 600
    matrix = host_series(calm + burn + after, seed)
    matrix[calm : calm + burn, 0] = np.clip(np.random.default_rng(seed + 10).normal(97, 2, burn), 0, 100)
    scores = score_rows(matrix)
    during = scores[calm : calm + burn]
    assert (during[:3] >= DEFAULT_THRESHOLD).all(), during[:3]
    assert (during >= DEFAULT_THRESHOLD).mean() >= 0.9, "the burn stopped scoring while it went on"
    assert (scores[calm + burn + 10 :] >= DEFAULT_THRESHOLD).sum() <= 2, "the return to normal is not news"


def test_a_held_level_becomes_the_new_normal_after_the_news_horizon() -> None:
    """A level held for longer than ``news_horizon_ms`` (30 minutes) stops scoring high."""
    calm, held = 3600, 3600
    matrix = host_series(calm + held, 3)
    matrix[calm:, 0] += 85  # a burn that never ends
    scores = score_rows(matrix, DetectorConfig(learned_weight=0))
    first_half_hour = scores[calm : calm + 1700]
    later = scores[calm + 2400 :]
    assert (first_half_hour >= DEFAULT_THRESHOLD).mean() >= 0.9
    assert (later >= DEFAULT_THRESHOLD).mean() <= 0.01


@pytest.mark.parametrize("metrics", [1, 8])
def test_ordinary_noise_gives_few_flags(metrics: int) -> None:
    """(b) I.i.d. Gaussian noise, 2,000 rows: at most 0.5 % of them flagged (over five seeds, each <= 10)."""
    total = 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        scores = score_rows(rng.normal(size=(2000, metrics)))
        flags = int((scores >= DEFAULT_THRESHOLD).sum())
        assert flags <= 10, f"seed {seed}: {flags} noise rows flagged"
        total += flags
    assert total <= 0.005 * 5 * 2000


def test_memory_and_disk_writes_jumping_together_score_higher_than_either_alone() -> None:
    """(c) Two metrics jumping together are more unusual than either alone (statistical part, no forest)."""
    config = DetectorConfig(learned_weight=0)

    def jump(columns: list[int], seed: int) -> float:
        rng = np.random.default_rng(seed)
        matrix = np.column_stack([rng.normal(10, 1, 3000) for _ in range(8)])
        for column in columns:
            matrix[2500:, column] += 3.5
        return float(score_rows(matrix, config)[2500])

    for seed in (0, 1, 2):
        memory, disk, both = jump([1], seed), jump([5], seed), jump([1, 5], seed)
        assert both > max(memory, disk), (seed, memory, disk, both)
    # Neither alone reaches the flag, together they do (the case of the issue: 0.43 against a flag at 0.45).
    memory, disk, both = jump([1], 2), jump([5], 2), jump([1, 5], 2)
    assert max(memory, disk) < DEFAULT_THRESHOLD <= both


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12), min_size=40, max_size=120
    ),
    st.lists(st.integers(min_value=-5_000, max_value=5_000), min_size=40, max_size=120),
)
def test_scores_finite_in_unit_interval_with_any_clock(values: list[float], steps: list[int]) -> None:
    """(e) Whatever the values and however the clock steps (back, repeated, forward), scores stay in [0, 1]."""
    rows = min(len(values), len(steps))
    stamps = list(np.cumsum(np.asarray(steps[:rows], dtype=np.int64) * 1000) + HOST_START_MS)
    scores = score_series(stamps, [[v, -v] for v in values[:rows]], replace(SMALL, learned_weight=0))
    assert len(scores) == rows
    assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)


def test_block_scoring_equals_one_row_at_a_time() -> None:
    """score_series scores in blocks; every score is bit-identical to the one StreamingDetector.score gives."""
    stamps, rows = noisy_series(1500, features=3, seed=4)
    rows[900] = [v + 30 for v in rows[900]]
    stamps[700:720] = stamps[690:710]  # a clock that steps back and repeats
    config = replace(SMALL, auto_train=True)
    detector = StreamingDetector(3, config)
    one_by_one = [detector.score(t, r).value for t, r in zip(stamps, rows, strict=True)]
    assert score_series(stamps, rows, SMALL) == one_by_one


def test_score_series_reports_progress() -> None:
    stamps, rows = noisy_series(2500, features=1)
    seen: list[int] = []
    score_series(stamps, rows, SMALL, progress=seen.append)
    assert sum(seen) == 2500 and len(seen) == 3


def _daily_cycle(days: int, seed: int) -> tuple[list[int], list[list[float]]]:
    """A clean daily cycle at 5-minute rows (amplitude 30, noise 1), one metric."""
    rng = np.random.default_rng(seed)
    n = days * 288
    stamps = [1_400_000_000_000 + i * 300_000 for i in range(n)]
    values = 50 + 30 * np.sin(2 * np.pi * np.arange(n) / 288) + rng.normal(0, 1, n)
    return stamps, [[float(v)] for v in values]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_daily_cycle_that_goes_flat_is_flagged_though_every_value_is_in_range(seed: int) -> None:
    stamps, rows = _daily_cycle(10, seed)
    at = 8 * 288 + 40  # on the rising slope of day 9: the flat level is well inside the usual range
    for i in range(at, at + 150):
        rows[i] = [rows[at][0] + float(np.random.default_rng(seed + i).normal(0, 1))]
    scores = score_series(stamps, rows)
    assert max(scores[at : at + 150]) >= DEFAULT_THRESHOLD, "a flat day is a change of pattern"
    assert max(scores[3 * 288 : at]) < DEFAULT_THRESHOLD, "the cycle itself is not news once seen"
    off = score_series(stamps, rows, replace(DetectorConfig(), daily_difference=False))
    assert max(off[at : at + 150]) < max(scores[at : at + 150])


def test_a_series_without_a_daily_cycle_scores_as_without_the_day_on_day_test() -> None:
    rng = np.random.default_rng(5)
    n = 4 * 288
    stamps = [1_400_000_000_000 + i * 300_000 for i in range(n)]
    rows = [[float(v)] for v in 20 + rng.normal(0, 2, n)]
    on = score_series(stamps, rows)
    off = score_series(stamps, rows, replace(DetectorConfig(), daily_difference=False))
    # Yesterday does not predict today on noise, so the day-on-day test is not used: no extra flags.
    assert sum(s >= DEFAULT_THRESHOLD for s in on) <= sum(s >= DEFAULT_THRESHOLD for s in off)


def test_block_scoring_equals_one_row_at_a_time_with_the_day_on_day_test() -> None:
    stamps, rows = _daily_cycle(3, 7)
    for i in range(2 * 288 + 10, 2 * 288 + 60):
        rows[i] = [rows[2 * 288 + 10][0]]
    config = replace(DetectorConfig(), auto_train=True, learned_after_rows=300, retrain_every_rows=300)
    detector = StreamingDetector(1, config)
    one_by_one = [detector.score(t, r).value for t, r in zip(stamps, rows, strict=True)]
    assert detector._daily_tails.ready and detector._daily_useful.all()
    assert score_series(stamps, rows, config) == one_by_one


def test_a_burst_on_one_metric_does_not_make_a_burn_on_another_old_news() -> None:
    rng = np.random.default_rng(11)
    n = 1200
    stamps = [1_700_000_000_000 + i * 1000 for i in range(n)]
    cpu = 30 + rng.normal(0, 1.5, n)
    net = np.abs(rng.normal(0, 1e3, n))
    net[1000:1005] = 5e7  # a network burst...
    cpu[1100:] = 40.0  # ...then, 100 samples later, a CPU rise (7 sigma)
    rows = [[float(c), float(x)] for c, x in zip(cpu, net, strict=True)]
    scores = score_series(stamps, rows, replace(DetectorConfig(), learned_weight=0.0))
    assert max(scores[1000:1005]) >= DEFAULT_THRESHOLD
    assert max(scores[1100:1103]) >= DEFAULT_THRESHOLD, "the burn is news within 3 samples"
