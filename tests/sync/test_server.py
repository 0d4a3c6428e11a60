"""The server side: its schema applied, upgraded, required, and refused when newer than the program."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from scops_tui.store import database as store
from scops_tui.sync.server import SyncError, init_server
from scops_tui.sync.target import resolve_target
from tests.pg import scalar, sync


def test_a_server_without_the_schema_is_refused_clearly(db_path: Path, pg_url: str) -> None:
    store.open_database(db_path).close()
    with pytest.raises(SyncError, match="--init-server"):
        sync(db_path, pg_url)


def test_init_server_is_idempotent(pg_url: str) -> None:
    target = resolve_target(pg_url)
    applied, version = init_server(target)
    assert len(applied) == version >= 3
    assert init_server(target) == ([], version)


def test_init_server_upgrades_an_older_server_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    from scops_tui.store import migrations

    shipped = migrations.schema_dir("postgres")
    older = tmp_path / "postgres"
    older.mkdir()
    (older / "0001_eight_tables.sql").write_text((shipped / "0001_eight_tables.sql").read_text())
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "schema_dir", lambda dialect: older)
        assert init_server(resolve_target(pg_url)) == (["0001_eight_tables"], 1)
    applied, version = init_server(resolve_target(pg_url))
    assert applied == [
        "0002_rollup_and_views",
        "0003_row_level_security",
        "0004_no_side_channels",
        "0005_summaries_and_units",
        "0006_fleet_state",
    ]
    assert version == 6 and scalar(pg_url, "SELECT count(*) FROM schema_migrations") == 6


def test_a_server_newer_than_the_program_is_refused(db_path: Path, pg_server: str) -> None:
    store.open_database(db_path).close()
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'from_the_future')")
    with pytest.raises(SyncError, match="newer than this program"):
        sync(db_path, pg_server)
    with pytest.raises(SyncError, match="newer than this program"):
        init_server(resolve_target(pg_server))
