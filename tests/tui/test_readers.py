"""The app's database watch: one kept connection that tells whether the database changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from scops_tui.detection import review
from scops_tui.errors import ScopsError
from scops_tui.store import database as store
from scops_tui.tui.readers import DatabaseWatch, read_status
from tests.tui.conftest import SOURCE


def test_the_watch_sees_a_commit_of_another_connection_and_nothing_else(seeded_db: Path) -> None:
    watch = DatabaseWatch(seeded_db)
    try:
        assert watch.changed()  # the first look
        assert watch.status(SOURCE) == read_status(seeded_db, SOURCE)
        assert not watch.changed()
        assert not watch.changed()
        conn = store.open_database(seeded_db)
        try:
            review.acknowledge(conn, 1, store.operator_username())
        finally:
            conn.close()
        assert watch.changed()
        assert watch.status(SOURCE).open_anomalies == read_status(seeded_db, SOURCE).open_anomalies
        assert not watch.changed()
    finally:
        watch.close()


def test_the_watch_of_a_missing_database_raises_until_it_exists(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    watch = DatabaseWatch(path)
    with pytest.raises(ScopsError):
        watch.changed()
    assert not path.exists()  # a reader creates nothing
    store.open_database(path).close()
    try:
        assert watch.changed()
        assert watch.status("any").open_anomalies == 0
    finally:
        watch.close()
