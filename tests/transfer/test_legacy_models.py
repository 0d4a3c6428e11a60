"""Legacy model descriptions: two rule-based models, re-import, unknown types."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scops_tui.errors import InputFileError
from scops_tui.transfer import legacy_models
from tests.conftest import data_file
from tests.transfer.helpers import database_fingerprint, import_legacy_models, system_user


def test_legacy_models_become_two_rule_based_models(conn: sqlite3.Connection) -> None:
    versions = import_legacy_models(conn)
    assert conn.execute("SELECT count(*) FROM ml_models").fetchone() == (2,)
    assert conn.execute("SELECT DISTINCT model_type FROM ml_models").fetchall() == [("rule_based",)]
    by_name = {version.model_name: version for version in versions}
    real = by_name["real_data_anomaly_detector"]
    assert real.version == "1.0.0"
    assert real.config["legacy_model_type"] == "rule_based_real_data"
    assert real.thresholds["cpu_usage"] == pytest.approx(12.12902475938089)
    assert (real.accuracy, real.recall) == (pytest.approx(0.8551724137931035), 1.0)
    assert real.training_data_size == 145
    production = by_name["enhanced_rule_based_v2"]
    assert production.version == "2.0.0"
    assert production.config["legacy"]["deployment_config"]["alert_cooldown_minutes"] == 15
    assert production.training_timestamp == int(datetime(2025, 8, 9, 12, tzinfo=UTC).timestamp() * 1000)
    assert {version.status for version in versions} == {"ready"}


def test_model_reimport_adds_nothing(conn: sqlite3.Connection) -> None:
    import_legacy_models(conn)
    before = database_fingerprint(conn)
    report = legacy_models.import_models(
        conn, data_file("legacy", "production_model.json"), created_by=system_user(conn)
    )
    assert (report.added, report.present) == (0, 1)
    assert database_fingerprint(conn) == before


def test_unknown_model_type_is_refused_not_dropped(conn: sqlite3.Connection, tmp_path: Path) -> None:
    document = json.loads(data_file("legacy", "real_data_model.json").read_text())
    document["model_type"] = "neural_magic"
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    before = database_fingerprint(conn)
    with pytest.raises(InputFileError, match=r"field 'model_type'.*neural_magic.*no mapping"):
        legacy_models.import_models(conn, path, created_by=system_user(conn))
    assert database_fingerprint(conn) == before
