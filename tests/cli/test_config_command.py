"""`scops-tui config`: machine keys in `--json`, where each setting came from, no `None`, secrets masked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from scops_tui import config
from scops_tui.cli.config import mask_channel
from scops_tui.cli.main import main
from scops_tui.config import setting_names
from tests.cli.seed import run_installed

PASSWORD = "hunter2-secret"


def write_config(home: Path, text: str) -> Path:
    path = home / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_json_has_machine_keys_and_one_source_per_setting(scops_home: Path, tmp_path: Path) -> None:
    """Each of the four sources shows up under its machine name; paths are plain keys."""
    config_file = write_config(scops_home, f'interval = 2\npg_url = "postgresql://ops:{PASSWORD}@db.example.org/x"\n')
    env = {**os.environ, "SCOPS_HOME": str(scops_home), "SCOPS_SOURCE": "web-07"}
    result = run_installed("--db", str(tmp_path / "flag.db"), "config", "--json", env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["home"] == str(scops_home)
    assert document["config_file"] == str(config_file) and document["config_file_exists"] is True
    assert document["data_dir"] == str(scops_home)
    assert document["backup_dir"] == str(scops_home / "backups")
    assert document["db"] == {"value": str(tmp_path / "flag.db"), "source": "flag"}
    assert document["source"] == {"value": "web-07", "source": "env"}
    assert document["interval"] == {"value": 2.0, "source": "file"}
    assert document["busy_timeout_ms"] == {"value": 5000, "source": "default"}
    assert document["retention_days"] == {"value": None, "source": "default"}
    assert document["pg_url"]["source"] == "file"
    assert document["pg_url"]["value"] == "postgresql://ops:***@db.example.org/x"
    assert set(setting_names()) <= set(document)
    assert PASSWORD not in result.stdout


def test_json_without_a_config_file_says_so(scops_home: Path) -> None:
    result = run_installed("config", "--json", env={**os.environ, "SCOPS_HOME": str(scops_home)})
    document = json.loads(result.stdout)
    assert document["config_file_exists"] is False
    assert {document[name]["source"] for name in setting_names()} == {"default"}


def test_human_output_never_prints_none_or_a_password(scops_home: Path) -> None:
    write_config(scops_home, f'pg_url = "postgresql://ops:{PASSWORD}@db.example.org/x"\n')
    result = run_installed("config", env={**os.environ, "SCOPS_HOME": str(scops_home)})
    assert result.returncode == 0, result.stderr
    assert "None" not in result.stdout
    assert PASSWORD not in result.stdout
    assert "retention_days       (not set)" in result.stdout
    assert "postgresql://ops:***@db.example.org/x" in result.stdout


def test_alert_channel_urls_are_masked(scops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `[alerts] urls` of the config file (read by the alerts feature) print without their tokens."""
    monkeypatch.setattr(config, "_TABLES", (*config._TABLES, "alerts"))
    write_config(
        scops_home,
        '[alerts]\nurls = ["slack://T0KENA/T0KENB/T0KENC", "mailto://me:pa55word@mail.example.org", '
        '"json://hooks.example.org/hook/s3cret"]\n',
    )
    for args in (["config"], ["config", "--json"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        for secret in ("T0KEN", "pa55word", "s3cret", "me:"):
            assert secret not in result.output
    document = json.loads(CliRunner().invoke(main, ["config", "--json"]).output)
    assert document["alerts"]["urls"] == [
        "slack://***",
        "mailto://***@mail.example.org",
        "json://hooks.example.org/***",
    ]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("discord://1234567/abcdefTOKEN", "discord://***"),
        ("ntfy://ntfy.sh/private-topic", "ntfy://ntfy.sh/***"),
        ("desktop://", "desktop://"),
        ("json://u:p@localhost:8080/x?token=a", "json://***@localhost:8080/***"),
        ("not a url", "***"),
    ],
)
def test_mask_channel_keeps_only_the_scheme_and_a_host_name(url: str, shown: str) -> None:
    assert mask_channel(url) == shown
