"""Tail probabilities against a reference of past values: empirical counts, extrapolated beyond the outer
share with a generalised-Pareto (peaks-over-threshold) tail; and the learned model's score calibration."""

from __future__ import annotations

import math

import numpy as np

from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.features import FloatArray

__all__ = ["Calibrator", "Tails"]

_LN10 = math.log(10.0)
# Share of the history, at each end, whose values are kept sorted for exact tail counts.
_BAND_SHARE = 0.05


def _neg_log10_upper_tail(z: float) -> float:
    """``-log10 P(N(0,1) > z)``, accurate far into the tail (where ``erfc`` underflows to 0)."""
    if z < 30.0:
        tail = 0.5 * math.erfc(z / math.sqrt(2.0))
        return -math.log10(tail)
    # Mills-ratio asymptote: P(Z > z) ~ phi(z) / z.
    return (z * z / 2.0 + math.log(z * math.sqrt(2.0 * math.pi))) / math.log(10.0)


class Calibrator:
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


def resolution_of(levels: FloatArray) -> FloatArray:
    """Each column's resolution: the smallest gap between two of its distinct values (0 with fewer than two).

    Values recorded to a fixed step (memory and disk usage to 0.1 %, counts to 1) have that step as their
    smallest gap; continuous values have a negligible one."""
    if levels.shape[0] < 2:
        return np.zeros(levels.shape[1])
    gaps = np.diff(np.sort(levels, axis=0), axis=0)
    gaps[~(gaps > 0.0)] = np.inf
    smallest = gaps.min(axis=0)
    return np.asarray(np.where(np.isfinite(smallest), smallest, 0.0), dtype=np.float64)


class Tails:
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

    def refresh(
        self,
        past: FloatArray,
        magnitude: FloatArray | None = None,
        metrics: int = 0,
        resolution: FloatArray | None = None,
    ) -> FloatArray:
        """Summarise these past feature rows and return the typical magnitude of each metric.

        ``magnitude`` (one per column) sets the smallest tail scale; without it, it is the typical
        magnitude of each of the first ``metrics`` columns (median |level|, else its mean distance from
        the median), repeated for every further group of ``metrics`` columns. ``resolution`` (one per
        column) raises that smallest scale to the data's own resolution: a change of one step of a value
        recorded to 0.1 is not evidence of anything.
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
        if resolution is not None:
            floor = np.maximum(floor, resolution)
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
