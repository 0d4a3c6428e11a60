"""Strict JSON reading: a key given twice, huge integer literals, nesting deeper than 32 levels."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from scops_tui.errors import InputFileError
from scops_tui.store import database as store
from scops_tui.transfer import legacy_keys, legacy_models, metrics_import
from tests.conftest import data_file
from tests.transfer.helpers import legacy_records, system_user, write_json


def test_a_key_given_twice_in_one_json_object_is_refused(conn: sqlite3.Connection, tmp_path: Path) -> None:
    raw = "ab" * 32
    details = '{"name": "n", "level": "read", "created": "2025-01-01T00:00:00"}'
    path = tmp_path / "keys.json"
    path.write_text(f'{{"{"cd" * 32}": {details}, "{raw}": {details}, "{raw}": {details}}}')
    with pytest.raises(InputFileError) as caught:
        legacy_keys.import_api_keys(conn, path, created_by=system_user(conn))
    message = str(caught.value)
    assert "record 3 (key sha256" in message and "the same key appears twice (records 2 and 3)" in message
    assert raw not in message
    path.write_text(f'{{"{raw}": {{"name": "a", "name": "b", "level": "read", "created": "2025-01-01T00:00:00"}}}}')
    with pytest.raises(
        InputFileError, match=r"record 1 \(key sha256 \w+\.\.\.\), field 'name': this key appears twice"
    ):
        legacy_keys.import_api_keys(conn, path, created_by=system_user(conn))
    metrics = tmp_path / "m.json"
    record = json.dumps(legacy_records()[0])
    metrics.write_text(f'[{record}, {record[:-1]}, "cpu_usage": 1.0}}]')
    with pytest.raises(InputFileError, match="record 2, field 'cpu_usage': this key appears twice"):
        metrics_import.import_metrics(conn, metrics, created_by=system_user(conn))
    assert store.table_counts(conn)["api_keys"] == 0 and store.table_counts(conn)["metrics"] == 0


# ------------------------------------------------------------------------ no traceback (issue 9, part 5)


def test_huge_integer_literals_are_refused_by_field(conn: sqlite3.Connection, tmp_path: Path) -> None:
    record = json.dumps(legacy_records()[0])
    path = tmp_path / "big.json"
    path.write_text(json.dumps([{**legacy_records()[0], "disk_io": 10**400}]))
    with pytest.raises(InputFileError, match=r"record 1, field 'disk_io': value 1000.* is not a finite number"):
        metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    path.write_text(f'[{record[:-1]}, "load_15m": 1{"0" * 5000}}}]')  # past Python's int-parsing limit
    with pytest.raises(InputFileError, match="record 1, field 'load_15m'"):
        metrics_import.import_metrics(conn, path, created_by=system_user(conn))
    model = json.loads(data_file("legacy", "real_data_model.json").read_text())
    model["thresholds"]["cpu_threshold"] = 10**400
    with pytest.raises(InputFileError, match=r"field 'thresholds\.cpu_threshold'"):
        legacy_models.import_models(conn, write_json(tmp_path / "m.json", model), created_by=system_user(conn))


@pytest.mark.parametrize("depth", [40, 981, 982, 983, 5000])
def test_deeply_nested_model_files_are_refused(conn: sqlite3.Connection, tmp_path: Path, depth: int) -> None:
    model = json.dumps(json.loads(data_file("legacy", "real_data_model.json").read_text()))
    path = tmp_path / "deep.json"
    path.write_text(model[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(InputFileError, match="nested more than 32 levels deep"):
        legacy_models.import_models(conn, path, created_by=system_user(conn))
    assert store.table_counts(conn)["ml_model_versions"] == 0
