"""`scops-tui keys` and `scops-tui users`: a key shown once and stored hashed, listed, revoked; accounts."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scops_tui.cli.main import main
from scops_tui.store import database as store


def cli(db: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", str(db), *args], catch_exceptions=False)


@pytest.fixture
def db(db_path: Path) -> Path:
    store.open_database(db_path).close()
    return db_path


def create(db: Path, *args: str) -> str:
    result = cli(db, "keys", "create", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[0]


def test_a_key_is_printed_once_and_only_its_hash_is_stored(db: Path) -> None:
    secret = create(db, "grafana", "--permission", "write", "--rate-limit", "50", "--expires", "2")
    assert secret.startswith("scops_") and len(secret) >= len("scops_") + 43
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT key_hash, permissions, rate_limit_per_hour, expires_at - created_at FROM api_keys")
    (key_hash, permissions, limit, lifetime) = rows.fetchone()
    dump = "\n".join(conn.iterdump())
    conn.close()
    assert key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert json.loads(permissions) == ["read", "write"]
    assert (limit, lifetime) == (50, 2 * 86_400_000)
    assert secret not in dump and secret[6:] not in dump
    listed = cli(db, "keys", "list", "--json")
    assert secret not in listed.output and key_hash not in listed.output
    (key,) = json.loads(listed.stdout)
    assert key["name"] == "grafana" and key["permission"] == "write" and key["active"] is True
    assert key["user"] == store.operator_username() and key["usage_count"] == 0 and key["last_used_at"] is None
    assert key["rate_limit_per_hour"] == 50 and key["expires_at"] is not None


def test_two_keys_differ(db: Path) -> None:
    assert create(db, "a") != create(db, "b")


def test_revoke_marks_the_key_and_says_so_twice(db: Path) -> None:
    create(db, "old")
    assert "revoked" in cli(db, "keys", "revoke", "1").output
    assert "already revoked" in cli(db, "keys", "revoke", "1").output
    (key,) = json.loads(cli(db, "keys", "list", "--json").stdout)
    assert key["active"] is False and key["status"] == "revoked"
    result = CliRunner().invoke(main, ["--db", str(db), "keys", "revoke", "9"])
    assert result.exit_code == 1 and "no API key with id 9" in result.output


def test_rate_limit_zero_means_none_and_bad_values_are_refused(db: Path) -> None:
    create(db, "unlimited", "--rate-limit", "0")
    assert json.loads(cli(db, "keys", "list", "--json").stdout)[0]["rate_limit_per_hour"] is None
    for option in (["--rate-limit", "-1"], ["--expires", "0"], ["--permission", "root"]):
        result = CliRunner().invoke(main, ["--db", str(db), "keys", "create", "x", *option])
        assert result.exit_code == 2, (option, result.output)


def test_users_add_list_disable_enable(db: Path) -> None:
    assert cli(db, "users", "add", "ana", "--role", "operator", "--email", "ana@example.org").exit_code == 0
    users = {u["username"]: u for u in json.loads(cli(db, "users", "list", "--json").stdout)}
    assert set(users) == {"system", store.operator_username(), "ana"}
    assert users["ana"]["role"] == "operator" and users["ana"]["active"] is True
    assert users["ana"]["email"] == "ana@example.org"
    create(db, "ana-key", "--user", "ana", "--permission", "write")
    assert "disabled" in cli(db, "users", "disable", "ana").output
    keys = json.loads(cli(db, "keys", "list", "--json").stdout)
    assert keys[0]["active"] is False and keys[0]["status"] == "user disabled"
    assert "already disabled" in cli(db, "users", "disable", "ana").output
    assert "enabled" in cli(db, "users", "enable", "ana").output
    assert json.loads(cli(db, "keys", "list", "--json").stdout)[0]["active"] is True


def test_user_errors_are_one_line(db: Path) -> None:
    cli(db, "users", "add", "viv")
    cases = [
        (["users", "add", "viv"], "exists already"),
        (["users", "disable", "nobody"], "no user named 'nobody'"),
        (["keys", "create", "k", "--user", "nobody"], "no user named 'nobody'"),
        (["keys", "create", "k", "--user", "viv", "--permission", "write"], "role viewer"),
    ]
    for args, fragment in cases:
        result = CliRunner().invoke(main, ["--db", str(db), *args])
        assert result.exit_code == 1, (args, result.output)
        assert fragment in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_keys_commands_never_create_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    for args in (["keys", "list"], ["keys", "create", "k"], ["users", "list"], ["users", "add", "x"]):
        result = CliRunner().invoke(main, ["--db", str(missing), *args])
        assert result.exit_code == 1 and "no database" in result.output, (args, result.output)
    assert not missing.exists()
