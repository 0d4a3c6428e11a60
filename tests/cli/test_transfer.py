"""`scops-tui import ...` and `scops-tui export`: messages, exit codes, files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from scops_tui.cli.main import main
from scops_tui.store import database as store
from tests.conftest import data_file


def _run(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--db", str(db), *args])
    return result.exit_code, result.stdout, result.stderr


def test_import_legacy_files_then_again(db_path: Path) -> None:
    metrics = str(data_file("legacy", "real_training_data.json"))
    code, out, _err = _run(db_path, "import", "metrics", metrics)
    assert code == 0 and "145 new rows, 0 already present" in out and "10 labelled anomalies" in out
    code, out, _err = _run(db_path, "import", "metrics", metrics)
    assert code == 0 and "0 new rows, 145 already present" in out
    for name in ("real_data_model.json", "production_model.json"):
        code, out, _err = _run(db_path, "import", "model", str(data_file("legacy", name)))
        assert code == 0 and "1 new model versions" in out
    code, out, _err = _run(db_path, "import", "api-keys", str(data_file("legacy", "api_keys_db.json")))
    assert code == 0 and "3 new API keys" in out
    conn = store.open_database(db_path)
    try:
        counts = store.table_counts(conn)
    finally:
        conn.close()
    assert counts["metrics"] == 145 and counts["api_keys"] == 3 and counts["ml_models"] == 3  # + labels@...


def test_bad_file_is_one_line_without_traceback(db_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"timestamp": "2025-01-01T00:00:00", "cpu_usage": 500}]))
    code, out, err = _run(db_path, "import", "metrics", str(bad))
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{bad}: record 1, field 'cpu_usage'" in err


def test_unknown_timezone_and_extension(db_path: Path, tmp_path: Path) -> None:
    series = tmp_path / "s.txt"
    series.write_text("timestamp,cpu_usage\n2024-01-01T00:00:00Z,1\n")
    code, _out, err = _run(db_path, "import", "metrics", str(series))
    assert code != 0 and "--format" in err and err.count("\n") == 1
    code, _out, err = _run(db_path, "import", "metrics", str(series), "--format", "csv", "--timezone", "Nowhere/City")
    assert code != 0 and "unknown time zone" in err
    code, out, _err = _run(db_path, "import", "metrics", str(series), "--format", "csv", "--timezone", "Asia/Tokyo")
    assert code == 0 and "1 new rows" in out


def test_export_to_stdout_and_file(db_path: Path, tmp_path: Path) -> None:
    _run(db_path, "import", "metrics", str(data_file("legacy", "real_training_data.json")))
    code, out, _err = _run(db_path, "export", "metrics", "--format", "jsonl", "--columns", "timestamp,is_anomaly")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 145 and sum(row["is_anomaly"] for row in rows) == 10
    target = tmp_path / "m.csv"
    code, out, err = _run(db_path, "export", "metrics", "--out", str(target), "--since", "2025-08-08T12:00:00")
    assert code == 0 and out == "" and "rows of metrics" in err
    assert target.read_text().startswith("id,timestamp,source,")


def test_export_errors_are_one_line(db_path: Path) -> None:
    _run(db_path, "import", "metrics", str(data_file("legacy", "real_training_data.json")))
    for args, needle in (
        (["export", "nope"], "unknown table"),
        (["export", "metrics", "--columns", "id,nope"], "no column 'nope'"),
        (["export", "metrics", "--since", "soon"], "--since: 'soon'"),
    ):
        code, _out, err = _run(db_path, *args)
        assert code != 0 and needle in err and err.count("\n") == 1


def _fingerprint(db: Path) -> tuple[dict[str, int], str]:
    from tests.transfer.helpers import database_fingerprint

    conn = store.open_database(db)
    try:
        return database_fingerprint(conn)
    finally:
        conn.close()


def _one_error_line(code: int, out: str, err: str) -> str:
    assert code != 0 and out == ""
    assert err.startswith("scops-tui: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_failed_import_leaves_no_database_behind(tmp_path: Path) -> None:
    db = tmp_path / "new" / "deeper" / "scops.db"
    legacy = str(data_file("legacy", "real_training_data.json"))
    clash = tmp_path / "clash.csv"
    clash.write_text("timestamp,cpu_usage\n2024-01-01T00:00:00Z,1\n2024-01-01T00:00:00Z,2\n")
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    for args in (
        ["import", "metrics", legacy, "--timezone", "Nowhere/City"],
        ["import", "metrics", legacy, "--source", "\ud800"],
        ["import", "metrics", str(clash)],
        ["import", "metrics", str(broken)],
        ["import", "model", str(broken)],
        ["import", "api-keys", str(broken)],
        ["import", "model", str(data_file("legacy", "real_data_model.json")), "--name", "\udcff"],
    ):
        _one_error_line(*_run(db, *args))
        assert not (tmp_path / "new").exists(), args
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.json", "clash.csv", "scops-home"]
    code, out, _err = _run(db, "import", "metrics", legacy)
    assert code == 0 and "145 new rows" in out
    assert _fingerprint(db)[0]["metrics"] == 145
    assert sorted(path.name for path in db.parent.iterdir() if not path.name.startswith("scops.db")) == []


def test_inputs_that_used_to_print_tracebacks_are_one_line(db_path: Path, tmp_path: Path) -> None:
    legacy = data_file("legacy")
    _run(db_path, "import", "metrics", str(legacy / "real_training_data.json"))
    before = _fingerprint(db_path)
    record = json.loads((legacy / "real_training_data.json").read_text())[0]
    model = json.loads((legacy / "real_data_model.json").read_text())
    model_text = json.dumps(model)
    keys = json.loads((legacy / "api_keys_db.json").read_text())
    first_key = next(iter(keys))

    def write(name: str, text: str) -> str:
        (tmp_path / name).write_text(text)
        return str(tmp_path / name)

    cases = [
        (["metrics", write("big.json", json.dumps([{**record, "disk_io": 10**400}]))], "record 1, field 'disk_io'"),
        (["metrics", write("src.json", json.dumps([{**record, "source": "\ud800"}]))], "record 1, field 'source'"),
        (["metrics", str(legacy / "real_training_data.json"), "--source", "a\udcff"], "--source"),
        (["model", write("ver.json", json.dumps({**model, "version": "\ud800"}))], "field 'version'"),
        (["model", str(legacy / "real_data_model.json"), "--name", "\ud800"], "--name"),
        (
            ["model", write("deep.json", model_text[:-1] + ', "x": ' + "[" * 982 + "]" * 982 + "}")],
            "nested more than 32 levels deep",
        ),
        (
            ["api-keys", write("name.json", json.dumps({first_key: {**keys[first_key], "name": "\ud800"}}))],
            "record 1 (key sha256",
        ),
    ]
    for args, needle in cases:
        err = _one_error_line(*_run(db_path, "import", *args))
        assert needle in err, (args, err)
        assert _fingerprint(db_path) == before, args


def test_a_single_series_import_is_refused_with_what_to_run_instead(tmp_path: Path) -> None:
    """`import metrics FILE --column cpu_usage` stores no made-up metrics: one line pointing at `detect`."""
    from tests.cli.seed import run_installed

    series = tmp_path / "cpu.csv"
    series.write_text("timestamp,value\n2024-01-01 00:00:00,12.5\n")
    db = tmp_path / "new.db"
    env = {**os.environ, "SCOPS_DB": str(db)}
    result = run_installed("import", "metrics", str(series), "--column", "cpu_usage", env=env)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"score it with `scops-tui detect {series}`" in result.stderr
    assert not db.exists()
    scored = run_installed("detect", str(series), env=env)
    assert scored.returncode == 0 and scored.stdout.startswith("timestamp,value,anomaly_score")
