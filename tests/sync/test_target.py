"""The sync target: where the connection string comes from, and that its password is never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scops_tui.config import load_settings
from scops_tui.errors import ConfigError
from scops_tui.sync.target import SecretUrl, mask_text, resolve_target


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://bob:s3cr%40t@db:5432/scops", "postgresql://bob:***@db:5432/scops"),
        ("postgres://bob@db/scops?password=zz&sslmode=require", "postgres://bob@db/scops?password=***&sslmode=require"),
        ("host=db password='it\\'s secret' user=bob", "host=db password=*** user=bob"),
        ("host=db password=plain user=bob", "host=db password=*** user=bob"),
        ("postgresql://db/scops", "postgresql://db/scops"),
    ],
)
def test_mask_text_hides_every_password_form(text: str, shown: str) -> None:
    assert mask_text(text) == shown


def test_a_target_masks_its_password_wherever_a_message_echoes_it() -> None:
    target = resolve_target("postgresql://bob:p%40ss-word@db/scops")
    assert "p%40ss" not in target.display
    echoed = 'connection to "db" failed: FATAL: password authentication failed (password p@ss-word)'
    assert "p@ss-word" not in target.mask(echoed)


def test_secret_url_prints_masked_and_keeps_the_real_value() -> None:
    url = SecretUrl("postgresql://bob:hunter2@db/scops")
    assert "hunter2" not in f"{url} {url!r} {json.dumps(url)}"
    assert url.secret == "postgresql://bob:hunter2@db/scops"
    assert resolve_target(url).conninfo == url.secret


def test_settings_layers_for_pg_url(scops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().pg_url is None
    config = scops_home / "config.toml"
    config.write_text('pg_url = "postgresql://u:filepw@db/x"\n')
    config.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_settings()
    config.chmod(0o600)
    settings = load_settings()
    assert settings.pg_url is not None and "filepw" not in settings.pg_url
    assert settings.origins["pg_url"].startswith("config file")
    monkeypatch.setenv("SCOPS_PG_URL", "postgresql://u:envpw@db/x")
    assert getattr(load_settings().pg_url, "secret", "") == "postgresql://u:envpw@db/x"
    flagged = load_settings({"pg_url": "postgresql://db/flag"})
    assert flagged.pg_url == "postgresql://db/flag" and flagged.origins["pg_url"] == "flag"


def test_an_empty_url_needs_libpq_environment() -> None:
    with pytest.raises(ConfigError, match="no sync target"):
        resolve_target(None, environ={})
    target = resolve_target("", environ={"PGSERVICE": "central"})
    assert target.conninfo == "" and "PGSERVICE=central" in target.display


def test_a_malformed_connection_string_is_a_configuration_error_without_its_password() -> None:
    from scops_tui.sync.server import connect

    with pytest.raises(ConfigError, match="invalid sync target") as caught:
        connect(resolve_target("host=127.0.0.1 password=hunter2 nonsense=1"))
    assert "hunter2" not in str(caught.value) and "password=***" in str(caught.value)


@pytest.mark.parametrize(
    ("libpq_text", "user"),
    [
        (
            'connection to server at "db", port 5432 failed: FATAL:  password authentication failed for user "scops"',
            "scops",
        ),
        ('connection to server at "db", port 5432 failed: FATAL:  role "ghost" does not exist', "ghost"),
        (
            'connection to server at "db", port 5432 failed: FATAL:  no pg_hba.conf entry for host "10.0.0.2", '
            'user "scops", database "scops", no encryption',
            "scops",
        ),
    ],
)
def test_a_refused_login_is_an_authentication_failure_not_unreachable(libpq_text: str, user: str) -> None:
    import psycopg

    from scops_tui.sync.server import _authentication_failure

    target = resolve_target("postgresql://scops:hunter2@db/scops")
    refused = _authentication_failure(psycopg.OperationalError(libpq_text), target)
    assert refused is not None and refused.exit_code == 2
    assert str(refused).startswith(f'authentication failed for user "{user}" at postgresql://scops:***@db/scops')
    assert _authentication_failure(psycopg.OperationalError("Connection refused"), target) is None
