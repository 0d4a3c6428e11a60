"""What every import shares: local times a daylight-saving change skips or repeats, lone surrogates."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scops_tui.errors import InputFileError
from scops_tui.store import database as store
from scops_tui.transfer import importer, legacy_keys, legacy_models, metrics_import
from tests.conftest import data_file
from tests.transfer.helpers import legacy_records, system_user, write_json


@pytest.mark.parametrize(
    ("stamp", "rule"),
    [("2025-03-30T02:30:00", "does not exist in Europe/Berlin"), ("2025-10-26T02:30:00", "occurs twice in")],
)
def test_local_times_a_dst_change_skips_or_repeats_are_refused(
    conn: sqlite3.Connection, tmp_path: Path, stamp: str, rule: str
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    records = legacy_records()[:2]
    records[1] = {**records[1], "timestamp": stamp}
    path = write_json(tmp_path / "dst.json", records)
    with pytest.raises(InputFileError, match=f"record 2, field 'timestamp': local time '{stamp}' {rule}"):
        metrics_import.import_metrics(conn, path, created_by=system_user(conn), timezone=berlin)
    csv_path = tmp_path / "dst.csv"
    csv_path.write_text(f"timestamp,cpu_usage\n2025-01-01T00:00:00,1\n{stamp},2\n")
    with pytest.raises(InputFileError, match=f"line 3, column 'timestamp': local time '{stamp}' {rule}"):
        metrics_import.import_metrics(conn, csv_path, created_by=system_user(conn), timezone=berlin)
    assert store.table_counts(conn)["metrics"] == 0
    # an offset in the file settles it
    csv_path.write_text(f"timestamp,cpu_usage\n{stamp}+01:00,2\n")
    assert metrics_import.import_metrics(conn, csv_path, created_by=system_user(conn), timezone=berlin).added == 1


def test_lone_surrogates_are_refused_where_they_are(conn: sqlite3.Connection, tmp_path: Path) -> None:
    lone = "\ud800"
    records = legacy_records()[:2]
    records[1] = {**records[1], "source": f"host{lone}"}
    with pytest.raises(InputFileError, match=r"record 2, field 'source': .*lone surrogate"):
        metrics_import.import_metrics(conn, write_json(tmp_path / "s.json", records), created_by=system_user(conn))
    with pytest.raises(importer.ImportOptionError, match=r"--source: .*lone surrogate"):
        metrics_import.import_metrics(
            conn, data_file("legacy", "real_training_data.json"), created_by=system_user(conn), source=lone
        )
    model = json.loads(data_file("legacy", "real_data_model.json").read_text())
    with pytest.raises(InputFileError, match=r"field 'version': .*lone surrogate"):
        legacy_models.import_models(
            conn, write_json(tmp_path / "v.json", {**model, "version": lone}), created_by=system_user(conn)
        )
    with pytest.raises(InputFileError, match=r"field 'extra\.note': .*lone surrogate"):
        legacy_models.import_models(
            conn, write_json(tmp_path / "x.json", {**model, "extra": {"note": lone}}), created_by=system_user(conn)
        )
    with pytest.raises(importer.ImportOptionError, match=r"--name: .*lone surrogate"):
        legacy_models.import_models(
            conn, data_file("legacy", "real_data_model.json"), created_by=system_user(conn), name=lone
        )
    keys = {"ab" * 32: {"name": f"ops{lone}", "level": "read", "created": "2025-01-01T00:00:00"}}
    with pytest.raises(InputFileError, match=r"record 1 \(key sha256 \w+\.\.\.\), field 'name': .*lone surrogate"):
        legacy_keys.import_api_keys(conn, write_json(tmp_path / "k.json", keys), created_by=system_user(conn))
    assert sum(store.table_counts(conn)[table] for table in ("metrics", "api_keys", "ml_model_versions")) == 0
