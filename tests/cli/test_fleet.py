"""`scops-tui fleet` before the app opens: a target it cannot use is one line, the password never printed,
no local database made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from psycopg.conninfo import make_conninfo

from tests import pg

pg_url = pg.pg_url

SCOPS = [sys.executable, "-m", "scops_tui"]
SECRET = "Fl33tSecret"


def run_fleet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    merged = {**os.environ, **(env or {})}
    return subprocess.run(
        [*SCOPS, "fleet", *args], capture_output=True, text=True, timeout=120, env=merged, check=False
    )


def one_clean_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scops-tui: error: "), result.stderr
    return lines[0]


def test_an_unreachable_server_is_one_line_without_the_password(scops_home: Path) -> None:
    line = one_clean_line(run_fleet("--url", f"postgresql://ops:{SECRET}@127.0.0.1:1/fleet"))
    assert "cannot reach" in line and "***" in line
    assert not any(scops_home.rglob("*.db"))


def test_a_server_without_the_schema_says_how_to_make_it(pg_url: str, scops_home: Path) -> None:
    url = make_conninfo(pg_url, password=SECRET)
    line = one_clean_line(run_fleet("--url", url))
    assert "no scops-tui schema" in line and "--init-server" in line
    assert not any(scops_home.rglob("*.db"))


def test_the_url_comes_from_scops_pg_url_as_for_sync(scops_home: Path) -> None:
    line = one_clean_line(run_fleet(env={"SCOPS_PG_URL": f"postgresql://ops:{SECRET}@127.0.0.1:1/fleet"}))
    assert "127.0.0.1:1" in line


def test_no_target_at_all_is_one_line(scops_home: Path) -> None:
    env = {
        name: "" for name in ("PGSERVICE", "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICEFILE")
    }
    line = one_clean_line(run_fleet(env=env))
    assert "no sync target" in line
