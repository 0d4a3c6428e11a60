"""Tests of the shape-feature helpers: clipping keeps every value finite."""

from __future__ import annotations

import numpy as np

from scops_tui.detection.features import VALUE_LIMIT, clip_values


def test_clipping_leaves_ordinary_values_alone() -> None:
    ordinary = np.array([0.0, -1e30, 1e30, 5e-324, 123.456])
    assert clip_values(ordinary).tolist() == ordinary.tolist()
    assert clip_values(np.array([1e308, -1e308])).tolist() == [VALUE_LIMIT, -VALUE_LIMIT]
