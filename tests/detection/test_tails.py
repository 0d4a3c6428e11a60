"""Tail probabilities: the data's resolution is the least a tail is stretched by."""

from __future__ import annotations

import numpy as np

from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.tails import Tails, resolution_of


def test_the_resolution_is_the_smallest_step_between_distinct_values() -> None:
    levels = np.array([[24.2, 3.0, 0.0], [24.3, 3.25, 0.0], [24.2, 3.0, 0.0], [24.5, 3.5, 0.0]])
    assert np.allclose(resolution_of(levels), [0.1, 0.25, 0.0])
    assert np.allclose(resolution_of(levels[:1]), [0.0, 0.0, 0.0])


def flat_reference() -> np.ndarray:
    """Disk usage recorded to 0.1 %: 24.2 nearly always, 24.3 now and then."""
    return np.array([[24.3 if i % 50 == 0 else 24.2] for i in range(1000)])


def test_one_step_of_a_value_recorded_to_a_fixed_step_is_weak_evidence() -> None:
    past = flat_reference()
    fine, coarse = Tails(1, DetectorConfig()), Tails(1, DetectorConfig())
    fine.refresh(past, metrics=1)
    coarse.refresh(past, metrics=1, resolution=np.array([0.05]))
    one_step = np.array([[24.4]])
    # Without the resolution the tail scale is 0.1 % of the magnitude (0.024): one step is 4 scales out.
    assert coarse.decades(one_step)[0, 0] < fine.decades(one_step)[0, 0] - 0.2
    # A real move, twenty steps, is still far out in the tail.
    assert coarse.decades(np.array([[26.2]]))[0, 0] > coarse.decades(one_step)[0, 0] + 1.0
