"""Usage errors of the installed command are one line naming the parameter and the help to read, exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scops_tui.config import setting_names
from tests.cli.seed import run_installed, seed

USAGE_ERRORS = [
    (
        ["model", "deploy", "abc"],
        "invalid value for VERSION_ID: 'abc' is not an integer (see scops-tui model deploy --help)",
    ),
    (["model", "deploy"], "missing argument 'VERSION_ID' (see scops-tui model deploy --help)"),
    (
        ["anomalies", "list", "--status", "shut"],
        "invalid value for --status: 'shut' is not one of 'open', 'acknowledged', 'resolved', 'all' "
        "(see scops-tui anomalies list --help)",
    ),
    (["db", "status", "--bogus"], "no such option '--bogus' (see scops-tui db status --help)"),
    (
        ["anomalies", "ack", "0"],
        "invalid value for ID: '0' is outside the id range 1 to 9223372036854775807 "
        "(see scops-tui anomalies ack --help)",
    ),
    (["export", "metrics", "--since", "soon"], "invalid value for --since: 'soon': expected an ISO-8601 time"),
    (["no-such-command"], "no such command 'no-such-command' (see scops-tui --help)"),
    (["sync", "rejects", "drop", "x", "--yes"], "invalid value for ID...: 'x' is not a valid integer"),
]


@pytest.fixture
def env(tmp_path: Path, scops_home: Path) -> dict[str, str]:
    """A user's environment with a small database."""
    db = tmp_path / "scops.db"
    seed(db)
    return {**os.environ, "SCOPS_HOME": str(scops_home), "SCOPS_DB": str(db)}


@pytest.mark.parametrize(("args", "expected"), USAGE_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_a_usage_error_is_one_line_and_exit_2(env: dict[str, str], args: list[str], expected: str) -> None:
    """No usage block, no `Error:` prefix: one `scops-tui: error:` line that says where the help is."""
    result = run_installed(*args, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"scops-tui: error: {expected}")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("name", [n for n in setting_names() if n not in ("source", "db", "pg_url")])
def test_a_bad_environment_value_names_its_variable(env: dict[str, str], name: str) -> None:
    """`SCOPS_BUSY_TIMEOUT_MS=abc` (and each other numeric setting) says which variable, not a Python message."""
    variable = f"SCOPS_{name.upper()}"
    result = run_installed("db", "status", env={**env, variable: "abc"})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"scops-tui: error: environment: {variable} = 'abc': "), lines
    assert "invalid literal" not in result.stderr and "could not convert" not in result.stderr


def test_help_and_version_still_exit_0(env: dict[str, str]) -> None:
    """Taking over click's error handling keeps `--help` and `--version` as they were."""
    assert run_installed("--version", env=env).returncode == 0
    helped = run_installed("model", "deploy", "--help", env=env)
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: scops-tui model deploy")
