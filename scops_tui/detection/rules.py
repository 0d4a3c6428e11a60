"""Score samples by the thresholds of an imported legacy rule-based version, exactly as the legacy
engines did, and record those scores against the imported ground-truth labels.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from scops_tui.detection.registry import ModelVersion, get_version
from scops_tui.errors import ScopsError
from scops_tui.store.database import transaction
from scops_tui.store.timestamps import now_ms

__all__ = [
    "ANY_THRESHOLD",
    "THRESHOLD_METRICS",
    "WEIGHTED",
    "RuleScore",
    "evaluate_rules",
    "labels_model_name",
    "score_with_thresholds",
]

THRESHOLD_METRICS = ("cpu_usage", "memory_usage", "load_1m", "disk_usage")
"""The metrics a legacy rule-based version has thresholds for, in the order it checks them."""
ANY_THRESHOLD = "legacy_any_threshold"
"""RealDataInferenceEngine: anomalous when any threshold is exceeded; confidence .3 cpu/mem, .2 load/disk."""
WEIGHTED = "legacy_weighted"
"""SecureMLInferenceEngine: two thresholds exceeded, or one with cpu/mem above 1.5x; weighted confidence."""
_RULE_WEIGHTS = {
    ANY_THRESHOLD: {"cpu_usage": 0.3, "memory_usage": 0.3, "load_1m": 0.2, "disk_usage": 0.2},
    WEIGHTED: {"cpu_usage": 0.35, "memory_usage": 0.35, "load_1m": 0.20, "disk_usage": 0.10},
}


def labels_model_name(source: str) -> str:
    """The model whose version 1 holds the imported ground-truth labels of `source`."""
    return f"labels@{source}"[:100]


@dataclass(frozen=True)
class RuleScore:
    """What a legacy rule-based version says about one sample."""

    anomaly: bool
    confidence: float
    """0..1, computed as the legacy engine did."""
    exceeded: tuple[str, ...]
    """Metrics above their threshold, in the order cpu, memory, load, disk."""


def score_with_thresholds(version: ModelVersion, metrics: Mapping[str, float]) -> RuleScore:
    """Score one sample (plain units, keys as metrics columns) with an imported rule-based version.

    `legacy_any_threshold` (rule_based_real_data): anomalous when any metric exceeds its threshold;
    confidence adds .3 for cpu and memory and .2 for load and disk, capped at 1.
    `legacy_weighted` (enhanced_rule_based_v2): values clamped to 0..100; anomalous when two thresholds are
    exceeded, or one while cpu or memory is above 1.5x its threshold; confidence = sum of weight x
    min(2, 1 + excess ratio) over exceeded metrics (weights .35/.35/.20/.10), times (0.7 F1 + 0.3 precision)
    when the version has those figures, capped at 1.
    """
    rules = version.config.get("rules")
    if version.config.get("kind") != "rule_based" or rules not in _RULE_WEIGHTS:
        raise ScopsError(
            f"model version {version.id} is not an imported rule-based version; it cannot score by thresholds"
        )
    weights = _RULE_WEIGHTS[rules]
    exceeded: list[str] = []
    confidence = 0.0
    strong = False
    for metric, weight in weights.items():
        threshold = float(version.thresholds[metric])
        value = float(metrics.get(metric, 0.0))
        if rules == WEIGHTED:
            value = min(max(value, 0.0), 100.0)
        if value <= threshold:
            continue
        exceeded.append(metric)
        if rules == ANY_THRESHOLD:
            confidence += weight
        else:
            ratio = (value - threshold) / threshold if threshold > 0 else 1.0
            confidence += weight * min(2.0, 1.0 + ratio)
            if metric in ("cpu_usage", "memory_usage") and value > 1.5 * threshold:
                strong = True
    if rules == ANY_THRESHOLD:
        anomaly = bool(exceeded)
    else:
        anomaly = len(exceeded) >= 2 or (len(exceeded) == 1 and strong)
        if version.f1 is not None and version.precision is not None:
            confidence *= 0.7 * version.f1 + 0.3 * version.precision
    return RuleScore(anomaly=anomaly, confidence=min(1.0, confidence), exceeded=tuple(exceeded))


def evaluate_rules(conn: sqlite3.Connection, version_id: int, source: str, created_by: bytes) -> int:
    """Score `source`'s labelled samples with a rule-based version and record its predictions.

    Each prediction carries the imported label as `actual_anomaly`, so `quality.evaluate(version_id)`
    (`scops-tui model evaluate`) measures the version against the ground truth. Samples already
    predicted by this version are skipped. Returns the number of predictions written.
    """
    version = get_version(conn, version_id)
    labels = conn.execute(
        "SELECT v.id FROM ml_model_versions AS v JOIN ml_models AS m ON m.id = v.model_id "
        "WHERE m.model_name = ? AND v.version = '1'",
        (labels_model_name(source),),
    ).fetchone()
    if labels is None:
        raise ScopsError(f"no imported labels for source {source!r} (import its metrics with labels first)")
    columns = ", ".join(f"m.{metric}" for metric in THRESHOLD_METRICS)
    rows = conn.execute(
        f"SELECT m.id, p.actual_anomaly, {columns} FROM model_predictions AS p "  # noqa: S608
        "JOIN metrics AS m ON m.id = p.metrics_id WHERE p.model_version_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM model_predictions AS q WHERE q.metrics_id = m.id AND q.model_version_id = ?) ORDER BY m.id",
        (labels[0], version_id),
    ).fetchall()
    scales = (100, 100, 10_000, 100)
    now = now_ms()
    written = []
    for metrics_id, actual, *scaled in rows:
        sample = {metric: value / scale for metric, value, scale in zip(THRESHOLD_METRICS, scaled, scales, strict=True)}
        score = score_with_thresholds(version, sample)
        written.append(
            (
                version_id,
                metrics_id,
                int(score.anomaly),
                round(score.confidence, 6),
                json.dumps(sample),
                actual,
                now,
                created_by,
            )
        )
    with transaction(conn):
        conn.executemany(
            "INSERT INTO model_predictions (model_version_id, metrics_id, predicted_anomaly, confidence_score, "
            "prediction_time_ms, model_features, actual_anomaly, feedback_provided_at, feedback_provided_by) "
            "VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
            written,
        )
    return len(written)
