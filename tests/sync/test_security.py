"""Row-level security with real roles: a host's ingest role reads and writes only its own rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from scops_tui.store import database as store
from scops_tui.sync.push import run_sync
from scops_tui.sync.server import SyncError, host_role_name, host_role_sql
from scops_tui.sync.target import resolve_target
from tests.pg import add_metrics, admin_connect, fill, url_for


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


def test_a_user_uuid_in_two_hosts_lands_once_per_host_and_neither_overwrites_the_other(
    hosts: dict[str, tuple[Path, uuid.UUID, str]],
) -> None:
    (path_a, id_a, url_a), (path_b, id_b, url_b) = hosts["a"], hosts["b"]
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
    assert report.tables["users"].rejected == 0 and report.tables["users"].inserted == 3
    _, _, url_reader = hosts["reader"]
    with psycopg.connect(url_reader) as pg:
        rows = pg.execute(
            "SELECT source_db, username FROM users WHERE id = %s ORDER BY username", (uuid.UUID(bytes=shared),)
        ).fetchall()
        assert rows == [(id_b, "roaming"), (id_a, "system")]


def test_an_ingest_role_learns_nothing_about_another_hosts_users(
    hosts: dict[str, tuple[Path, uuid.UUID, str]],
) -> None:
    (path_a, _, url_a), (_, id_b, url_b) = hosts["a"], hosts["b"]
    run_sync(path_a, resolve_target(url_a))
    conn_a = store.open_database(path_a)
    theirs = [uuid.UUID(bytes=row[0]) for row in conn_a.execute("SELECT id FROM users")]
    conn_a.close()
    unknown = uuid.uuid4()
    with psycopg.connect(url_b, autocommit=True) as pg:
        assert pg.execute("SELECT count(*) FROM users WHERE id = ANY(%s)", (theirs,)).fetchone()[0] == 0
        # No function answers for rows the role may not see (scops_foreign_users named another host's ids).
        found = pg.execute(
            "SELECT count(*) FROM pg_proc p WHERE p.proname LIKE 'scops\\_%%' AND p.prosecdef "
            "AND has_function_privilege(p.oid, 'EXECUTE') AND pg_get_function_arguments(p.oid) LIKE '%%uuid%%'"
        ).fetchone()[0]
        assert found == 0
        with pytest.raises(psycopg.errors.UndefinedFunction):
            pg.execute("SELECT scops_foreign_users(%s, %s)", (id_b, [*theirs, unknown]))
        # Writing a user with another host's UUID behaves exactly as with a UUID nobody has.
        for probe in (theirs[0], unknown):
            inserted = pg.execute(
                "INSERT INTO users (id, source_db, username, email, role) VALUES (%s, %s, %s, 'p@b', 'viewer') "
                "ON CONFLICT DO NOTHING",
                (probe, id_b, f"probe-{probe.hex[:8]}"),
            )
            assert inserted.rowcount == 1


def _partition_count(url: str) -> int:
    dbname = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    with admin_connect(dbname) as admin:
        return int(
            admin.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'metrics'::regclass").fetchone()[0]
        )


def test_an_ingest_role_cannot_make_unbounded_partitions(hosts: dict[str, tuple[Path, uuid.UUID, str]]) -> None:
    (path_a, _, url_a) = hosts["a"]
    run_sync(path_a, resolve_target(url_a))
    before = _partition_count(url_a)
    today = int(time.time() // 86_400)
    with psycopg.connect(url_a, autocommit=True) as pg:
        made = pg.execute(
            "SELECT scops_ensure_metrics_partitions(%s::integer[])", (list(range(today - 399, today + 1)),)
        ).fetchone()[0]
        pg.execute("SELECT scops_ensure_metrics_partitions(%s::integer[])", ([today + 5, today + 400],))
    # At most the window: 31 days back, today, 2 days ahead (some of which the sync already made).
    assert made <= 34 and _partition_count(url_a) - before == made
    # Old samples still land (in the default partition), and a table owner may still go further back.
    conn = store.open_database(path_a)
    add_metrics(conn, 3, start=(today - 200) * 86_400_000)
    conn.close()
    assert run_sync(path_a, resolve_target(url_a)).tables["metrics"].inserted == 3
    assert _partition_count(url_a) - before == made
    dbname = str(psycopg.conninfo.conninfo_to_dict(url_a)["dbname"])
    with admin_connect(dbname) as admin:
        assert (
            admin.execute("SELECT scops_ensure_metrics_partitions(%s::integer[])", ([today - 300],)).fetchone()[0] == 1
        )


def test_upgrading_a_server_with_shared_users_keys_them_per_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    from scops_tui.store import migrations
    from scops_tui.sync.server import init_server

    shipped = migrations.schema_dir("postgres")
    older = tmp_path / "postgres"
    older.mkdir()
    for path in sorted(shipped.glob("000[123]_*.sql")):
        (older / path.name).write_text(path.read_text())
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "schema_dir", lambda dialect: older)
        assert init_server(resolve_target(pg_url))[1] == 3
    host_a, host_b, shared = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(pg_url, autocommit=True) as admin:
        # Version 3 kept one row per UUID: host B's model points at the user host A sent first.
        admin.execute(
            "INSERT INTO users (id, source_db, username, email, role) VALUES (%s, %s, 'system', 's@a', 'admin')",
            (shared, host_a),
        )
        admin.execute(
            "INSERT INTO ml_models (source_db, local_id, model_name, model_type, created_by) "
            "VALUES (%s, 1, 'm', 'rule_based', %s)",
            (host_b, shared),
        )
        admin.execute(
            "INSERT INTO sync_checkpoints (source_db, table_name, last_id) VALUES (%s, 'users', 7), (%s, 'metrics', 9)",
            (host_b, host_b),
        )
    assert init_server(resolve_target(pg_url)) == (
        ["0004_no_side_channels", "0005_summaries_and_units", "0006_fleet_state"],
        6,
    )
    with psycopg.connect(pg_url) as admin:
        copies = admin.execute(
            "SELECT source_db, extract(epoch FROM updated_at) FROM users WHERE id = %s ORDER BY source_db = %s",
            (shared, host_a),
        ).fetchall()
        # Host B gets its own copy, dated at the epoch so that B's own row (sent again) replaces it.
        assert [row[0] for row in copies] == [host_b, host_a] and copies[0][1] == 0
        invalid = admin.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"
        ).fetchone()
        assert invalid[0] == 0
        checkpoints = dict(admin.execute("SELECT table_name, last_id FROM sync_checkpoints").fetchall())
        assert checkpoints == {"users": 0, "metrics": 9}
        assert admin.execute("SELECT to_regprocedure('scops_foreign_users(uuid, uuid[])')").fetchone()[0] is None
