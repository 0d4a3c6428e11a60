"""Import of the legacy SmartCloudOps files and CSV series: counts, labels, models, keys, atomicity."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scops_tui.core import importer, registry, store
from scops_tui.core.errors import InputFileError, ScopsError
from tests.conftest import shared_file


def _system(conn: sqlite3.Connection) -> bytes:
    return store.user_id(conn, store.SYSTEM_USERNAME)


def database_fingerprint(conn: sqlite3.Connection) -> tuple[dict[str, int], str]:
    """Row counts of the eight tables and one hash of every row in them."""
    digest = hashlib.sha256()
    for table in store.TABLES:
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):  # noqa: S608
            digest.update(repr(tuple(row)).encode())
    return store.table_counts(conn), digest.hexdigest()


def _legacy_records() -> list[dict[str, object]]:
    records: list[dict[str, object]] = json.loads(shared_file("data", "legacy", "real_training_data.json").read_text())
    return records


# ------------------------------------------------------------------------------------------- metrics


def test_legacy_metrics_give_145_rows_with_10_flagged(conn: sqlite3.Connection) -> None:
    path = shared_file("data", "legacy", "real_training_data.json")
    report = importer.import_metrics(conn, path, created_by=_system(conn))
    assert (report.added, report.present) == (145, 0)
    assert conn.execute("SELECT count(*), sum(is_anomaly) FROM metrics").fetchone() == (145, 10)
    assert conn.execute("SELECT DISTINCT source FROM metrics").fetchall() == [("historical_data",)]
    assert conn.execute("SELECT count(*) FROM metrics WHERE created_by = ?", (_system(conn),)).fetchone() == (145,)
    nulls = conn.execute(
        "SELECT count(*) FROM metrics WHERE load_15m IS NULL AND error_rate IS NULL AND anomaly_score IS NULL"
    ).fetchone()
    assert nulls == (145,)
    first = conn.execute(
        "SELECT timestamp, cpu_usage, response_time FROM metrics ORDER BY timestamp LIMIT 1"
    ).fetchone()
    assert first[0] == int(datetime(2025, 8, 8, 3, 43, 42, 92_000, tzinfo=UTC).timestamp() * 1000)
    assert first[1] == 195  # 1.951975... % stored as DECIMAL(5,2)
    assert first[2] == 100_000  # 100.0 ms x 1000


def test_labels_are_kept_as_ground_truth_on_a_labels_version(conn: sqlite3.Connection) -> None:
    importer.import_metrics(conn, shared_file("data", "legacy", "real_training_data.json"), created_by=_system(conn))
    version = registry.list_versions(conn)[0]
    assert version.model_name == "labels@historical_data"
    assert version.kind == "imported_labels"
    assert version.training_data_size == 145
    rows = conn.execute(
        "SELECT count(*), sum(actual_anomaly), sum(predicted_anomaly = actual_anomaly), count(feedback_provided_at) "
        "FROM model_predictions WHERE model_version_id = ?",
        (version.id,),
    ).fetchone()
    assert rows == (145, 10, 145, 145)
    mismatched = conn.execute(
        "SELECT count(*) FROM model_predictions p JOIN metrics m ON m.id = p.metrics_id "
        "WHERE p.actual_anomaly != m.is_anomaly"
    ).fetchone()[0]
    assert mismatched == 0


def test_reimport_adds_nothing_and_says_so(conn: sqlite3.Connection) -> None:
    path = shared_file("data", "legacy", "real_training_data.json")
    importer.import_metrics(conn, path, created_by=_system(conn))
    before = database_fingerprint(conn)
    report = importer.import_metrics(conn, path, created_by=_system(conn))
    assert (report.added, report.present) == (0, 145)
    assert "0 new rows, 145 already present" in report.summary()
    assert database_fingerprint(conn) == before


def test_naive_timestamps_are_read_in_the_given_zone(conn: sqlite3.Connection) -> None:
    path = shared_file("data", "legacy", "real_training_data.json")
    importer.import_metrics(conn, path, created_by=_system(conn), timezone=ZoneInfo("Europe/Berlin"), source="berlin")
    first = conn.execute("SELECT min(timestamp) FROM metrics WHERE source = 'berlin'").fetchone()[0]
    # 03:43:42.092 in Berlin in August (CEST, UTC+2) is 01:43:42.092 UTC.
    assert first == int(datetime(2025, 8, 8, 1, 43, 42, 92_000, tzinfo=UTC).timestamp() * 1000)


def test_derived_sums_are_ignored_knowingly(conn: sqlite3.Connection, tmp_path: Path) -> None:
    records = _legacy_records()[:3]
    records[1] = {**records[1], "disk_io_read": 10.0, "disk_io_write": 5.0, "disk_io": 99.0}
    path = tmp_path / "derived.json"
    path.write_text(json.dumps(records))
    report = importer.import_metrics(conn, path, created_by=_system(conn))
    assert report.added == 3
    assert "1 records where they differ" in report.summary()
    assert "disk_io" not in [row[1] for row in conn.execute("PRAGMA table_info(metrics)")]


def test_csv_timestamp_value_series_goes_to_the_named_column(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "cpu.csv"
    path.write_text("timestamp,value\n2024-01-01 00:00:00,12.5\n2024-01-01T00:05:00Z,99.99\n\n")
    report = importer.import_metrics(conn, path, created_by=_system(conn), column="cpu_usage", source="nab")
    assert report.added == 2
    assert "stored as 0" in report.summary()
    rows = conn.execute(
        "SELECT timestamp, source, cpu_usage, memory_usage, load_15m FROM metrics ORDER BY id"
    ).fetchall()
    assert rows == [(1704067200000, "nab", 1250, 0, None), (1704067500000, "nab", 9999, 0, None)]
    assert conn.execute("SELECT count(*) FROM model_predictions").fetchone() == (0,)  # CSV: no labels by default


def test_csv_value_column_without_column_option_is_refused(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("timestamp,value\n2024-01-01 00:00:00,1\n")
    with pytest.raises(InputFileError, match="needs --column"):
        importer.import_metrics(conn, path, created_by=_system(conn))


def test_csv_error_in_a_later_chunk_rolls_back_everything(
    conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "_CHUNK_ROWS", 10)
    lines = ["timestamp,cpu_usage,memory_usage"]
    lines += [f"2024-01-01T00:{minute:02d}:00Z,{minute},{minute}" for minute in range(40)]
    lines[35] = "2024-01-01T00:34:00Z,12,101"
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    before = database_fingerprint(conn)
    with pytest.raises(InputFileError) as caught:
        importer.import_metrics(conn, path, created_by=_system(conn))
    assert "line 36, column 'memory_usage'" in str(caught.value)
    assert "101" in str(caught.value)
    assert database_fingerprint(conn) == before


def test_csv_offsets_and_epoch_seconds_take_the_careful_path(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("timestamp,cpu_usage\n2024-01-01T02:00:00+02:00,1\n1704067260,2\n")
    importer.import_metrics(conn, path, created_by=_system(conn))
    assert [row[0] for row in conn.execute("SELECT timestamp FROM metrics ORDER BY id")] == [
        1704067200000,
        1704067260000,
    ]


def test_csv_quoted_fields_blank_lines_and_bad_bytes(
    conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "_CHUNK_ROWS", 2)
    path = tmp_path / "quoted.csv"
    path.write_text(
        'timestamp,source,cpu_usage\n\n2024-01-01T00:00:00Z,"a, ""b""\nc",1\n2024-01-01T00:01:00Z,plain,2\n\n'
        "2024-01-01T00:02:00Z,plain,3\n"
    )
    assert importer.import_metrics(conn, path, created_by=_system(conn)).added == 3
    assert conn.execute("SELECT source FROM metrics ORDER BY id LIMIT 1").fetchone() == ('a, "b"\nc',)
    bad = tmp_path / "bytes.csv"
    bad.write_bytes(b"timestamp,cpu_usage\n" + b"2024-01-02T00:00:00Z,1\n" * 5000 + b"2024-01-03T00:00:00Z,\xff\n")
    with pytest.raises(InputFileError, match="line 5002: not valid UTF-8"):
        importer.import_metrics(conn, bad, created_by=_system(conn))
    wide = tmp_path / "wide.csv"
    wide.write_text("timestamp,cpu_usage\n2024-01-04T00:00:00Z,1\n2024-01-04T00:01:00Z,1,2\n")
    with pytest.raises(InputFileError, match="line 3: expected 2 fields"):
        importer.import_metrics(conn, wide, created_by=_system(conn))


def test_unknown_csv_column_is_named(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "typo.csv"
    path.write_text("timestamp,cpu_usge\n2024-01-01T00:00:00Z,1\n")
    with pytest.raises(InputFileError, match="line 1, column 'cpu_usge'"):
        importer.import_metrics(conn, path, created_by=_system(conn))


# ---------------------------------------------------------------------------------- broken files


_REQUIRED = [
    "timestamp",
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "load_1m",
    "load_5m",
    "disk_io_read",
    "disk_io_write",
    "network_rx",
    "network_tx",
    "response_time",
    "is_anomaly",
]
_OUT_OF_RANGE = {
    "cpu_usage": st.one_of(st.floats(100.01, 1e6), st.floats(-1e6, -0.01)),
    "memory_usage": st.floats(100.01, 1e300),
    "disk_usage": st.floats(-1e300, -0.01),
    "load_1m": st.floats(-1e6, -0.001),
    "network_rx": st.one_of(st.floats(-1e6, -1.0), st.just(1e300), st.just(10**400)),
    "response_time": st.floats(-1e6, -0.01),
    "is_anomaly": st.sampled_from([2, -1, 0.5]),
    "timestamp": st.sampled_from(["1960-01-01T00:00:00", "2025-13-01T00:00:00", "yesterday", ""]),
}
_WRONG_TYPE = st.sampled_from(["12", [], {}, None, "nan", [1.0]])


@st.composite
def broken_metrics_files(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """(file bytes, text the error must contain) for a metrics file with exactly one defect."""
    records = [dict(record) for record in _legacy_records()[:5]]
    index = draw(st.integers(0, len(records) - 1))
    kind = draw(st.sampled_from(["wrong_type", "missing", "range", "truncated", "encoding", "empty", "constant"]))
    if kind == "wrong_type":
        field = draw(st.sampled_from(_REQUIRED))
        records[index][field] = draw(_WRONG_TYPE)
        return json.dumps(records).encode(), f"record {index + 1}, field '{field}'"
    if kind == "missing":
        field = draw(st.sampled_from(_REQUIRED))
        del records[index][field]
        return json.dumps(records).encode(), f"record {index + 1}, field '{field}'"
    if kind == "range":
        field = draw(st.sampled_from(sorted(_OUT_OF_RANGE)))
        records[index][field] = draw(_OUT_OF_RANGE[field])
        return json.dumps(records).encode(), f"record {index + 1}, field '{field}'"
    text = json.dumps(records, indent=1).encode()
    if kind == "truncated":
        return text[: draw(st.integers(1, len(text) - 2))], None
    if kind == "encoding":
        position = draw(st.integers(0, len(text)))
        return text[:position] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x80\x80"])) + text[position:], None
    if kind == "constant":
        return text.replace(b'"cpu_usage": 0.0', b'"cpu_usage": NaN', 1).replace(b"1.9519", b"Infinity", 1), None
    return draw(st.sampled_from([b"", b"   \n", b"\xef\xbb\xbf"])), None


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_metrics_files())
def test_broken_files_fail_clearly_and_change_nothing(
    conn: sqlite3.Connection, tmp_path: Path, case: tuple[bytes, str | None]
) -> None:
    data, expected_where = case
    path = tmp_path / "broken.json"
    path.write_bytes(data)
    importer.import_metrics(conn, shared_file("data", "legacy", "real_training_data.json"), created_by=_system(conn))
    before = database_fingerprint(conn)
    with pytest.raises(InputFileError) as caught:
        importer.import_metrics(conn, path, created_by=_system(conn), source="broken")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    if expected_where is not None:
        assert expected_where in message
    assert database_fingerprint(conn) == before


@st.composite
def broken_csv_files(draw: st.DrawFn) -> tuple[str, str]:
    header = "timestamp,cpu_usage,memory_usage,load_1m,is_anomaly"
    lines = [f"2024-01-01T00:{minute:02d}:00Z,{minute}.5,{minute},0.25,0" for minute in range(8)]
    index = draw(st.integers(0, len(lines) - 1))
    column = draw(st.sampled_from(["timestamp", "cpu_usage", "memory_usage", "load_1m", "is_anomaly"]))
    bad = draw(
        {
            "timestamp": st.sampled_from(["now", "2024-02-30T00:00:00", "", "1e400"]),
            "cpu_usage": st.sampled_from(["100.5", "-1", "abc", "", "nan", "1e999", "9" * 400]),
            "memory_usage": st.sampled_from(["inf", "200", "0x10"]),
            "load_1m": st.sampled_from(["-0.5", "1e20", "one"]),
            "is_anomaly": st.sampled_from(["2", "yes", ""]),
        }[column]
    )
    fields = lines[index].split(",")
    fields[header.split(",").index(column)] = bad
    lines[index] = ",".join(fields)
    return header + "\n" + "\n".join(lines) + "\n", f"line {index + 2}, column '{column}'"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_csv_files())
def test_broken_csv_names_line_and_column(conn: sqlite3.Connection, tmp_path: Path, case: tuple[str, str]) -> None:
    text, where = case
    path = tmp_path / "broken.csv"
    path.write_text(text)
    before = database_fingerprint(conn)
    with pytest.raises(InputFileError) as caught:
        importer.import_metrics(conn, path, created_by=_system(conn))
    assert where in str(caught.value)
    assert "\n" not in str(caught.value)
    assert database_fingerprint(conn) == before


# --------------------------------------------------------------------------------------------- models


def _import_legacy_models(conn: sqlite3.Connection) -> list[registry.ModelVersion]:
    for name in ("real_data_model.json", "production_model.json"):
        importer.import_models(conn, shared_file("data", "legacy", name), created_by=_system(conn))
    return [v for v in registry.list_versions(conn) if v.kind == "rule_based"]


def test_legacy_models_become_two_rule_based_models(conn: sqlite3.Connection) -> None:
    versions = _import_legacy_models(conn)
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
    _import_legacy_models(conn)
    before = database_fingerprint(conn)
    report = importer.import_models(
        conn, shared_file("data", "legacy", "production_model.json"), created_by=_system(conn)
    )
    assert (report.added, report.present) == (0, 1)
    assert database_fingerprint(conn) == before


def test_unknown_model_type_is_refused_not_dropped(conn: sqlite3.Connection, tmp_path: Path) -> None:
    document = json.loads(shared_file("data", "legacy", "real_data_model.json").read_text())
    document["model_type"] = "neural_magic"
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    before = database_fingerprint(conn)
    with pytest.raises(InputFileError, match=r"field 'model_type'.*neural_magic.*no mapping"):
        importer.import_models(conn, path, created_by=_system(conn))
    assert database_fingerprint(conn) == before


def test_imported_rule_version_deploys_and_scores(conn: sqlite3.Connection) -> None:
    real = next(v for v in _import_legacy_models(conn) if v.model_name == "real_data_anomaly_detector")
    deployed = registry.deploy(conn, real.id)
    assert (deployed.status, deployed.is_deployed) == ("deployed", True)
    quiet = importer.score_with_thresholds(
        deployed, {"cpu_usage": 5, "memory_usage": 10, "load_1m": 0, "disk_usage": 1}
    )
    assert (quiet.anomaly, quiet.confidence) == (False, 0.0)
    busy = importer.score_with_thresholds(
        deployed, {"cpu_usage": 50, "memory_usage": 60, "load_1m": 1, "disk_usage": 1}
    )
    assert busy.anomaly and busy.exceeded == ("cpu_usage", "memory_usage", "load_1m")
    assert busy.confidence == pytest.approx(0.8)


def test_weighted_rules_need_two_thresholds_or_a_strong_one(conn: sqlite3.Connection) -> None:
    production = next(v for v in _import_legacy_models(conn) if v.model_name == "enhanced_rule_based_v2")
    one = importer.score_with_thresholds(
        production, {"cpu_usage": 80, "memory_usage": 10, "load_1m": 0, "disk_usage": 0}
    )
    assert not one.anomaly and one.exceeded == ("cpu_usage",)
    two = importer.score_with_thresholds(
        production, {"cpu_usage": 80, "memory_usage": 90, "load_1m": 0, "disk_usage": 0}
    )
    assert two.anomaly
    # 0.35 x (1 + 5/75) + 0.35 x (1 + 5/85), times 0.7 x F1 0.88 + 0.3 x precision 0.85
    expected = (0.35 * (1 + 5 / 75) + 0.35 * (1 + 5 / 85)) * (0.7 * 0.88 + 0.3 * 0.85)
    assert two.confidence == pytest.approx(expected)
    assert 0 <= two.confidence <= 1


def test_rule_scores_on_the_legacy_data_against_its_labels(conn: sqlite3.Connection) -> None:
    real = next(v for v in _import_legacy_models(conn) if v.model_name == "real_data_anomaly_detector")
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for record in _legacy_records():
        sample = {key: float(value) for key, value in record.items() if isinstance(value, int | float)}
        counts[(importer.score_with_thresholds(real, sample).anomaly, bool(record["is_anomaly"]))] += 1
    # The shipped data does not reproduce the legacy file's own figures (TP 10, FP 21): it gives these.
    assert counts == {(True, True): 3, (True, False): 6, (False, True): 7, (False, False): 129}
    importer.import_metrics(conn, shared_file("data", "legacy", "real_training_data.json"), created_by=_system(conn))
    assert importer.evaluate_rules(conn, real.id, "historical_data", _system(conn)) == 145
    assert importer.evaluate_rules(conn, real.id, "historical_data", _system(conn)) == 0
    quality = registry.evaluate(conn, real.id).samples
    assert quality.labelled == 145
    assert quality.true_positives + quality.false_negatives == 10


def test_score_refuses_a_non_rule_version(conn: sqlite3.Connection) -> None:
    importer.import_metrics(conn, shared_file("data", "legacy", "real_training_data.json"), created_by=_system(conn))
    labels = registry.list_versions(conn)[0]
    with pytest.raises(ScopsError, match="cannot score"):
        importer.score_with_thresholds(labels, {})


# ------------------------------------------------------------------------------------------- API keys


def test_api_keys_store_only_hashes(conn: sqlite3.Connection, db_path: Path) -> None:
    path = shared_file("data", "legacy", "api_keys_db.json")
    keys: dict[str, dict[str, object]] = json.loads(path.read_text())
    report = importer.import_api_keys(conn, path, created_by=_system(conn))
    assert report.added == 3
    rows = {
        row[0]: row[1:]
        for row in conn.execute("SELECT key_hash, key_name, permissions, rate_limit_per_hour, created_at FROM api_keys")
    }
    assert len(rows) == 3
    for key, details in keys.items():
        name, permissions, limit, created = rows[hashlib.sha256(key.encode()).hexdigest()]
        assert name == details["name"]
        assert json.loads(permissions)[-1] == details["level"]
        assert limit == details["rate_limit"]
        assert created == int(datetime.fromisoformat(str(details["created"])).replace(tzinfo=UTC).timestamp() * 1000)
    assert importer.import_api_keys(conn, path, created_by=_system(conn)).present == 3
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith(db_path.name))
    for key in keys:
        for form in (key.encode(), key.upper().encode(), bytes.fromhex(key), key.encode("utf-16-le")):
            assert form not in stored


def test_bad_api_key_record_never_shows_the_key(conn: sqlite3.Connection, tmp_path: Path) -> None:
    secret = "f" * 64
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({secret: {"name": "x", "level": "root", "created": "2025-01-01T00:00:00"}}))
    with pytest.raises(InputFileError) as caught:
        importer.import_api_keys(conn, path, created_by=_system(conn))
    assert "record 1" in str(caught.value) and "field 'level'" in str(caught.value)
    assert secret not in str(caught.value)


# ----------------------------------------------------------------------- no silent drops (issue 9, part 4)


def _write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_identical_records_of_one_key_are_imported_once_and_counted(conn: sqlite3.Connection, tmp_path: Path) -> None:
    records = _legacy_records()[:5]
    path = _write_json(tmp_path / "twice.json", [*records, dict(records[2])])
    report = importer.import_metrics(conn, path, created_by=_system(conn))
    assert (report.added, report.present, report.duplicates) == (5, 0, 1)
    assert "5 new rows, 0 already present, 1 duplicates in the file (imported once)" in report.summary()
    again = importer.import_metrics(conn, path, created_by=_system(conn))
    assert (again.added, again.present, again.duplicates) == (0, 5, 1)  # "present" only for rows stored before


def test_records_of_one_key_that_differ_refuse_the_file_naming_both(conn: sqlite3.Connection, tmp_path: Path) -> None:
    records = _legacy_records()
    labelled = next(i for i, record in enumerate(records) if record["is_anomaly"] == 1)
    unlabelled = {**records[labelled], "is_anomaly": 0}
    path = _write_json(tmp_path / "clash.json", [unlabelled, *records])
    before = database_fingerprint(conn)
    with pytest.raises(InputFileError) as caught:
        importer.import_metrics(conn, path, created_by=_system(conn))
    message = str(caught.value)
    assert f"record {labelled + 2}, field 'is_anomaly'" in message and "as record 1" in message
    assert database_fingerprint(conn) == before
    # a differing value (not the label) is refused the same way, in either order
    path = _write_json(tmp_path / "value.json", [records[0], {**records[0], "cpu_usage": 50.0}])
    with pytest.raises(InputFileError, match=r"record 2, field 'cpu_usage'.*as record 1"):
        importer.import_metrics(conn, path, created_by=_system(conn))
    assert database_fingerprint(conn) == before


def test_csv_key_repeated_in_a_later_chunk_names_the_first_line(
    conn: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "_CHUNK_ROWS", 10)
    lines = ["timestamp,cpu_usage,is_anomaly"] + [f"2024-01-01T00:{minute:02d}:00Z,{minute},0" for minute in range(30)]
    path = tmp_path / "late.csv"
    path.write_text("\n".join([*lines, lines[4]]) + "\n")
    report = importer.import_metrics(conn, path, created_by=_system(conn))
    assert (report.added, report.present, report.duplicates) == (30, 0, 1)
    before = database_fingerprint(conn)
    clash = tmp_path / "clash.csv"
    clash.write_text("\n".join([*lines, "2024-01-01T00:03:00Z,3,1"]) + "\n")
    fresh = store.open_database(tmp_path / "fresh.db")
    try:
        with pytest.raises(InputFileError, match=r"line 32, column 'is_anomaly'.*as line 5\b"):
            importer.import_metrics(fresh, clash, created_by=_system(fresh))
        assert store.table_counts(fresh)["metrics"] == 0
    finally:
        fresh.close()
    # against rows already stored, the in-file clash is still refused (the file is judged on its own)
    with pytest.raises(InputFileError, match=r"line 32, column 'is_anomaly'.*as line 5\b"):
        importer.import_metrics(conn, clash, created_by=_system(conn))
    assert database_fingerprint(conn) == before


def test_rows_already_present_with_other_values_are_reported(conn: sqlite3.Connection, tmp_path: Path) -> None:
    records = _legacy_records()[:4]
    importer.import_metrics(conn, _write_json(tmp_path / "a.json", records), created_by=_system(conn))
    changed = [records[0], {**records[1], "cpu_usage": 42.0}, *records[2:]]
    report = importer.import_metrics(conn, _write_json(tmp_path / "b.json", changed), created_by=_system(conn))
    assert (report.added, report.present, report.duplicates) == (0, 4, 0)
    assert "1 of the rows already present differ from this file (the stored rows are kept)" in report.summary()


def test_times_that_collide_after_conversion_are_one_key(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "collide.csv"
    # sub-millisecond difference, and the same instant naive and with Z: one sample each time
    path.write_text("timestamp,cpu_usage\n2024-01-01T00:00:00.0001,1\n2024-01-01T00:00:00.0004Z,1\n")
    report = importer.import_metrics(conn, path, created_by=_system(conn))
    assert (report.added, report.duplicates) == (1, 1)
    path.write_text("timestamp,cpu_usage\n2024-01-02T00:00:00,1\n2024-01-02T00:00:00.000+00:00,2\n")
    with pytest.raises(InputFileError, match=r"line 3, column 'cpu_usage'.*2024-01-02T00:00:00\.000Z as line 2"):
        importer.import_metrics(conn, path, created_by=_system(conn))


@pytest.mark.parametrize(
    ("stamp", "rule"),
    [("2025-03-30T02:30:00", "does not exist in Europe/Berlin"), ("2025-10-26T02:30:00", "occurs twice in")],
)
def test_local_times_a_dst_change_skips_or_repeats_are_refused(
    conn: sqlite3.Connection, tmp_path: Path, stamp: str, rule: str
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    records = _legacy_records()[:2]
    records[1] = {**records[1], "timestamp": stamp}
    path = _write_json(tmp_path / "dst.json", records)
    with pytest.raises(InputFileError, match=f"record 2, field 'timestamp': local time '{stamp}' {rule}"):
        importer.import_metrics(conn, path, created_by=_system(conn), timezone=berlin)
    csv_path = tmp_path / "dst.csv"
    csv_path.write_text(f"timestamp,cpu_usage\n2025-01-01T00:00:00,1\n{stamp},2\n")
    with pytest.raises(InputFileError, match=f"line 3, column 'timestamp': local time '{stamp}' {rule}"):
        importer.import_metrics(conn, csv_path, created_by=_system(conn), timezone=berlin)
    assert store.table_counts(conn)["metrics"] == 0
    # an offset in the file settles it
    csv_path.write_text(f"timestamp,cpu_usage\n{stamp}+01:00,2\n")
    assert importer.import_metrics(conn, csv_path, created_by=_system(conn), timezone=berlin).added == 1


def test_a_key_given_twice_in_one_json_object_is_refused(conn: sqlite3.Connection, tmp_path: Path) -> None:
    raw = "ab" * 32
    details = '{"name": "n", "level": "read", "created": "2025-01-01T00:00:00"}'
    path = tmp_path / "keys.json"
    path.write_text(f'{{"{"cd" * 32}": {details}, "{raw}": {details}, "{raw}": {details}}}')
    with pytest.raises(InputFileError) as caught:
        importer.import_api_keys(conn, path, created_by=_system(conn))
    message = str(caught.value)
    assert "record 3 (key sha256" in message and "the same key appears twice (records 2 and 3)" in message
    assert raw not in message
    path.write_text(f'{{"{raw}": {{"name": "a", "name": "b", "level": "read", "created": "2025-01-01T00:00:00"}}}}')
    with pytest.raises(
        InputFileError, match=r"record 1 \(key sha256 \w+\.\.\.\), field 'name': this key appears twice"
    ):
        importer.import_api_keys(conn, path, created_by=_system(conn))
    metrics = tmp_path / "m.json"
    record = json.dumps(_legacy_records()[0])
    metrics.write_text(f'[{record}, {record[:-1]}, "cpu_usage": 1.0}}]')
    with pytest.raises(InputFileError, match="record 2, field 'cpu_usage': this key appears twice"):
        importer.import_metrics(conn, metrics, created_by=_system(conn))
    assert store.table_counts(conn)["api_keys"] == 0 and store.table_counts(conn)["metrics"] == 0


# ------------------------------------------------------------------------ no traceback (issue 9, part 5)


def test_huge_integer_literals_are_refused_by_field(conn: sqlite3.Connection, tmp_path: Path) -> None:
    record = json.dumps(_legacy_records()[0])
    path = tmp_path / "big.json"
    path.write_text(json.dumps([{**_legacy_records()[0], "disk_io": 10**400}]))
    with pytest.raises(InputFileError, match=r"record 1, field 'disk_io': value 1000.* is not a finite number"):
        importer.import_metrics(conn, path, created_by=_system(conn))
    path.write_text(f'[{record[:-1]}, "load_15m": 1{"0" * 5000}}}]')  # past Python's int-parsing limit
    with pytest.raises(InputFileError, match="record 1, field 'load_15m'"):
        importer.import_metrics(conn, path, created_by=_system(conn))
    model = json.loads(shared_file("data", "legacy", "real_data_model.json").read_text())
    model["thresholds"]["cpu_threshold"] = 10**400
    with pytest.raises(InputFileError, match=r"field 'thresholds\.cpu_threshold'"):
        importer.import_models(conn, _write_json(tmp_path / "m.json", model), created_by=_system(conn))


def test_lone_surrogates_are_refused_where_they_are(conn: sqlite3.Connection, tmp_path: Path) -> None:
    lone = "\ud800"
    records = _legacy_records()[:2]
    records[1] = {**records[1], "source": f"host{lone}"}
    with pytest.raises(InputFileError, match=r"record 2, field 'source': .*lone surrogate"):
        importer.import_metrics(conn, _write_json(tmp_path / "s.json", records), created_by=_system(conn))
    with pytest.raises(importer.ImportOptionError, match=r"--source: .*lone surrogate"):
        importer.import_metrics(
            conn, shared_file("data", "legacy", "real_training_data.json"), created_by=_system(conn), source=lone
        )
    model = json.loads(shared_file("data", "legacy", "real_data_model.json").read_text())
    with pytest.raises(InputFileError, match=r"field 'version': .*lone surrogate"):
        importer.import_models(
            conn, _write_json(tmp_path / "v.json", {**model, "version": lone}), created_by=_system(conn)
        )
    with pytest.raises(InputFileError, match=r"field 'extra\.note': .*lone surrogate"):
        importer.import_models(
            conn, _write_json(tmp_path / "x.json", {**model, "extra": {"note": lone}}), created_by=_system(conn)
        )
    with pytest.raises(importer.ImportOptionError, match=r"--name: .*lone surrogate"):
        importer.import_models(
            conn, shared_file("data", "legacy", "real_data_model.json"), created_by=_system(conn), name=lone
        )
    keys = {"ab" * 32: {"name": f"ops{lone}", "level": "read", "created": "2025-01-01T00:00:00"}}
    with pytest.raises(InputFileError, match=r"record 1 \(key sha256 \w+\.\.\.\), field 'name': .*lone surrogate"):
        importer.import_api_keys(conn, _write_json(tmp_path / "k.json", keys), created_by=_system(conn))
    assert sum(store.table_counts(conn)[table] for table in ("metrics", "api_keys", "ml_model_versions")) == 0


@pytest.mark.parametrize("depth", [40, 981, 982, 983, 5000])
def test_deeply_nested_model_files_are_refused(conn: sqlite3.Connection, tmp_path: Path, depth: int) -> None:
    model = json.dumps(json.loads(shared_file("data", "legacy", "real_data_model.json").read_text()))
    path = tmp_path / "deep.json"
    path.write_text(model[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(InputFileError, match="nested more than 32 levels deep"):
        importer.import_models(conn, path, created_by=_system(conn))
    assert store.table_counts(conn)["ml_model_versions"] == 0
