"""Shell completion through the installed command: values from the database, and silence when it is missing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.cli.seed import LONG_SOURCE, SOURCE, run_installed, seed


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "scops.db"
    seed(path, episodes=12)
    return path


def complete(words: str, scops_home: Path, shell: str = "bash", **extra: str) -> tuple[list[str], str, int]:
    """What the shell would be offered for the command line `words` (the last word is being typed)."""
    parts = words.split(" ")
    env = {
        **os.environ,
        "SCOPS_HOME": str(scops_home),
        "_SCOPS_TUI_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1) if shell != "fish" else parts[-1],
        **extra,
    }
    result = run_installed(env=env)
    if shell == "bash":
        values = [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]
    else:
        lines = result.stdout.splitlines()
        values = [lines[i + 1] + " | " + lines[i + 2] for i in range(0, len(lines) - 2, 3)]
    return values, result.stderr, result.returncode


def test_episode_ids_come_from_the_database_newest_first(db: Path, scops_home: Path) -> None:
    values, err, code = complete(f"scops-tui --db {db} anomalies ack ", scops_home)
    assert (values, err, code) == ([str(n) for n in range(12, 0, -1)], "", 0)
    typed, _, _ = complete(f"scops-tui --db {db} anomalies resolve 1", scops_home)
    assert typed == ["12", "11", "10", "1"]


def test_episode_ids_carry_their_status_in_zsh(db: Path, scops_home: Path) -> None:
    values, err, _ = complete(f"scops-tui --db {db} anomalies confirm 2", scops_home, shell="zsh")
    assert err == ""
    assert values == [f"2 | resolved high 2026-01-01T00:02 {SOURCE}"]


def test_model_version_ids_and_sources(db: Path, scops_home: Path) -> None:
    values, _, _ = complete(f"scops-tui --db {db} model deploy ", scops_home, shell="zsh")
    assert values == [f"2 | detector@{LONG_SOURCE} v1 deployed", f"1 | detector@{SOURCE} v1 deployed"]
    sources, _, _ = complete(f"scops-tui --db {db} model list --source w", scops_home)
    assert sources == [SOURCE]


def test_the_database_comes_from_the_environment_too(db: Path, scops_home: Path) -> None:
    values, _, _ = complete("scops-tui model evaluate ", scops_home, SCOPS_DB=str(db))
    assert values == ["2", "1"]


def test_tables_and_formats(scops_home: Path) -> None:
    assert complete("scops-tui export ml", scops_home)[0] == ["ml_models", "ml_model_versions"]
    assert complete("scops-tui export metrics --format j", scops_home)[0] == ["jsonl", "json"]
    assert complete("scops-tui import metrics x.csv --format ", scops_home)[0] == ["json", "csv"]


@pytest.mark.parametrize(
    "words",
    ["anomalies ack ", "model deploy ", "model list --source ", "export metrics --source "],
)
def test_a_missing_database_completes_nothing_silently_and_creates_nothing(
    tmp_path: Path, scops_home: Path, words: str
) -> None:
    missing = tmp_path / "nowhere" / "scops.db"
    values, err, code = complete(f"scops-tui --db {missing} {words}", scops_home)
    assert (values, err, code) == ([], "", 0)
    assert not missing.parent.exists()


def test_a_broken_database_or_setting_completes_nothing_silently(tmp_path: Path, scops_home: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    before = hashlib.sha256(junk.read_bytes()).hexdigest()
    assert complete(f"scops-tui --db {junk} anomalies ack ", scops_home) == ([], "", 0)
    assert hashlib.sha256(junk.read_bytes()).hexdigest() == before
    assert complete("scops-tui model deploy ", scops_home, SCOPS_BUSY_TIMEOUT_MS="abc") == ([], "", 0)


@pytest.mark.parametrize(
    ("shell", "marker"), [("bash", "complete -o nosort -F"), ("zsh", "compdef"), ("fish", "complete")]
)
def test_the_readme_activation_scripts_are_printed(scops_home: Path, shell: str, marker: str) -> None:
    env = {**os.environ, "SCOPS_HOME": str(scops_home), "_SCOPS_TUI_COMPLETE": f"{shell}_source"}
    result = run_installed(env=env)
    assert result.returncode == 0 and marker in result.stdout and "scops-tui" in result.stdout
