"""A series' per-metric shape features (level, difference, short mean, spread), the time of day, and the
ring buffers and running sums they are computed over."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from scops_tui.detection.config import DAY_MS

__all__ = [
    "FEATURES_PER_METRIC",
    "VALUE_LIMIT",
    "FloatArray",
    "IntArray",
    "Ring",
    "clip_values",
    "model_inputs",
    "running_sums",
    "shape_features",
    "time_of_day",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Shape features per metric: level, first difference, short mean, rolling standard deviation.
FEATURES_PER_METRIC = 4
#: Largest magnitude a value is scored at; larger finite values are clipped to it. The learned model
#: compares its inputs in float32 (as scikit-learn does) and a shape feature reaches twice a value (a first
#: difference from -v to +v), so this bound keeps every feature finite in float32 with room to spare, and
#: every float64 intermediate (squares, sums over the longest window) far from overflow. No real metric
#: comes near it (about 4.3e37), so ordinary series score exactly as before.
VALUE_LIMIT = float(np.finfo(np.float32).max) / 8


def clip_values(values: FloatArray) -> FloatArray:
    """Finite values limited to ``[-VALUE_LIMIT, VALUE_LIMIT]`` (a new array), so scoring stays finite."""
    return np.asarray(np.clip(values, -VALUE_LIMIT, VALUE_LIMIT), dtype=np.float64)


def time_of_day(timestamps_ms: IntArray | Sequence[int]) -> FloatArray:
    """Time of day (UTC) as a point on the unit circle, so 23:59 and 00:00 are neighbours; shape (N, 2)."""
    angle = (np.asarray(timestamps_ms, dtype=np.int64) % DAY_MS).astype(np.float64) * (2.0 * math.pi / DAY_MS)
    return np.stack([np.sin(angle), np.cos(angle)], axis=1)


def shape_features(rows: FloatArray, mean_window: int, spread_window: int) -> FloatArray:
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


class Ring:
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


def model_inputs(
    rows: FloatArray, timestamps_ms: IntArray, mean_window: int, spread_window: int, use_time_of_day: bool
) -> FloatArray:
    features = shape_features(rows, mean_window, spread_window)
    if use_time_of_day:
        features = np.concatenate([features, time_of_day(timestamps_ms)], axis=1)
    return features


def running_sums(previous: FloatArray, block: FloatArray, window: int) -> FloatArray:
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
