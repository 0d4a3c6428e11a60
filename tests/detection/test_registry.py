"""The model registry: version lifecycle, one deployed version per model, safe artifacts, quality."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from scops_tui.detection import registry
from scops_tui.detection.training import TrainingError, train_source
from tests.detection.helpers import START, seed_history, statistical, system


def test_first_version_is_the_deployed_statistical_detector(conn: sqlite3.Connection) -> None:
    version = statistical(conn)
    assert (version.version, version.kind, version.status, version.is_deployed) == (
        "1",
        "robust_statistical",
        "deployed",
        True,
    )
    assert registry.deployed_version(conn, "host") == version
    assert registry.load_learned_model(conn, version) is None
    assert conn.execute("SELECT model_type, source FROM ml_models").fetchall() == [("ensemble", "host")]


def test_training_makes_a_ready_version_and_deploying_deprecates_the_previous(conn: sqlite3.Connection) -> None:
    first = statistical(conn)
    seed_history(conn, 400)
    trained = train_source(conn, "host", deploy=False, created_by=system(conn), min_rows=300)
    assert (trained.version, trained.status, trained.is_deployed, trained.kind) == (
        "2",
        "ready",
        False,
        "isolation_forest",
    )
    assert trained.training_data_size == 400
    assert (trained.training_data_start, trained.training_data_end) == (START, START + 399 * 5000)
    assert registry.deployed_version(conn, "host") == registry.get_version(conn, first.id)
    registry.deploy(conn, trained.id)
    assert registry.get_version(conn, first.id).status == "deprecated"
    assert registry.deployed_version(conn, "host").id == trained.id  # type: ignore[union-attr]
    # Rolling back: the deprecated version can be deployed again, and the other steps down.
    registry.deploy(conn, first.id)
    assert registry.get_version(conn, trained.id).status == "deprecated"
    deployed = conn.execute("SELECT count(*) FROM ml_model_versions WHERE is_deployed = 1").fetchone()[0]
    assert deployed == 1


def test_training_needs_enough_history(conn: sqlite3.Connection) -> None:
    seed_history(conn, 10)
    with pytest.raises(TrainingError, match="10 samples"):
        train_source(conn, "host", deploy=True, created_by=system(conn), min_rows=100)
    assert registry.list_versions(conn) == []


def test_a_version_still_training_cannot_be_deployed(conn: sqlite3.Connection) -> None:
    seed_history(conn, 300)
    version = train_source(conn, "host", deploy=False, created_by=system(conn), min_rows=300)
    conn.execute("UPDATE ml_model_versions SET status = 'training' WHERE id = ?", (version.id,))
    with pytest.raises(registry.RegistryError, match="still training"):
        registry.deploy(conn, version.id)
    with pytest.raises(registry.RegistryError, match="no model version"):
        registry.deploy(conn, 999)


def test_artifact_round_trip_and_tamper_detection(conn: sqlite3.Connection) -> None:
    seed_history(conn, 300)
    version = train_source(conn, "host", deploy=True, created_by=system(conn), min_rows=300)
    model = registry.load_learned_model(conn, version)
    assert model is not None and model.trained_rows == 300
    body = conn.execute("SELECT body FROM model_artifacts WHERE model_version_id = ?", (version.id,)).fetchone()[0]
    assert json.loads(body)["format"] == model.to_dict()["format"]
    conn.execute("UPDATE model_artifacts SET body = replace(body, '\"n_features\":8', '\"n_features\":9')")
    with pytest.raises(registry.RegistryError, match="does not match its hash"):
        registry.load_learned_model(conn, version)


def test_loading_a_stored_model_never_imports_scikit_learn(conn: sqlite3.Connection, db_path: Path) -> None:
    seed_history(conn, 300)
    train_source(conn, "host", deploy=True, created_by=system(conn), min_rows=300)
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from scops_tui.store import database as store\n"
        "from scops_tui.detection import registry\n"
        f"conn = store.open_reader(Path({str(db_path)!r}))\n"
        "model = registry.load_learned_model(conn, registry.deployed_version(conn, 'host'))\n"
        "from scops_tui.detection.detector import StreamingDetector\n"
        "detector = StreamingDetector(8, model=model)\n"
        "detector.score(1, [1.0] * 8)\n"
        "print(json.dumps(['sklearn' in sys.modules, 'scipy' in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [False, False]


def test_imported_labels_cannot_be_deployed(conn: sqlite3.Connection) -> None:
    model_id = registry.ensure_model(conn, "labelled", system(conn))
    cursor = conn.execute(
        "INSERT INTO ml_model_versions (model_id, version, training_timestamp, training_data_start, "
        "training_data_end, training_data_size, model_config, thresholds, status, created_by) "
        "VALUES (?, '1', 0, 0, 0, 1, '{\"kind\": \"imported_labels\"}', '{}', 'ready', ?)",
        (model_id, system(conn)),
    )
    with pytest.raises(registry.RegistryError, match="imported labels"):
        registry.deploy(conn, int(cursor.lastrowid or 0))
