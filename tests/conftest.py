"""Shared fixtures: every test runs with SCOPS_HOME in a fresh temporary directory."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from scops_tui.store import database as store

DATA = Path(__file__).resolve().parent / "data"
"""The small data files the tests read (legacy files, a NAB series), kept in the repository: see data/README.md."""


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


def data_file(*parts: str) -> Path:
    """A file (or folder) under tests/data; a missing one fails the test (the files ship with the repository)."""
    path = DATA.joinpath(*parts)
    assert path.exists(), f"test data missing: {path} (it belongs in the repository, see tests/data/README.md)"
    return path
