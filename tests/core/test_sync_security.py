"""Row-level security with real roles: a host's ingest role reads and writes only its own rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from scops_tui.core import store
from scops_tui.core.sync import SyncError, run_sync
from scops_tui.core.sync_server import host_role_name, host_role_sql
from scops_tui.core.sync_target import resolve_target
from tests import pg
from tests.pg import admin_connect, fill, url_for

pg_url = pg.pg_url
pg_server = pg.pg_server


@pytest.fixture
def hosts(tmp_path: Path, pg_server: str) -> Iterator[dict[str, tuple[Path, uuid.UUID, str]]]:
    """Two local databases, each with its ingest role made from the SQL `--init-server` prints."""
    dbname = str(psycopg.conninfo.conninfo_to_dict(pg_server)["dbname"])
    made: dict[str, tuple[Path, uuid.UUID, str]] = {}
    roles = []
    with admin_connect(dbname) as admin:
        for name in ("a", "b"):
            path = tmp_path / f"{name}.db"
            conn = store.open_database(path)
            fill(conn, metrics=200)
            identity = store.database_id(conn)
            conn.close()
            admin.execute(host_role_sql(identity).encode())
            roles.append(host_role_name(identity))
            made[name] = (path, identity, url_for(dbname, user=host_role_name(identity)))
        reader = f"scops_reader_{uuid.uuid4().hex[:8]}"
        admin.execute(f"CREATE ROLE {reader} LOGIN IN ROLE scops_reader")
        roles.append(reader)
        made["reader"] = (tmp_path, uuid.UUID(int=0), url_for(dbname, user=reader))
    try:
        yield made
    finally:
        with admin_connect(dbname) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY(%s)", (roles,))
            for role in roles:
                admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_each_host_role_syncs_and_sees_only_its_own_rows(hosts: dict[str, tuple[Path, uuid.UUID, str]]) -> None:
    (path_a, id_a, url_a), (path_b, id_b, url_b) = hosts["a"], hosts["b"]
    assert run_sync(path_a, resolve_target(url_a)).tables["metrics"].inserted == 200
    assert run_sync(path_b, resolve_target(url_b)).tables["metrics"].inserted == 200
    with psycopg.connect(url_a) as pg:
        for table in store.TABLES:
            seen = pg.execute(f"SELECT count(DISTINCT source_db), count(*) FROM {table}").fetchone()  # noqa: S608
            assert seen is not None and seen[0] == 1, table
        assert pg.execute("SELECT DISTINCT source_db FROM metrics").fetchone()[0] == id_a
        assert pg.execute("SELECT count(*) FROM sync_checkpoints WHERE source_db = %s", (id_b,)).fetchone()[0] == 0
    _, _, url_reader = hosts["reader"]
    with psycopg.connect(url_reader) as pg:
        owners = {
            row[0]
            for row in pg.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename = ANY(%s)", (list(store.TABLES),)
            )
        }
        assert owners and not owners & {"scops_ingest", "scops_reader", host_role_name(id_a), host_role_name(id_b)}
        assert pg.execute("SELECT count(DISTINCT source_db) FROM metrics").fetchone()[0] == 2
        assert pg.execute("SELECT sum(total_metrics) FROM hourly_metrics_summary").fetchone()[0] == 400
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.execute("UPDATE metrics SET cpu_usage = 0")


def test_a_host_role_cannot_write_or_change_another_hosts_rows(
    hosts: dict[str, tuple[Path, uuid.UUID, str]],
) -> None:
    (_, _, url_a), (path_b, id_b, url_b) = hosts["a"], hosts["b"]
    run_sync(path_b, resolve_target(url_b))
    with psycopg.connect(url_a) as pg:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            pg.execute(
                'INSERT INTO anomaly_predictions (source_db, local_id, "timestamp", source, anomaly_detected, '
                "confidence_score, model_name, model_version) VALUES (%s, 999, now(), 'x', true, 0.5, 'm', '1')",
                (id_b,),
            )
        pg.rollback()
        changed = pg.execute("UPDATE anomaly_predictions SET acknowledged = false WHERE source_db = %s", (id_b,))
        assert changed.rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.execute("DELETE FROM metrics")
    # Host A's role pushing host B's database is refused as a whole, not row by row.
    with pytest.raises(SyncError, match="row-level security"):
        run_sync(hosts["b"][0], resolve_target(url_a))
    _, _, url_reader = hosts["reader"]
    with psycopg.connect(url_reader) as pg:
        assert pg.execute("SELECT count(*) FROM metrics").fetchone()[0] == 200


def test_a_user_shared_by_uuid_is_changed_only_by_its_first_host(
    hosts: dict[str, tuple[Path, uuid.UUID, str]],
) -> None:
    (path_a, id_a, url_a), (path_b, _, url_b) = hosts["a"], hosts["b"]
    run_sync(path_a, resolve_target(url_a))
    conn_a = store.open_database(path_a)
    shared = store.user_id(conn_a, "system")
    conn_a.close()
    conn_b = store.open_database(path_b)
    conn_b.execute(
        "INSERT INTO users (id, username, email, role, updated_at) VALUES (?, 'roaming', 'r@b', 'viewer', ?)",
        (shared, 4_000_000_000_000),
    )
    conn_b.close()
    report = run_sync(path_b, resolve_target(url_b))
    assert report.tables["users"].rejected == 0 and report.tables["metrics"].inserted == 200
    _, _, url_reader = hosts["reader"]
    with psycopg.connect(url_reader) as pg:
        owner, name = pg.execute(
            "SELECT source_db, username FROM users WHERE id = %s", (uuid.UUID(bytes=shared),)
        ).fetchone()
        assert owner == id_a and name == "system"
