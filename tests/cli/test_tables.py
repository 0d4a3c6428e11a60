"""Listings size their columns to their content and cut long text with an ellipsis."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scops_tui.cli.table import Column, display_width, fit, render_table
from tests.cli.seed import LONG_SOURCE, run_installed, seed


@pytest.fixture
def env(tmp_path: Path, scops_home: Path) -> dict[str, str]:
    db = tmp_path / "scops.db"
    seed(db, episodes=5)
    return {**os.environ, "SCOPS_HOME": str(scops_home), "SCOPS_DB": str(db)}


def column_starts(line: str, headings: list[str]) -> list[int]:
    return [line.index(heading) for heading in headings]


def test_a_long_status_does_not_shift_the_next_column(env: dict[str, str]) -> None:
    """`acknowledged (false_positive)` fits its column: every row's metrics start under the heading."""
    result = run_installed("anomalies", "list", "--status", "all", env=env)
    assert result.returncode == 0, result.stderr
    heading, *rows = result.stdout.splitlines()
    start = heading.index("metrics")
    assert any("acknowledged (false_positive)" in row for row in rows)
    assert all(row[start:].startswith("cpu_usage") for row in rows), result.stdout
    assert all(row == row.rstrip() for row in rows)


def test_a_long_model_name_is_cut_with_an_ellipsis_and_columns_stay_aligned(env: dict[str, str]) -> None:
    result = run_installed("model", "list", env=env)
    assert result.returncode == 0, result.stderr
    heading, *rows = result.stdout.splitlines()
    long_row = next(row for row in rows if LONG_SOURCE[:10] in row)
    assert "…" in long_row and LONG_SOURCE not in long_row
    start = heading.index("status")
    assert all(row[start:].startswith("deployed") for row in rows), result.stdout


def test_render_table_sizes_columns_to_content() -> None:
    lines = render_table([Column("id", right=True), Column("name")], [(1, "a"), (100, "bcd")])
    assert lines == [" id  name", "  1  a", "100  bcd"]


def test_fit_cuts_with_an_ellipsis_only_when_needed() -> None:
    assert fit("abcdef", 6) == "abcdef"
    assert fit("abcdefg", 6) == "abcde…"
    assert fit("abc", None) == "abc"


def test_wide_and_control_characters_keep_the_table_straight() -> None:
    """A wide CJK name takes two columns a character; a newline in a name is shown escaped, not printed."""
    lines = render_table([Column("name"), Column("n", right=True)], [("主机", 1), ("a\nb", 2), ("x", 3)])
    assert len(lines) == 4
    assert {display_width(line) for line in lines} == {display_width(lines[0])}
    assert "a\\nb" in lines[2]
    assert display_width(fit("主机主机", 5)) <= 5
