"""Settings layers (defaults < config file < environment < flags) and SCOPS_HOME paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scops_tui.core.config import load_settings, resolve_paths
from scops_tui.core.errors import ConfigError


def test_scops_home_moves_every_path(scops_home: Path) -> None:
    paths = resolve_paths()
    for path in (paths.config_dir, paths.data_dir, paths.config_file, paths.default_db, paths.backup_dir):
        assert scops_home in path.parents or path == scops_home
    assert load_settings().db == scops_home / "scops.db"


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings()
    assert settings.interval == 5.0
    assert settings.retention_days is None
    assert settings.origins["interval"] == "default"


def test_each_layer_overrides_the_one_below(scops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (scops_home / "config.toml").write_text('interval = 2\nsource = "from-file"\nflush_interval = 4\n')
    monkeypatch.setenv("SCOPS_INTERVAL", "3")
    monkeypatch.setenv("SCOPS_DB", str(scops_home / "env.db"))
    settings = load_settings({"interval": 7.0, "source": None})
    assert settings.interval == 7.0 and settings.origins["interval"] == "flag"
    assert settings.source == "from-file" and settings.origins["source"].startswith("config file")
    assert settings.flush_interval == 4.0
    assert settings.db == scops_home / "env.db" and settings.origins["db"] == "environment"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("interval = 0.5\n", "interval"),
        ('interval = "often"\n', "interval"),
        ("colour = 1\n", "unknown setting 'colour'"),
        ("interval = = 3\n", "not valid TOML"),
        ("busy_timeout_ms = 1.5\n", "whole number"),
    ],
)
def test_bad_config_file_values_are_named(scops_home: Path, content: str, fragment: str) -> None:
    (scops_home / "config.toml").write_text(content)
    with pytest.raises(ConfigError, match=fragment):
        load_settings()


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOPS_RETENTION_DAYS", "-2")
    with pytest.raises(ConfigError, match="SCOPS_RETENTION_DAYS"):
        load_settings()


def test_config_command_lists_paths_and_sources(scops_home: Path) -> None:
    from click.testing import CliRunner

    from scops_tui.cli import main

    result = CliRunner().invoke(main, ["config"], env={**os.environ, "SCOPS_INTERVAL": "9"})
    assert result.exit_code == 0, result.output
    assert str(scops_home / "scops.db") in result.output
    assert "interval" in result.output and "environment" in result.output
