"""Scoring by the thresholds of imported legacy rule-based versions, and their evaluation against labels."""

from __future__ import annotations

import sqlite3

import pytest

from scops_tui.detection import registry, rules
from scops_tui.detection.quality import evaluate
from scops_tui.errors import ScopsError
from scops_tui.transfer import metrics_import
from tests.conftest import data_file
from tests.transfer.helpers import import_legacy_models, legacy_records, system_user


def test_imported_rule_version_deploys_and_scores(conn: sqlite3.Connection) -> None:
    real = next(v for v in import_legacy_models(conn) if v.model_name == "real_data_anomaly_detector")
    deployed = registry.deploy(conn, real.id)
    assert (deployed.status, deployed.is_deployed) == ("deployed", True)
    quiet = rules.score_with_thresholds(deployed, {"cpu_usage": 5, "memory_usage": 10, "load_1m": 0, "disk_usage": 1})
    assert (quiet.anomaly, quiet.confidence) == (False, 0.0)
    busy = rules.score_with_thresholds(deployed, {"cpu_usage": 50, "memory_usage": 60, "load_1m": 1, "disk_usage": 1})
    assert busy.anomaly and busy.exceeded == ("cpu_usage", "memory_usage", "load_1m")
    assert busy.confidence == pytest.approx(0.8)


def test_weighted_rules_need_two_thresholds_or_a_strong_one(conn: sqlite3.Connection) -> None:
    production = next(v for v in import_legacy_models(conn) if v.model_name == "enhanced_rule_based_v2")
    one = rules.score_with_thresholds(production, {"cpu_usage": 80, "memory_usage": 10, "load_1m": 0, "disk_usage": 0})
    assert not one.anomaly and one.exceeded == ("cpu_usage",)
    two = rules.score_with_thresholds(production, {"cpu_usage": 80, "memory_usage": 90, "load_1m": 0, "disk_usage": 0})
    assert two.anomaly
    # 0.35 x (1 + 5/75) + 0.35 x (1 + 5/85), times 0.7 x F1 0.88 + 0.3 x precision 0.85
    expected = (0.35 * (1 + 5 / 75) + 0.35 * (1 + 5 / 85)) * (0.7 * 0.88 + 0.3 * 0.85)
    assert two.confidence == pytest.approx(expected)
    assert 0 <= two.confidence <= 1


def test_rule_scores_on_the_legacy_data_against_its_labels(conn: sqlite3.Connection) -> None:
    real = next(v for v in import_legacy_models(conn) if v.model_name == "real_data_anomaly_detector")
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for record in legacy_records():
        sample = {key: float(value) for key, value in record.items() if isinstance(value, int | float)}
        counts[(rules.score_with_thresholds(real, sample).anomaly, bool(record["is_anomaly"]))] += 1
    # The shipped data does not reproduce the legacy file's own figures (TP 10, FP 21): it gives these.
    assert counts == {(True, True): 3, (True, False): 6, (False, True): 7, (False, False): 129}
    metrics_import.import_metrics(conn, data_file("legacy", "real_training_data.json"), created_by=system_user(conn))
    assert rules.evaluate_rules(conn, real.id, "historical_data", system_user(conn)) == 145
    assert rules.evaluate_rules(conn, real.id, "historical_data", system_user(conn)) == 0
    quality = evaluate(conn, real.id).samples
    assert quality.labelled == 145
    assert quality.true_positives + quality.false_negatives == 10


def test_score_refuses_a_non_rule_version(conn: sqlite3.Connection) -> None:
    metrics_import.import_metrics(conn, data_file("legacy", "real_training_data.json"), created_by=system_user(conn))
    labels = registry.list_versions(conn)[0]
    with pytest.raises(ScopsError, match="cannot score"):
        rules.score_with_thresholds(labels, {})
