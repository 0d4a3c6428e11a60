"""Score scops-tui's detector on the NAB files in shared/data/nab, the way NAB v1.1 scores detectors.

Usage::

    .venv/bin/python bench/nab.py [--data-dir DIR] [--out REPORT.md]
    .venv/bin/python bench/nab.py --synthetic [--seeds 8]

With ``--synthetic`` the corpus is generated instead (:func:`synthetic_corpus`): series of the kinds NAB's
held-out categories contain (level shifts, variance changes, changes of a daily pattern, noisy counts with
bursts, flat-then-jump, and noise without anomalies), with our own labels, scored the same way. Every
report ends with the leave-one-category-out check: the threshold optimised on the other categories,
applied to each category (normalised on its own), beside that category's own best.

The scorer follows NAB's own code (``nab/sweeper.py``, ``nab/optimizer.py``, ``nab/runner.py``):

* Probation: the first ``min(floor(0.15 * rows), 0.15 * 5000)`` rows of each file are not scored.
* Windows are inclusive ``[start, end]`` timestamp ranges; NAB locates them with ``list.index`` on the
  timestamps, i.e. at the *first* row carrying each limit timestamp, and leaves a window at the first
  row whose timestamp equals its end (a duplicate of the end timestamp falls outside).
* A row inside a window weighs ``tp * S(-(right - i + 1) / width) / S(-1)``, with ``S(x) = 2 / (1 +
  e^{5x}) - 1``; only the best (earliest) detection per window counts, and a window without one costs
  ``fn``. A row outside every window weighs ``fp * S(|i - prev_right| / (prev_width - 1))``, or ``-fp``
  before the first window (``S`` is -1 beyond 3 window widths).
* One threshold for the whole corpus per profile: every distinct score is tried and the best corpus
  total is kept (NAB's sweep); detections are rows with ``score >= threshold``.
* Normalised score ``100 * (raw - null) / (perfect - null)``, where ``null`` is the optimised score of a
  detector that outputs a constant and ``perfect = windows * tp``.

In the same run it scores a rolling z-score baseline, so the figures can be compared on equal terms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scops_tui.detection.detector import score_series
from scops_tui.transfer.series_csv import parse_timestamp_ms, read_series

DEFAULT_DATA_DIR = "/work/shared/data/nab"
PROBATION_PERCENT = 0.15


@dataclass(frozen=True)
class Profile:
    """One of NAB's application profiles: the weights of a true positive, false positive and false negative."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


PROFILES = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


@dataclass(frozen=True)
class ScoredRow:
    """One row after NAB's sweep: its anomaly score, its weighted score if detected, and its window.

    ``window`` is None outside windows and ``"probationary"`` in the probation period (never scored).
    """

    anomaly_score: float
    sweep_score: float
    window: str | None


@dataclass
class NabFile:
    """A corpus file: its name, timestamps, values and label windows (as row-timestamp limits)."""

    name: str
    timestamps_ms: list[int]
    rows: list[tuple[float, ...]]
    windows: list[tuple[int, int]]


def scaled_sigmoid(relative_position: float) -> float:
    """NAB's reward curve: about +0.987 at -1 (start of a window), 0 at its end, -1 beyond 3 widths."""
    if relative_position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * relative_position)) - 1.0


def probation_length(rows: int) -> float:
    """Rows of the probation period, exactly as NAB computes it (a float when the cap applies)."""
    return min(math.floor(PROBATION_PERCENT * rows), PROBATION_PERCENT * 5000)


def sweep_file(nab_file: NabFile, scores: Sequence[float], profile: Profile) -> list[ScoredRow]:
    """NAB's ``Sweeper.calcSweepScore``: the weighted score each row would earn if it were a detection."""
    timestamps = nab_file.timestamps_ms
    if len(timestamps) != len(scores):
        raise ValueError(f"{nab_file.name}: {len(scores)} scores for {len(timestamps)} rows")
    pending = list(nab_file.windows)
    max_tp = scaled_sigmoid(-1.0)
    probation = probation_length(len(timestamps))
    first_index: dict[int, int] = {}
    for index, stamp in enumerate(timestamps):
        first_index.setdefault(stamp, index)

    result: list[ScoredRow] = []
    window: tuple[int, int] | None = None
    window_name: str | None = None
    window_width = 0.0
    window_right = 0
    previous_width: float | None = None
    previous_right: int | None = None
    for i, (stamp, score) in enumerate(zip(timestamps, scores, strict=True)):
        if pending and stamp == pending[0][0]:
            window = pending.pop(0)
            window_name = f"{nab_file.name}|{window[0]}"
            window_right = first_index[window[1]]
            window_width = float(window_right - first_index[window[0]] + 1)
        if window is not None:
            position = -(window_right - i + 1) / window_width
            weighted = scaled_sigmoid(position) * profile.tp_weight / max_tp
        else:
            if previous_right is None or previous_width is None:
                unweighted = -1.0
            else:
                unweighted = scaled_sigmoid(abs(previous_right - i) / (previous_width - 1))
            weighted = unweighted * profile.fp_weight
        name = window_name if i >= probation else "probationary"
        result.append(ScoredRow(float(score), weighted, name))
        if window is not None and stamp == window[1]:
            previous_right = i
            previous_width = window_width
            window = None
            window_name = None
    return result


def best_threshold(rows: list[ScoredRow], profile: Profile) -> tuple[float, float]:
    """NAB's ``calcScoreByThreshold`` + optimizer: the threshold with the best total score, and that score.

    Thresholds are tried from 1.1 (no detection) down through every distinct score; ties keep the
    first (highest) threshold, as NAB's stable sort does.
    """
    scorable = sorted((r for r in rows if r.window != "probationary"), key=lambda r: r.anomaly_score, reverse=True)
    parts: dict[str, float] = {}
    for row in scorable:
        if row.window is not None:
            parts[row.window] = -profile.fn_weight
    fp_total = 0.0
    window_total = sum(parts.values())
    candidates: list[tuple[float, float]] = []
    threshold = 1.1
    for row in scorable:
        if row.anomaly_score != threshold:
            candidates.append((threshold, fp_total + window_total))
            threshold = row.anomaly_score
        if row.window is None:
            fp_total += row.sweep_score
        elif row.sweep_score > parts[row.window]:
            window_total += row.sweep_score - parts[row.window]
            parts[row.window] = row.sweep_score
    candidates.append((threshold, fp_total + window_total))
    best = max(candidates, key=lambda c: c[1])  # max() keeps the first of equal scores, like NAB's sort
    return best


@dataclass
class FileResult:
    """A file's NAB score at the corpus threshold of one profile, with its detection counts."""

    score: float = 0.0
    windows: int = 0
    detected_windows: int = 0
    false_positives: int = 0


def score_at_threshold(rows: list[ScoredRow], threshold: float, profile: Profile) -> FileResult:
    """A file's NAB score when rows with ``anomaly_score >= threshold`` are detections (``Sweeper.scoreDataSet``)."""
    parts: dict[str, float] = {}
    result = FileResult()
    fp_total = 0.0
    for row in rows:
        if row.window == "probationary":
            continue
        if row.window is not None:
            parts.setdefault(row.window, -profile.fn_weight)
        if row.anomaly_score >= threshold:
            if row.window is None:
                fp_total += row.sweep_score
                result.false_positives += 1
            else:
                parts[row.window] = max(parts[row.window], row.sweep_score)
    result.windows = len(parts)
    result.detected_windows = sum(1 for v in parts.values() if v != -profile.fn_weight)
    result.score = fp_total + sum(parts.values())
    return result


@dataclass
class DetectorResult:
    """One detector over the corpus: per-profile threshold, raw and normalised score, per-file results."""

    name: str
    detect_seconds: float
    thresholds: dict[str, float] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)
    normalised: dict[str, float] = field(default_factory=dict)
    files: dict[str, dict[str, FileResult]] = field(default_factory=dict)


def load_corpus(data_dir: str) -> list[NabFile]:
    """Read every labelled file of the corpus (sorted by name) with scops-tui's own CSV reader."""
    with open(os.path.join(data_dir, "labels", "combined_windows.json"), encoding="utf-8") as handle:
        windows = json.load(handle)
    corpus = []
    for name in sorted(windows):
        series = read_series(os.path.join(data_dir, "data", name))
        limits = [(parse_timestamp_ms(start), parse_timestamp_ms(end)) for start, end in windows[name]]
        corpus.append(NabFile(name, series.timestamps_ms, series.rows, limits))
    return corpus


def evaluate(name: str, corpus: list[NabFile], scores: dict[str, list[float]], seconds: float) -> DetectorResult:
    """Optimise one threshold per profile over the corpus and normalise against the null detector."""
    result = DetectorResult(name, seconds)
    total_windows = sum(len(f.windows) for f in corpus)
    for profile in PROFILES:
        swept = {f.name: sweep_file(f, scores[f.name], profile) for f in corpus}
        threshold, raw = best_threshold([row for rows in swept.values() for row in rows], profile)
        null_rows = [r for f in corpus for r in sweep_file(f, [0.5] * len(f.timestamps_ms), profile)]
        _, null_score = best_threshold(null_rows, profile)
        perfect = total_windows * profile.tp_weight
        result.thresholds[profile.name] = threshold
        result.raw[profile.name] = raw
        result.normalised[profile.name] = 100.0 * (raw - null_score) / (perfect - null_score)
        for f in corpus:
            result.files.setdefault(f.name, {})[profile.name] = score_at_threshold(swept[f.name], threshold, profile)
    return result


def category_of(name: str) -> str:
    """A file's category: the folder part of its corpus name."""
    return name.split("/", 1)[0]


def leave_one_category_out(corpus: list[NabFile], scores: dict[str, list[float]]) -> list[tuple[str, float, float]]:
    """For each category: its standard score at the threshold optimised on the others, and its own best."""
    profile = PROFILES[0]
    categories = sorted({category_of(f.name) for f in corpus})
    swept = {f.name: sweep_file(f, scores[f.name], profile) for f in corpus}
    result = []
    for category in categories:
        inside = [f for f in corpus if category_of(f.name) == category]
        others = [f for f in corpus if category_of(f.name) != category]
        if not others:
            continue
        threshold, _ = best_threshold([r for f in others for r in swept[f.name]], profile)
        _, own_raw = best_threshold([r for f in inside for r in swept[f.name]], profile)
        null_rows = [r for f in inside for r in sweep_file(f, [0.5] * len(f.timestamps_ms), profile)]
        _, null_score = best_threshold(null_rows, profile)
        perfect = sum(len(f.windows) for f in inside) * profile.tp_weight
        if perfect == null_score:
            continue  # a category without windows cannot be normalised on its own
        raw = sum(score_at_threshold(swept[f.name], threshold, profile).score for f in inside)
        result.append(
            (
                category,
                100.0 * (raw - null_score) / (perfect - null_score),
                100.0 * (own_raw - null_score) / (perfect - null_score),
            )
        )
    return result


SYNTHETIC_KINDS = ("level_shift", "variance_change", "pattern_change", "noisy_counts", "flat_then_jump", "no_anomaly")
SYNTHETIC_ROWS = 4032  # 14 days at 5 minutes, like most NAB files
SYNTHETIC_STEP_MS = 300_000


def synthetic_series(kind: str, seed: int) -> NabFile:
    """One labelled synthetic series (5-minute rows); windows are 10% of the rows around each onset, like NAB's."""
    rng = np.random.default_rng(seed)
    n = SYNTHETIC_ROWS
    daily = np.sin(2 * np.pi * np.arange(n) / 288)
    onsets: list[int] = []

    def onset() -> int:
        return int(rng.integers(int(0.35 * n), int(0.85 * n)))

    if kind == "level_shift":  # a noisy (sometimes daily) level that steps up or down and stays
        x = 50 + 10 * daily * rng.uniform(0, 1) + rng.normal(0, rng.uniform(1, 4), n)
        at = onset()
        x[at:] += rng.choice([-1, 1]) * rng.uniform(15, 40)
        onsets = [at]
    elif kind == "variance_change":  # the noise gets 3-6 times wider for a while
        spread = rng.uniform(0.5, 2)
        x = 20 + rng.normal(0, spread, n) + 3 * daily
        at = onset()
        length = min(int(rng.integers(50, 400)), n - at)
        x[at : at + length] += rng.normal(0, spread * rng.uniform(3, 6), length)
        onsets = [at]
    elif kind == "pattern_change":  # a clean daily cycle goes flat, speeds up or swings wider for a while
        amplitude = rng.uniform(20, 40)
        x = 50 + amplitude * daily
        at = onset()
        length = min(int(rng.integers(100, 300)), n - at)
        segment = slice(at, at + length)
        if seed % 3 == 0:
            x[segment] = x[at]
        elif seed % 3 == 1:
            x[segment] = 50 + amplitude * np.sin(2 * np.pi * np.arange(at, at + length) / 96)
        else:
            x[segment] = 50 + 2.5 * amplitude * daily[segment]
        x += rng.normal(0, amplitude * rng.uniform(0.0, 0.08), n)
        onsets = [at]
    elif kind == "noisy_counts":  # overdispersed daily counts with ordinary short bursts; 1-2 big labelled bursts
        rate = 30 * (1.5 + daily) * rng.uniform(0.5, 2)
        x = rng.negative_binomial(3, 3 / (3 + rate)).astype(float)
        for burst in rng.choice(n, size=n // 100, replace=False):
            x[burst : burst + 2] *= rng.uniform(1.5, 3)
        onsets = sorted(
            int(v) for v in rng.choice(np.arange(int(0.2 * n), int(0.95 * n)), size=1 + seed % 2, replace=False)
        )
        for at in onsets:
            length = min(int(rng.integers(6, 36)), n - at)
            x[at : at + length] += rate[at] * rng.uniform(6, 12) * np.exp(-np.arange(length) / (length / 2))
    elif kind == "flat_then_jump":  # a flat (or nearly flat) metric that jumps, briefly or for good
        level = rng.uniform(0, 100)
        x = np.full(n, level) + rng.normal(0, 0.01 * level + 1e-3, n) * (seed % 2)
        at = onset()
        stop = n if seed % 3 == 0 else at + int(rng.integers(5, 60))
        x[at:stop] = level * rng.uniform(1.5, 3) + 1
        onsets = [at]
    elif kind == "no_anomaly":  # heavy-tailed noise on a daily cycle, nothing labelled
        x = 40 + 10 * daily + rng.standard_t(4, n) * 2
    else:
        raise ValueError(f"unknown synthetic kind {kind!r}")
    start_ms = 1_400_000_000_000
    stamps = [start_ms + i * SYNTHETIC_STEP_MS for i in range(n)]
    width = max(int(0.1 * n / max(len(onsets), 1)), 2)
    windows = [(stamps[max(a - width // 2, 0)], stamps[min(a + width // 2, n - 1)]) for a in onsets]
    return NabFile(f"{kind}/{seed}", stamps, [(float(v),) for v in x], windows)


def synthetic_corpus(seeds: int) -> list[NabFile]:
    """``seeds`` series of every synthetic kind."""
    return [synthetic_series(kind, seed) for kind in SYNTHETIC_KINDS for seed in range(seeds)]


def rolling_zscore(values: Sequence[float], window: int = 100) -> list[float]:
    """Baseline: |x - mean| / std over the previous ``window`` rows, mapped to [0, 1) by z / (z + 1).

    The mapping is monotone and shared by all files, so it changes nothing in NAB's corpus-wide sweep.
    """
    x = np.asarray(values, dtype=float)
    scores = np.zeros(len(x))
    for i in range(2, len(x)):
        past = x[max(0, i - window) : i]
        spread = past.std()
        deviation = abs(x[i] - past.mean())
        z = deviation / spread if spread > 0 else (0.0 if deviation == 0 else 1e6)
        scores[i] = z / (z + 1.0)
    return scores.tolist()


def run_detector(
    corpus: list[NabFile], detect: Callable[[NabFile], list[float]]
) -> tuple[dict[str, list[float]], float, dict[str, float]]:
    """Score every file; return the scores, total wall time and per-file seconds."""
    scores: dict[str, list[float]] = {}
    per_file: dict[str, float] = {}
    start = time.perf_counter()
    for f in corpus:
        t0 = time.perf_counter()
        scores[f.name] = detect(f)
        per_file[f.name] = time.perf_counter() - t0
    return scores, time.perf_counter() - start, per_file


def render_report(
    results: list[DetectorResult],
    per_file_seconds: dict[str, float],
    corpus: list[NabFile],
    loco: dict[str, list[tuple[str, float, float]]],
    title: str,
) -> str:
    """The Markdown report: the normalised scores per profile, the standard profile per file, then the check."""
    lines = [f"# {title}", ""]
    lines.append("| detector | " + " | ".join(p.name for p in PROFILES) + " | detect time (s) |")
    lines.append("|---|" + "---|" * len(PROFILES) + "---|")
    for r in results:
        cells = " | ".join(f"{r.normalised[p.name]:.2f}" for p in PROFILES)
        lines.append(f"| {r.name} | {cells} | {r.detect_seconds:.1f} |")
    lines.append("")
    lines.append("Thresholds (one per profile, optimised over the corpus):")
    lines.append("")
    for r in results:
        cells = ", ".join(f"{p.name} {r.thresholds[p.name]:.6f}" for p in PROFILES)
        lines.append(f"- {r.name}: {cells}")
    lines.append("")
    for profile in PROFILES:
        lines.append(f"## Per file, profile {profile.name} (raw score; detected windows / windows; false positives)")
        lines.append("")
        lines.append("| file | rows | " + " | ".join(r.name for r in results) + " |")
        lines.append("|---|---|" + "---|" * len(results))
        for f in corpus:
            file_cells: list[str] = []
            for r in results:
                fr = r.files[f.name][profile.name]
                file_cells.append(f"{fr.score:+.3f} ({fr.detected_windows}/{fr.windows}; {fr.false_positives} FP)")
            lines.append(f"| {f.name} | {len(f.rows)} | " + " | ".join(file_cells) + " |")
        lines.append("")
    lines.append(
        "Detect seconds per file (ours): "
        + ", ".join(f"{os.path.basename(n)} {s:.2f}" for n, s in per_file_seconds.items())
    )
    lines.append("")
    lines.append("## Leave one category out (standard profile; threshold optimised on the other categories)")
    lines.append("")
    lines.append("| detector | category | at the others' threshold | own best |")
    lines.append("|---|---|---|---|")
    for name, rows in loco.items():
        for category, transferred, own in rows:
            lines.append(f"| {name} | {category} | {transferred:.2f} | {own:.2f} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both detectors over the corpus, print a summary to stderr and the report to stdout or ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="NAB directory with data/ and labels/")
    parser.add_argument("--out", help="write the Markdown report here instead of stdout")
    parser.add_argument("--zscore-window", type=int, default=100, help="rows in the baseline's rolling window")
    parser.add_argument("--synthetic", action="store_true", help="score the generated corpus instead of NAB's files")
    parser.add_argument("--seeds", type=int, default=8, help="series of each kind in the synthetic corpus")
    args = parser.parse_args(argv)

    if args.synthetic:
        corpus = synthetic_corpus(args.seeds)
        title = f"Synthetic corpus ({len(corpus)} series: {', '.join(SYNTHETIC_KINDS)})"
    else:
        corpus = load_corpus(args.data_dir)
        title = f"NAB results ({len(corpus)} files: realAWSCloudwatch + realKnownCause)"
    ours, ours_seconds, per_file = run_detector(corpus, lambda f: score_series(f.timestamps_ms, f.rows))
    baseline, baseline_seconds, _ = run_detector(
        corpus, lambda f: rolling_zscore([row[0] for row in f.rows], args.zscore_window)
    )
    results = [
        evaluate("scops-tui", corpus, ours, ours_seconds),
        evaluate(f"rolling z-score ({args.zscore_window})", corpus, baseline, baseline_seconds),
    ]
    for r in results:
        summary = ", ".join(f"{p.name} {r.normalised[p.name]:.2f}" for p in PROFILES)
        print(f"{r.name}: {summary}; detect {r.detect_seconds:.1f} s", file=sys.stderr)
    loco = {
        "scops-tui": leave_one_category_out(corpus, ours),
        f"rolling z-score ({args.zscore_window})": leave_one_category_out(corpus, baseline),
    }
    for category, transferred, own in loco["scops-tui"]:
        print(
            f"scops-tui, {category} at the others' threshold: {transferred:.2f} (own best {own:.2f})", file=sys.stderr
        )
    report = render_report(results, per_file, corpus, loco, title)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(report)
    else:
        sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
