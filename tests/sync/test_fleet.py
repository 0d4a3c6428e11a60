"""The server side of the fleet view on the real PostgreSQL: the latest-state rows and the rollup that each sync
batch keeps, the upgrade that backfills them, the read-only session and row-level security for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scops_tui.store import database as store
from scops_tui.store import migrations
from scops_tui.sync.fleet import FleetSession, HostKey, host_labels
from scops_tui.sync.server import SyncError, host_role_name, host_role_sql, init_server
from scops_tui.sync.target import resolve_target
from tests.fleet_hosts import MINUTE_MS, make_host, sample
from tests.pg import T0, admin_connect, sync, url_for

ROLLUP_EXTRAS = (
    ("sum_disk", "sum(disk_usage)"),
    ("max_disk", "max(disk_usage)"),
    ("sum_load_1m", "sum(load_1m)"),
    ("max_load_1m", "max(load_1m)"),
    ("sum_io_read", "sum(disk_io_read)"),
    ("max_io_read", "max(disk_io_read)"),
    ("sum_io_write", "sum(disk_io_write)"),
    ("max_io_write", "max(disk_io_write)"),
    ("sum_rx", "sum(network_rx)"),
    ("max_rx", "max(network_rx)"),
    ("sum_tx", "sum(network_tx)"),
    ("max_tx", "max(network_tx)"),
    ("max_score", "max(anomaly_score)"),
)


def rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def rollup_matches_metrics(url: str) -> bool:
    """Every hourly row's chart columns equal the aggregate of the raw rows of that hour."""
    kept = ", ".join(f"h.{name}" for name, _agg in ROLLUP_EXTRAS)
    computed = ", ".join(agg for _name, agg in ROLLUP_EXTRAS)
    stored = rows(url, f"SELECT h.source_db, h.source, h.hour, {kept} FROM metrics_hourly AS h ORDER BY 1, 2, 3")  # noqa: S608
    raw = rows(
        url,
        f"SELECT source_db, source, date_trunc('hour', \"timestamp\", 'UTC'), {computed} FROM metrics "  # noqa: S608
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    return bool(stored) and stored == raw


def latest_matches_metrics(url: str) -> bool:
    """metrics_latest holds each host's newest sample (by time), exactly."""
    kept = rows(
        url, 'SELECT source_db, source, "timestamp", cpu_usage, anomaly_score FROM metrics_latest ORDER BY 1, 2'
    )
    newest = rows(
        url,
        'SELECT DISTINCT ON (source_db, source) source_db, source, "timestamp", cpu_usage, anomaly_score '
        'FROM metrics ORDER BY source_db, source, "timestamp" DESC',
    )
    return bool(kept) and kept == newest


def test_each_batch_keeps_the_latest_row_and_the_rollup(tmp_path: Path, pg_server: str) -> None:
    path = tmp_path / "web.db"
    make_host(path, "web", T0, T0 + 150 * MINUTE_MS, 80.0)
    sync(path, pg_server, batch_size=40)
    assert latest_matches_metrics(pg_server) and rollup_matches_metrics(pg_server)
    before = rows(pg_server, "SELECT * FROM metrics_latest")
    sync(path, pg_server)  # nothing new: nothing changes
    assert rows(pg_server, "SELECT * FROM metrics_latest") == before
    conn = store.open_database(path)
    try:
        system = store.user_id(conn, "system")
        # A later sample, then one from a clock stepped back (a higher id, an older time).
        store.insert_metrics(conn, [sample(T0 + 151 * MINUTE_MS, "web", 12.5, 0.5)], created_by=system, created_at=T0)
        store.insert_metrics(
            conn, [sample(T0 + 10 * MINUTE_MS + 30_000, "web", 99.0, 0.99)], created_by=system, created_at=T0
        )
    finally:
        conn.close()
    sync(path, pg_server)
    latest = rows(pg_server, 'SELECT "timestamp", cpu_usage::float8 FROM metrics_latest')
    assert [(int(ts.timestamp() * 1000), cpu) for ts, cpu in latest] == [(T0 + 151 * MINUTE_MS, 12.5)]
    assert latest_matches_metrics(pg_server) and rollup_matches_metrics(pg_server)


def test_upgrading_to_version_6_backfills_the_latest_rows_and_the_rollup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    shipped = migrations.schema_dir("postgres")
    older = tmp_path / "postgres"
    older.mkdir()
    for found in sorted(shipped.glob("000[12345]_*.sql")):
        (older / found.name).write_text(found.read_text())
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "schema_dir", lambda dialect: older)
        assert init_server(resolve_target(pg_url))[1] == 5
    host = uuid.uuid4()
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT scops_ensure_metrics_partitions(%s::integer[])", ([T0 // 86_400_000],))
        for minute in range(90):
            admin.execute(
                'INSERT INTO metrics (source_db, local_id, "timestamp", source, cpu_usage, memory_usage, disk_usage, '
                "load_1m, load_5m, disk_io_read, disk_io_write, network_rx, network_tx, response_time, anomaly_score) "
                "VALUES (%s, %s, to_timestamp(%s::float8 / 1000), 'old', %s, 20, 30, 0.5, 0.5, %s, 2, 3, 4, 1, 0.1)",
                (host, minute + 1, T0 + minute * MINUTE_MS, minute % 100, 1000 + minute),
            )
        admin.execute(
            "INSERT INTO metrics_hourly (source_db, source, hour, total_metrics, sum_cpu, max_cpu, sum_memory, "
            "max_memory, sum_response_time, anomaly_count, anomaly_score_sum, anomaly_score_rows) "
            "SELECT source_db, source, date_trunc('hour', \"timestamp\", 'UTC'), count(*), sum(cpu_usage), "
            "max(cpu_usage), sum(memory_usage), max(memory_usage), sum(response_time), 0, 0, 0 "
            "FROM metrics GROUP BY 1, 2, 3"
        )
    assert init_server(resolve_target(pg_url)) == (["0006_fleet_state"], 6)
    assert latest_matches_metrics(pg_url) and rollup_matches_metrics(pg_url)


@pytest.fixture
def two_hosts(tmp_path: Path, pg_server: str) -> Iterator[dict[str, Any]]:
    """Hosts a and b synced by their own ingest roles, and a reader role."""
    dbname = str(psycopg.conninfo.conninfo_to_dict(pg_server)["dbname"])
    made: dict[str, Any] = {}
    roles: list[str] = []
    with admin_connect(dbname) as admin:
        for name in ("a", "b"):
            path = tmp_path / f"{name}.db"
            make_host(path, f"host-{name}", T0, T0 + 30 * MINUTE_MS, 50.0)
            conn = store.open_database(path)
            identity = store.database_id(conn)
            conn.close()
            admin.execute(host_role_sql(identity).encode())
            roles.append(host_role_name(identity))
            url = url_for(dbname, user=host_role_name(identity))
            sync(path, url)
            made[name] = (identity, url)
        reader = f"scops_reader_{uuid.uuid4().hex[:8]}"
        admin.execute(f"CREATE ROLE {reader} LOGIN IN ROLE scops_reader")
        roles.append(reader)
        made["reader"] = url_for(dbname, user=reader)
    try:
        yield made
    finally:
        with admin_connect(dbname) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY(%s)", (roles,))
            for role in roles:
                admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_an_ingest_role_sees_only_its_own_hosts_in_the_fleet_view(two_hosts: dict[str, Any]) -> None:
    identity_a, url_a = two_hosts["a"]
    session = FleetSession(resolve_target(url_a))
    try:
        assert [state.label for state in session.hosts()] == ["host-a"]
        assert not session.is_reader
        assert session.history("host-a", T0, T0 + 31 * MINUTE_MS, 50).summary.samples == 31
        with pytest.raises(SyncError, match="no host 'host-b'"):
            session.history("host-b", T0, T0 + 31 * MINUTE_MS, 50)
    finally:
        session.close()
    reader = FleetSession(resolve_target(two_hosts["reader"]))
    try:
        assert [state.label for state in reader.hosts()] == ["host-a", "host-b"]
        assert reader.is_reader
    finally:
        reader.close()
    identity_b, _url_b = two_hosts["b"]
    # Nor can it write another host's latest row (the INSERT policy, as on every synced table).
    with psycopg.connect(url_a) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            'INSERT INTO metrics_latest (source_db, source, "timestamp", cpu_usage, memory_usage, disk_usage, load_1m, '
            "load_5m, disk_io_read, disk_io_write, network_rx, network_tx, is_anomaly) "
            "VALUES (%s, 'host-b', now(), 1, 1, 1, 1, 1, 1, 1, 1, 1, false)",
            (identity_b,),
        )
    assert identity_a != identity_b


def test_the_fleet_session_only_reads(pg_server: str, tmp_path: Path) -> None:
    path = tmp_path / "web.db"
    make_host(path, "web", T0, T0 + 5 * MINUTE_MS, 10.0)
    sync(path, pg_server)
    session = FleetSession(resolve_target(pg_server))
    try:
        with pytest.raises(SyncError, match="read-only"):
            session._run(lambda conn: conn.execute("DELETE FROM metrics_latest"))
        assert len(session.hosts()) == 1
    finally:
        session.close()


def test_a_server_without_the_schema_is_one_line(pg_url: str) -> None:
    with pytest.raises(SyncError, match="has no scops-tui schema"):
        FleetSession(resolve_target(pg_url)).open()


def test_hosts_sharing_a_name_are_told_apart_by_their_database_id() -> None:
    a, b, c = HostKey("aaaaaaaa-1", "web"), HostKey("bbbbbbbb-2", "web"), HostKey("cccccccc-3", "db")
    assert host_labels([a, b, c]) == {a: "web@aaaaaaaa", b: "web@bbbbbbbb", c: "db"}
