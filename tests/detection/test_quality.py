"""Tests of a version's quality: verdicts counted in samples and episodes and stored on the version."""

from __future__ import annotations

import sqlite3

import pytest

from scops_tui.detection.quality import evaluate
from tests.detection.helpers import START, seed_history, statistical


def test_quality_from_verdicts_is_stored_on_the_version(conn: sqlite3.Connection) -> None:
    version = statistical(conn)
    seed_history(conn, 6)
    ids = [row[0] for row in conn.execute("SELECT id FROM metrics ORDER BY id")]
    # 2 true positives, 1 false positive, 1 missed anomaly, 1 flagged without a verdict yet.
    cases = [(1, 1), (1, 1), (1, 0), (0, 1), (1, None)]
    for metrics_id, (predicted, actual) in zip(ids, cases, strict=False):
        conn.execute(
            "INSERT INTO model_predictions (model_version_id, metrics_id, predicted_anomaly, confidence_score, "
            "prediction_time_ms, actual_anomaly, feedback_provided_at) VALUES (?, ?, ?, 0.9, 0.1, ?, ?)",
            (version.id, metrics_id, predicted, actual, None if actual is None else START),
        )
    result = evaluate(conn, version.id)
    quality, evaluated = result.samples, result.version
    assert (quality.true_positives, quality.false_positives, quality.false_negatives) == (2, 1, 1)
    assert quality.precision == pytest.approx(2 / 3)
    assert quality.recall == pytest.approx(2 / 3)
    # No episode carries a verdict; the one missed sample is one missed span.
    assert (result.episodes.true_positives, result.episodes.false_positives, result.episodes.false_negatives) == (
        0,
        0,
        1,
    )
    assert (evaluated.precision, evaluated.recall, evaluated.f1) == (None, 0.0, None)
    assert evaluated.accuracy is None  # no labelled normal sample: accuracy would mean nothing
