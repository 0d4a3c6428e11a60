"""`model evaluate` counts episodes (sample figures beside), never grades the imported labels against
themselves, and measures a deployed detector against imported labels."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from scops_tui.cli.main import main
from scops_tui.detection import registry
from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.quality import evaluate
from scops_tui.store import database as store
from tests.conftest import data_file


def invoke(db_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--db", str(db_path), *args])
    return result.exit_code, result.output


def import_legacy_metrics(db_path: Path) -> None:
    code, output = invoke(db_path, "import", "metrics", str(data_file("legacy", "real_training_data.json")))
    assert code == 0, output


def versions(db_path: Path) -> list[dict[str, object]]:
    code, output = invoke(db_path, "model", "list", "--json")
    assert code == 0, output
    return list(json.loads(output))


def test_the_imported_labels_are_not_graded_against_themselves(db_path: Path) -> None:
    import_legacy_metrics(db_path)
    (labels,) = [v for v in versions(db_path) if str(v["model_name"]).startswith("labels@")]
    code, output = invoke(db_path, "model", "evaluate", str(labels["id"]))
    assert code != 0
    assert "ground-truth labels" in output
    (after,) = [v for v in versions(db_path) if v["id"] == labels["id"]]
    assert (after["precision"], after["recall"], after["f1"]) == (None, None, None)


def test_a_deployed_rule_model_is_measured_against_the_imported_labels(db_path: Path) -> None:
    import_legacy_metrics(db_path)
    code, output = invoke(db_path, "import", "model", str(data_file("legacy", "real_data_model.json")))
    assert code == 0, output
    (rules,) = [v for v in versions(db_path) if v["kind"] == "rule_based"]
    assert invoke(db_path, "model", "deploy", str(rules["id"]))[0] == 0
    code, output = invoke(db_path, "model", "evaluate", str(rules["id"]))
    assert code == 0, output
    assert "labels of historical_data" in output
    assert "145 verdicts" in output  # sample-level, beside
    # The legacy labels hold 10 anomalous samples; counted as events they are fewer or as many.
    conn = store.open_database(db_path)
    result = evaluate(conn, int(str(rules["id"])))
    conn.close()
    events = result.episodes.true_positives + result.episodes.false_negatives
    assert 1 <= events <= 10
    assert result.samples.labelled == 145
    assert result.version.recall == result.episodes.recall != 1.0


def test_a_detector_version_of_the_labelled_source_scores_the_labelled_samples(db_path: Path) -> None:
    import_legacy_metrics(db_path)
    conn = store.open_database(db_path)
    system = store.user_id(conn, "system")
    with store.transaction(conn):
        version = registry.register_statistical(
            conn, "historical_data", DetectorConfig(), threshold=0.45, window=(0, 0), rows=1, created_by=system
        )
    conn.close()
    code, output = invoke(db_path, "model", "evaluate", "--source", "historical_data")
    assert code == 0, output
    assert "145 verdicts" in output
    conn = store.open_database(db_path)
    scored = conn.execute(
        "SELECT count(*) FROM model_predictions WHERE model_version_id = ? AND actual_anomaly IS NOT NULL",
        (version.id,),
    ).fetchone()[0]
    assert scored == 145
    # Evaluating again scores nothing twice.
    assert evaluate(conn, version.id, created_by=system).scored == 0
    conn.close()
