"""A reader that stops early is not an error: the installed command, with real pipes, exits 0 quietly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.seed import SCOPS_COMMAND, seed

LISTINGS = [
    ["db", "status"],
    ["db", "status", "--json"],
    ["sync", "status"],
    ["anomalies", "list", "--status", "all"],
    ["model", "list"],
    ["config"],
    ["config", "--json"],
    ["export", "metrics"],
    ["--help"],
    ["db", "--help"],
]


@pytest.fixture
def env(tmp_path: Path, scops_home: Path) -> dict[str, str]:
    """The environment of a user whose database holds enough episodes to fill any pipe many times over."""
    db = tmp_path / "scops.db"
    seed(db, samples=3000, episodes=3000)
    return {**os.environ, "SCOPS_HOME": str(scops_home), "SCOPS_DB": str(db)}


@pytest.mark.parametrize("args", LISTINGS, ids=" ".join)
def test_a_closed_pipe_is_quiet_and_exits_0(env: dict[str, str], args: list[str]) -> None:
    """The pipe's reader is gone before the first byte: the first write fails, and the command says nothing."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.run(
            [*SCOPS_COMMAND, *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert process.stderr == ""
    assert process.returncode == 0


@pytest.mark.parametrize(
    "args",
    [["anomalies", "list", "--status", "all"], ["db", "status"], ["config"], ["export", "metrics"]],
    ids=" ".join,
)
def test_head_gets_its_line_and_the_pipeline_succeeds(env: dict[str, str], args: list[str]) -> None:
    """`scops-tui ... | head -1` under `set -o pipefail`: one line out, status 0, nothing on stderr."""
    command = " ".join(f"'{part}'" for part in [*SCOPS_COMMAND, *args])
    process = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | head -1"],
        capture_output=True,
        env=env,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.stderr == ""
    assert process.returncode == 0
    assert len(process.stdout.splitlines()) == 1


def test_the_full_listing_is_large_enough_to_break_the_pipe(env: dict[str, str]) -> None:
    """The listing above is bigger than a pipe's buffer, so `head -1` really closes it mid-stream."""
    process = subprocess.run(
        [*SCOPS_COMMAND, "anomalies", "list", "--status", "all"],
        capture_output=True,
        env=env,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0
    assert len(process.stdout.encode()) > 4 * 65_536
