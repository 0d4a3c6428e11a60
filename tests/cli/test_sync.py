"""`scops-tui sync`: one-shot, --init-server, status, connection strings from every layer, masked errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from psycopg.conninfo import make_conninfo

from scops_tui.cli.main import main
from scops_tui.store import database as store
from tests import pg
from tests.pg import add_metrics, fill

pg_url = pg.pg_url
pg_server = pg.pg_server

SCOPS = [sys.executable, "-m", "scops_tui"]
DEAD = "postgresql://scops:hunter2@127.0.0.1:1/scops"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCOPS, *args], capture_output=True, text=True, timeout=120, env=env, check=False)


def invoke(*args: str, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def database(scops_home: Path) -> Path:
    path = scops_home / "scops.db"
    conn = store.open_database(path)
    fill(conn, metrics=120)
    conn.close()
    return path


@pytest.mark.usefixtures("database")
def test_unreachable_server_is_one_masked_line_and_a_non_zero_exit() -> None:
    result = run_cli("sync", "--url", DEAD)
    assert result.returncode == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("scops-tui: error: cannot reach sync target"), result.stderr
    assert "hunter2" not in result.stderr + result.stdout and "scops:***@127.0.0.1:1" in lines[0]
    status = run_cli("sync", "status", "--json")
    assert status.returncode == 0
    assert "hunter2" not in status.stdout and json.loads(status.stdout)["last_error"].startswith("cannot reach")


@pytest.mark.usefixtures("database")
def test_init_server_then_sync_then_status(pg_url: str) -> None:
    init = run_cli("sync", "--init-server", "--url", pg_url)
    assert init.returncode == 0, init.stderr
    assert "CREATE ROLE scops_host_" in init.stdout and "INSERT INTO sync_host_roles" in init.stdout
    assert "0003_row_level_security" in init.stderr
    again = run_cli("sync", "--init-server", "--url", pg_url)
    assert "already at scops-tui schema version 6" in again.stderr
    pushed = run_cli("sync", "--url", pg_url, "--batch-size", "50")
    assert pushed.returncode == 0, pushed.stderr
    assert "synced 133 rows" in pushed.stdout and "metrics" in pushed.stdout
    status = json.loads(run_cli("sync", "--url", pg_url, "status", "--json").stdout)
    assert status["pending_total"] == 0 and status["last_success_at"] and status["reject_count"] == 0
    text = run_cli("sync", "status").stdout
    assert "pending       0 rows" in text and "last success" in text


def test_the_url_comes_from_the_environment_and_libpq(database: Path, pg_server: str) -> None:
    env = {**os.environ, "SCOPS_PG_URL": pg_server}
    first = run_cli("sync", "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["tables"]["metrics"]["inserted"] == 120
    conn = store.open_database(database)
    add_metrics(conn, 3, start=10**12 + 10**9)
    conn.close()
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(pg_server)
    libpq = {k: v for k, v in os.environ.items() if not k.startswith(("SCOPS_PG_URL", "PG"))}
    libpq.update({"PGHOST": str(parts["host"]), "PGPORT": str(parts["port"]), "PGDATABASE": str(parts["dbname"])})
    libpq["PGUSER"] = str(parts["user"])
    result = run_cli("sync", "--json", env=libpq)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["target"].startswith("libpq defaults") and report["tables"]["metrics"]["inserted"] == 3


def test_config_file_pg_url_must_be_private(scops_home: Path, database: Path) -> None:
    config = scops_home / "config.toml"
    config.write_text(f'pg_url = "{DEAD}"\n')
    config.chmod(0o644)
    refused = run_cli("sync")
    assert refused.returncode == 2 and "chmod 600" in refused.stderr and "hunter2" not in refused.stderr
    config.chmod(0o600)
    reached = run_cli("sync")
    assert reached.returncode == 3 and "hunter2" not in reached.stderr and "scops:***@" in reached.stderr
    shown = run_cli("config", "--json")
    assert "hunter2" not in shown.stdout
    assert json.loads(shown.stdout)["pg_url"]["value"] == "postgresql://scops:***@127.0.0.1:1/scops"
    assert "hunter2" not in run_cli("config").stdout


@pytest.mark.usefixtures("database")
def test_dry_run_and_no_target() -> None:
    dry = invoke("sync", "--url", DEAD, "--dry-run")
    assert "would send 133 rows" in dry.output  # type: ignore[attr-defined]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    missing = run_cli("sync", env=env)
    assert missing.returncode == 2 and "no sync target" in missing.stderr


def _watch_until(url: str, wanted: str, count: int) -> tuple[int, str]:
    """Run `sync --watch` until `count` stderr lines hold `wanted`, stop it with SIGTERM; exit status, stderr."""
    import signal

    process = subprocess.Popen(
        [*SCOPS, "sync", "--watch", "--interval", "0.2", "--url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        for line in process.stderr:
            seen.append(line)
            if sum(wanted in item for item in seen) >= count:
                break
        process.send_signal(signal.SIGTERM)
        _out, rest = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    return process.returncode, "".join(seen) + rest


@pytest.mark.usefixtures("database")
def test_watch_that_never_succeeded_retries_then_exits_non_zero_saying_how_many_runs_failed() -> None:
    code, err = _watch_until(DEAD, "retrying in", 3)
    retries = [line for line in err.splitlines() if "retrying in" in line]
    assert len(retries) >= 3 and all("cannot reach sync target" in line for line in retries)
    assert code == 3, err
    assert "hunter2" not in err
    failed = len(retries)
    assert f"sync stopped after 0 successful run(s), {failed} failed" in err
    summary = f"scops-tui: error: sync --watch never succeeded: all {failed} run(s) failed; last error: cannot"
    assert err.strip().splitlines()[-1].startswith(summary)


@pytest.mark.usefixtures("database")
def test_watch_that_synced_exits_0_when_stopped(pg_server: str) -> None:
    code, err = _watch_until(pg_server, "synced", 1)
    assert code == 0, err
    assert "sync stopped after " in err and "successful run(s)" in err and "failed" not in err
    assert "scops-tui: error" not in err


def test_init_server_on_a_missing_database_is_exit_2_with_a_createdb_hint(database: Path) -> None:
    url = pg.url_for("scops_no_such_database_x")
    result = run_cli("sync", "--init-server", "--url", url)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith('scops-tui: error: database "scops_no_such_database_x" does not exist on ')
    host = psycopg_params(url)
    assert f"createdb -h {host['host']} -p {host['port']}" in lines[0] and "scops_no_such_database_x`" in lines[0]
    assert "cannot reach" not in lines[0]
    plain = run_cli("sync", "--url", url)
    assert plain.returncode == 2 and "createdb" in plain.stderr


@pytest.mark.usefixtures("database")
def test_dry_run_needs_no_target(scops_home: Path) -> None:
    """No --url, no SCOPS_PG_URL, no config, no libpq variables: the dry run still counts what is pending."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SCOPS_"))}
    env["SCOPS_HOME"] = str(scops_home)
    dry = run_cli("sync", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would send 133 rows for (no target configured)" in dry.stdout
    as_json = run_cli("sync", "--dry-run", "--json", env=env)
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["dry_run"] is True


def test_dry_run_creates_no_database(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "scops.db"
    result = run_cli("--db", str(missing), "sync", "--dry-run", "--url", DEAD)
    assert result.returncode == 1 and result.stderr.startswith("scops-tui: error: no database at")
    assert not missing.parent.exists()


def _poison_one_metric(path: Path) -> int:
    conn = store.open_database(path)
    try:
        bad = int(conn.execute("SELECT max(id) FROM metrics").fetchone()[0])
        conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.execute("UPDATE metrics SET cpu_usage = 25000 WHERE id = ?", (bad,))
        conn.execute("PRAGMA ignore_check_constraints = OFF")
        return bad
    finally:
        conn.close()


def test_sync_rejects_lists_retries_and_drops(database: Path, pg_server: str) -> None:
    bad = _poison_one_metric(database)
    assert run_cli("sync", "--url", pg_server).returncode == 0
    listed = run_cli("sync", "rejects", "--json")
    assert listed.returncode == 0, listed.stderr
    [reject] = json.loads(listed.stdout)["rejects"]
    assert (reject["table"], reject["local_id"], reject["sqlstate"]) == ("metrics", bad, "23514")
    text = run_cli("sync", "rejects")
    assert "metrics" in text.stdout and "23514" in text.stdout and str(reject["id"]) in text.stdout
    status = run_cli("sync", "status", "--json")
    assert json.loads(status.stdout)["pending"]["metrics"] == 1
    assert "refused by the server" in run_cli("sync", "status").stdout
    retry = run_cli("sync", "rejects", "retry", "--url", pg_server)
    assert retry.returncode == 0 and "retried 1 refused rows" in retry.stdout and "1 still refused" in retry.stdout
    refused = run_cli("sync", "rejects", "drop", str(reject["id"]))
    assert refused.returncode != 0 and refused.stderr.startswith("scops-tui: error: ") and "--yes" in refused.stderr
    unknown = run_cli("sync", "rejects", "drop", "999999", "--yes")
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1 and "no reject with id 999999" in unknown.stderr
    dropped = run_cli("sync", "rejects", "drop", str(reject["id"]), "--yes")
    assert dropped.returncode == 0 and f"metrics id {bad}" in dropped.stdout
    assert json.loads(run_cli("sync", "status", "--json").stdout)["pending_total"] == 0
    assert json.loads(run_cli("sync", "rejects", "--json").stdout) == {"count": 0, "rejects": []}


def test_db_prune_says_what_it_kept_for_the_server(scops_home: Path, pg_server: str) -> None:
    path = scops_home / "scops.db"
    conn = store.open_database(path)
    add_metrics(conn, 6, start=pg.T0 - 30 * 86_400_000)
    conn.close()
    _poison_one_metric(path)
    assert run_cli("sync", "--url", pg_server).returncode == 0
    pruned = run_cli("db", "prune", "--older-than", "7")
    assert pruned.returncode == 0, pruned.stderr
    assert "kept 1 old rows refused by the server (see `scops-tui sync rejects`): metrics 1" in pruned.stdout


def _nologin_role(url: str) -> str:
    """A role the server refuses to log in (the test server trusts 127.0.0.1, so no password can be wrong)."""
    import uuid

    role = f"scops_nologin_{uuid.uuid4().hex[:8]}"
    with pg.admin_connect() as admin:
        admin.execute(f"CREATE ROLE {role} NOLOGIN")
    return role


def test_a_refused_login_is_exit_2_and_watch_stops_retrying(database: Path, pg_server: str) -> None:
    role = _nologin_role(pg_server)
    try:
        url = make_conninfo(pg.url_for(psycopg_dbname(pg_server), user=role), password="s3cret")
        once = run_cli("sync", "--url", url)
        assert once.returncode == 2, once.stderr
        assert once.stderr.startswith(f'scops-tui: error: authentication failed for user "{role}"')
        assert once.stderr.count("\n") == 1 and "s3cret" not in once.stderr
        watch = subprocess.run(
            [*SCOPS, "sync", "--watch", "--url", url], capture_output=True, text=True, timeout=120, check=False
        )
        assert watch.returncode == 2 and "retrying in" not in watch.stderr
        assert "authentication failed" in watch.stderr and "not retrying" in watch.stderr
        ghost = run_cli("sync", "--url", pg.url_for(psycopg_dbname(pg_server), user="scops_no_such_role"))
        assert ghost.returncode == 2 and 'authentication failed for user "scops_no_such_role"' in ghost.stderr
    finally:
        with pg.admin_connect() as admin:
            admin.execute(f"DROP ROLE IF EXISTS {role}")


def psycopg_dbname(url: str) -> str:
    import psycopg

    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


def psycopg_params(url: str) -> dict[str, str]:
    import psycopg

    params = psycopg.conninfo.conninfo_to_dict(url)
    return {"host": str(params.get("host")), "port": str(params.get("port"))}
