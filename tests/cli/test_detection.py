"""`detect`, `model` and `anomalies` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scops_tui.cli.main import main
from scops_tui.detection import review
from scops_tui.detection.episodes import EpisodeSnapshot
from scops_tui.store import database as store
from tests.conftest import data_file

SCOPS = [sys.executable, "-m", "scops_tui"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCOPS, *args], capture_output=True, text=True, timeout=300, check=False)


def write_series(path: Path, values: list[float]) -> Path:
    lines = ["timestamp,value"] + [f"2024-01-01 00:{i // 60:02d}:{i % 60:02d},{v}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_detect_writes_one_score_per_input_row_in_order(tmp_path: Path) -> None:
    values = [10.0 + (i % 7) * 0.1 for i in range(300)] + [95.0] + [10.0] * 20
    source = write_series(tmp_path / "series.csv", values)
    result = run_cli("detect", str(source))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(values)
    assert [float(r["value"]) for r in rows] == values
    scores = [float(r["anomaly_score"]) for r in rows]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[300] == max(scores) and scores[300] >= 0.5
    out = tmp_path / "scored.csv"
    assert run_cli("detect", str(source), "--out", str(out)).returncode == 0
    assert out.read_text() == result.stdout


def test_detect_scores_huge_finite_values_finite_without_warnings(tmp_path: Path) -> None:
    """Finite inputs near +-1e308 (and subnormals among them): every score finite in [0, 1], stderr silent."""
    values = [10.0 + (i % 7) * 0.1 for i in range(40)] + [1e308, -1e308, 1.7976931348623157e308, 5e-324] * 5
    values += [-1e308] * 30
    source = write_series(tmp_path / "huge.csv", values)
    result = run_cli("detect", str(source))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    scores = [float(r["anomaly_score"]) for r in csv.DictReader(io.StringIO(result.stdout))]
    assert len(scores) == len(values)
    assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)


def test_detect_on_a_nab_file(tmp_path: Path) -> None:
    nab = data_file("nab", "data", "realKnownCause", "ambient_temperature_system_failure.csv")
    out = tmp_path / "scored.csv"
    result = run_cli("detect", str(nab), "--out", str(out))
    assert result.returncode == 0, result.stderr
    scored = list(csv.DictReader(out.open()))
    original = list(csv.DictReader(nab.open()))
    assert len(scored) == len(original)
    assert [r["timestamp"] for r in scored] == [r["timestamp"] for r in original]


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("time,value\n2024-01-01 00:00:00,1\n", ["timestamp"]),
        ("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:01,abc\n", ["line 3", "value"]),
        ("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:01,nan\n", ["line 3", "value"]),
        ("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:01,inf\n", ["line 3", "value"]),
        ("timestamp,value\n2024-01-01 00:00:05,1\n2024-01-01 00:00:01\n", ["line 3", "expected 2 fields"]),
        ("timestamp,value\n2024-01-01 00:00:05,1\n2024-01-01 00:00:01,x\n", ["line 3", "value"]),
        ("timestamp,value\nyesterday,1\n", ["line 2", "timestamp"]),
        ("", ["empty"]),
        ("timestamp,value\n", ["no data"]),
    ],
)
def test_detect_bad_input_is_one_line_naming_the_place(tmp_path: Path, content: str, fragments: list[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    result = run_cli("detect", str(bad))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(bad) in lines[0]
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]
    assert result.stdout == ""


def test_detect_scores_every_row_in_file_order_when_the_clock_steps_back_or_repeats(tmp_path: Path) -> None:
    """An NTP step back and a repeated hour (daylight saving): one warning line, then every row scored in order."""
    stamps = [f"2024-01-01 00:{i // 60:02d}:{i % 60:02d}" for i in range(400)]
    stamps[200:200] = stamps[150:160]  # ten rows repeat earlier times: one step back, nine steps forward
    stamps.insert(300, stamps[299])  # one exact repeat
    values = [10.0 + (i % 7) * 0.1 for i in range(len(stamps))]
    values[350] = 95.0
    lines = ["timestamp,value"] + [f"{t},{v}" for t, v in zip(stamps, values, strict=True)]
    source = tmp_path / "clock.csv"
    source.write_text("\n".join(lines) + "\n")
    result = run_cli("detect", str(source))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1, result.stderr
    assert "warning" in warnings[0] and str(source) in warnings[0]
    assert "1 row step back" in warnings[0] and "1 repeat" in warnings[0] and "line 202" in warnings[0]
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["timestamp"] for r in rows] == stamps
    assert [float(r["value"]) for r in rows] == values
    scores = [float(r["anomaly_score"]) for r in rows]
    assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)
    assert scores[350] == max(scores)


def test_detect_missing_file_is_one_line(tmp_path: Path) -> None:
    result = run_cli("detect", str(tmp_path / "absent.csv"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "absent.csv" in result.stderr


def test_legacy_records_are_scored_and_precision_recall_reported(capsys: pytest.CaptureFixture[str]) -> None:
    from scops_tui.detection.detector import DEFAULT_THRESHOLD, score_series
    from scops_tui.store.timestamps import parse_timestamp

    legacy = json.loads(data_file("legacy", "real_training_data.json").read_text())
    assert len(legacy) == 145
    columns = ["cpu_usage", "memory_usage", "disk_usage", "load_1m", "load_5m"]
    stamps = [parse_timestamp(record["timestamp"]) for record in legacy]
    rows = [[float(record[c]) for c in columns] for record in legacy]
    scores = score_series(stamps, rows)
    assert len(scores) == 145 and all(0.0 <= s <= 1.0 and math.isfinite(s) for s in scores)
    assert score_series(stamps[:100], rows[:100]) == scores[:100], "scoring is causal"
    labels = [bool(record["is_anomaly"]) for record in legacy]
    assert sum(labels) == 10
    flagged = [s >= DEFAULT_THRESHOLD for s in scores]
    tp = sum(f and a for f, a in zip(flagged, labels, strict=True))
    fp = sum(f and not a for f, a in zip(flagged, labels, strict=True))
    fn = sum(a and not f for f, a in zip(flagged, labels, strict=True))
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn)
    with capsys.disabled():
        print(
            f"\nlegacy 145 records at threshold {DEFAULT_THRESHOLD}: TP {tp}, FP {fp}, FN {fn}; "
            f"precision {precision:.3f}, recall {recall:.3f}"
        )
    assert tp + fn == 10


def seed_episodes(db_path: Path) -> list[int]:
    conn = store.open_database(db_path)
    ids = []
    for i, peak in enumerate((0.55, 0.92)):
        snapshot = EpisodeSnapshot(
            1_800_000_000_000 + i * 60_000, 1_800_000_005_000 + i * 60_000, peak, 5, (("cpu_usage", 9.0),)
        )
        with store.transaction(conn):
            ids.append(
                review.open_episode(
                    conn, snapshot, source="h", model_name="detector@h", model_version="1", model_version_id=None
                )
            )
    conn.close()
    return ids


def test_anomalies_list_json_and_review_actions(db_path: Path) -> None:
    medium, critical = seed_episodes(db_path)
    runner = CliRunner()
    listed = runner.invoke(main, ["--db", str(db_path), "anomalies", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    payload = json.loads(listed.output)
    assert [item["id"] for item in payload] == [critical, medium]
    for key in ("id", "timestamp", "source", "severity", "confidence_score", "acknowledged"):
        assert key in payload[0]
    assert payload[0]["severity"] == "critical" and payload[0]["acknowledged"] is False

    ack = runner.invoke(main, ["--db", str(db_path), "anomalies", "ack", str(critical), "--note", "on it"])
    assert ack.exit_code == 0 and "acknowledged" in ack.output
    fp = runner.invoke(main, ["--db", str(db_path), "anomalies", "false-positive", str(medium)])
    assert fp.exit_code == 0 and "false_positive" in fp.output
    resolved = runner.invoke(main, ["--db", str(db_path), "anomalies", "resolve", str(critical), "--note", "fixed"])
    assert resolved.exit_code == 0 and "resolved" in resolved.output

    assert json.loads(runner.invoke(main, ["--db", str(db_path), "anomalies", "list", "--json"]).output) == []
    everything = json.loads(
        runner.invoke(main, ["--db", str(db_path), "anomalies", "list", "--status", "all", "--json"]).output
    )
    by_id = {item["id"]: item for item in everything}
    assert by_id[critical]["status"] == "resolved"
    assert by_id[critical]["acknowledged_by"] == store.operator_username()
    assert "on it" in by_id[critical]["resolution_notes"] and "fixed" in by_id[critical]["resolution_notes"]
    assert by_id[medium]["verdict"] == "false_positive"
    only_critical = runner.invoke(
        main, ["--db", str(db_path), "anomalies", "list", "--status", "all", "--severity", "critical", "--json"]
    )
    assert [item["id"] for item in json.loads(only_critical.output)] == [critical]


def test_review_of_an_unknown_episode_is_one_line(db_path: Path) -> None:
    store.open_database(db_path).close()
    result = run_cli("--db", str(db_path), "anomalies", "ack", "999")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no anomaly episode with id 999" in result.stderr


def test_model_commands(db_path: Path) -> None:
    from tests.detection.test_registry import seed_history

    conn = store.open_database(db_path)
    seed_history(conn, 1200, source="trainee")
    conn.close()
    runner = CliRunner()
    trained = runner.invoke(main, ["--db", str(db_path), "model", "train", "--source", "trainee"])
    assert trained.exit_code == 0, trained.output
    assert "ready" in trained.output and "model deploy" in trained.output
    versions = json.loads(runner.invoke(main, ["--db", str(db_path), "model", "list", "--json"]).output)
    assert [(v["status"], v["kind"], v["training_data_size"]) for v in versions] == [
        ("ready", "isolation_forest", 1200)
    ]
    deployed = runner.invoke(main, ["--db", str(db_path), "model", "deploy", str(versions[0]["id"])])
    assert deployed.exit_code == 0 and "deployed" in deployed.output
    evaluated = runner.invoke(main, ["--db", str(db_path), "model", "evaluate", "--source", "trainee"])
    assert evaluated.exit_code == 0 and "0 verdicts" in evaluated.output
    table = runner.invoke(main, ["--db", str(db_path), "model", "list"])
    assert "detector@trainee" in table.output and "deployed" in table.output
    missing = run_cli("--db", str(db_path), "model", "deploy", "77")
    assert missing.returncode != 0 and "no model version with id 77" in missing.stderr
    short = run_cli("--db", str(db_path), "model", "train", "--source", "nobody")
    assert short.returncode != 0 and "training needs at least" in short.stderr and "Traceback" not in short.stderr
