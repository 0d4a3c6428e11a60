"""Shared fixtures: every test runs with SCOPS_HOME in a fresh temporary directory."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from scops_tui.store import database as store

SHARED = Path(__file__).resolve().parents[2] / "shared"
"""The shared data directory that sits beside the checkout (legacy files, NAB series)."""


@pytest.fixture(autouse=True)
def scops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point SCOPS_HOME at a temporary directory and clear other SCOPS_* variables."""
    home = tmp_path / "scops-home"
    home.mkdir()
    for name in list(__import__("os").environ):
        if name.startswith("SCOPS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SCOPS_HOME", str(home))
    return home


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a database file that does not exist yet."""
    return tmp_path / "test.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh scops-tui database at the current schema version, opened for writing."""
    connection = store.open_database(db_path)
    yield connection
    connection.close()


def shared_file(*parts: str) -> Path:
    """A file under ../shared, or skip the test saying clearly that the shared data is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data missing: {path} (CI keeps ../shared beside the clone)")
    return path
