"""`scops-tui service unit JOB [--user]`: units that systemd accepts, with this installation's paths."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scops_tui.cli.service import quote
from tests.cli.seed import run_installed

JOBS = ["record", "serve", "sync"]
SECRET = "postgresql://ops:hunter2-secret@db.example.org/scops"


def fields(text: str) -> dict[str, list[str]]:
    """Each `Key=value` of the unit, by key (comments and section headers left out)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


@pytest.fixture
def env(tmp_path: Path, scops_home: Path) -> dict[str, str]:
    """A user with a database in a folder of its own, a source name and a secret sync URL in the environment."""
    db_dir = tmp_path / "data dir"
    db_dir.mkdir()
    return {
        **os.environ,
        "SCOPS_HOME": str(scops_home),
        "SCOPS_DB": str(db_dir / "scops.db"),
        "SCOPS_SOURCE": "web-01",
        "SCOPS_PG_URL": SECRET,
    }


@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
@pytest.mark.parametrize("job", JOBS)
def test_the_unit_is_valid_and_knows_this_installation(
    env: dict[str, str], tmp_path: Path, job: str, user: bool
) -> None:
    result = run_installed("service", "unit", job, *(["--user"] if user else []), env=env)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    unit = fields(text)
    executable = unit["ExecStart"][0].split(" ", 1)[0]
    assert Path(executable).is_absolute() and os.access(executable, os.X_OK)
    db = env["SCOPS_DB"].replace("%", "%%")
    assert f'--db "{db}"' in unit["ExecStart"][0]
    assert unit["Restart"] == ["on-failure"]
    assert '"SCOPS_SOURCE=web-01"' in unit["Environment"] or "SCOPS_SOURCE=web-01" in unit["Environment"]
    assert "hunter2" not in text and "SCOPS_PG_URL" not in text
    if job == "record":
        assert unit["Nice"] == ["10"] and unit["IOSchedulingClass"] == ["idle"]
    if job == "sync":
        assert unit["ExecStart"][0].endswith(" sync --watch") and unit["RestartPreventExitStatus"] == ["2"]
    if user:
        assert unit["WantedBy"] == ["default.target"] and "ProtectSystem" not in unit and "User" not in unit
    else:
        assert unit["WantedBy"] == ["multi-user.target"]
        assert unit["ProtectSystem"] == ["strict"] and unit["NoNewPrivileges"] == ["yes"]
        assert "PrivateTmp" not in unit  # the test's database lives under /tmp, which a private /tmp would hide
        assert f'"-{Path(env["SCOPS_DB"]).parent}"' in unit["ReadWritePaths"][0]
    systemd_analyze = shutil.which("systemd-analyze")
    if systemd_analyze is None:
        return  # the field checks above are all that can be done without systemd
    path = tmp_path / f"scops-{job}.service"
    path.write_text(text)
    verified = subprocess.run(
        [systemd_analyze, "verify", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert verified.returncode == 0, verified.stderr
    assert str(path) not in verified.stderr, verified.stderr  # no warning about our unit


def test_a_private_tmp_only_when_the_database_is_not_under_tmp(env: dict[str, str]) -> None:
    """PrivateTmp would hide a database kept under /tmp: the unit has it only for a database elsewhere."""
    elsewhere = {**env, "SCOPS_HOME": "/var/lib/scops-unit-test"}
    result = run_installed("--db", "/var/lib/scops-unit-test/scops.db", "service", "unit", "record", env=elsewhere)
    unit = fields(result.stdout)
    assert unit["PrivateTmp"] == ["yes"] and unit["ReadWritePaths"] == ["-/var/lib/scops-unit-test"]
    assert not Path("/var/lib/scops-unit-test").exists()  # printing a unit creates nothing


def test_an_unknown_job_is_one_usage_line(env: dict[str, str]) -> None:
    result = run_installed("service", "unit", "backup", env=env)
    assert result.returncode == 2 and result.stderr.startswith("scops-tui: error: invalid value for")


@pytest.mark.parametrize(
    ("word", "written"),
    [("/usr/bin/x", "/usr/bin/x"), ("/a b/c", '"/a b/c"'), ("50%", "50%%"), ('say "hi"', '"say \\"hi\\""')],
)
def test_exec_words_are_quoted_for_systemd(word: str, written: str) -> None:
    assert quote(word) == written
