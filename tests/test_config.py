"""Settings layers (defaults < config file < environment < flags) and SCOPS_HOME paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scops_tui.config import load_settings, resolve_paths
from scops_tui.errors import ConfigError


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

    from scops_tui.cli.main import main

    result = CliRunner().invoke(main, ["config"], env={**os.environ, "SCOPS_INTERVAL": "9"})
    assert result.exit_code == 0, result.output
    assert str(scops_home / "scops.db") in result.output
    assert "interval" in result.output and "environment" in result.output


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("retention_days = 2e11\n", "retention_days = 200000000000.0: must be a finite number at least 0.001"),
        ("retention_days = 36501\n", "at most 36500"),
        ("interval = 1e300\n", "interval = 1e+300: must be a finite number at least 1 and at most 86400"),
        ("flush_interval = 86401\n", "flush_interval"),
        ("busy_timeout_ms = 100000000000000000000\n", "busy_timeout_ms = 100000000000000000000: must be a whole"),
        ("busy_timeout_ms = -1\n", "from 0 to 86400000"),
        (f"busy_timeout_ms = {'9' * 400}\n", "busy_timeout_ms = a 400-digit number"),
        (f"interval = {'9' * 400}\n", "interval = a 400-digit number: must be a finite number"),
        ("interval = [1]\n", "interval = [1]: expected a number"),
    ],
    ids=lambda value: value.strip()[:40],
)
def test_every_numeric_setting_is_bounded_in_the_config_file(scops_home: Path, content: str, fragment: str) -> None:
    """Each out-of-range value is one ConfigError naming the file, the setting and the bound."""
    (scops_home / "config.toml").write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"config file {scops_home / 'config.toml'}: ")
    assert fragment in message
    assert "\n" not in message and len(message) < 300


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("SCOPS_RETENTION_DAYS", "2e11", "SCOPS_RETENTION_DAYS = '2e11': must be a finite number"),
        ("SCOPS_INTERVAL", "1e300", "SCOPS_INTERVAL = '1e300'"),
        ("SCOPS_BUSY_TIMEOUT_MS", "1" + "0" * 30, "SCOPS_BUSY_TIMEOUT_MS"),
        ("SCOPS_BUSY_TIMEOUT_MS", "9" * 5000, "SCOPS_BUSY_TIMEOUT_MS = '99999"),
        ("SCOPS_BUSY_TIMEOUT_MS", "", "SCOPS_BUSY_TIMEOUT_MS = '': expected a whole number"),
        ("SCOPS_SOURCE", "web\udcff", "SCOPS_SOURCE = 'web\\udcff': holds '\\udcff' at character 4"),
    ],
    ids=lambda value: ascii(value)[:40],
)
def test_every_numeric_setting_is_bounded_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    """An environment value out of range is one ConfigError naming the variable."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("environment: ")
    assert fragment in message
    assert "\n" not in message and len(message) < 300


def test_settings_are_accepted_up_to_their_bounds_and_refused_beyond(scops_home: Path) -> None:
    config = scops_home / "config.toml"
    config.write_text("interval = 86400\nflush_interval = 0\nbusy_timeout_ms = 86400000\nretention_days = 36500\n")
    settings = load_settings()
    assert (settings.interval, settings.flush_interval) == (86_400.0, 0.0)
    assert (settings.busy_timeout_ms, settings.retention_days) == (86_400_000, 36_500.0)
    for beyond in ("interval = 86400.5", "busy_timeout_ms = 86400001", "retention_days = 36500.01"):
        config.write_text(beyond + "\n")
        with pytest.raises(ConfigError, match=beyond.split()[0]):
            load_settings()


def test_recorder_refuses_a_huge_retention_setting_before_touching_the_database(scops_home: Path) -> None:
    """`retention_days = 2e11` used to crash the recorder at its first prune; now one line, exit 2, no file."""
    from click.testing import CliRunner

    from scops_tui.cli.main import main

    (scops_home / "config.toml").write_text("retention_days = 2e11\n")
    result = CliRunner().invoke(main, ["record", "--duration", "0.01", "--quiet", "--no-detect"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scops-tui: error: config file ")
    assert "retention_days" in lines[0]
    assert not (scops_home / "scops.db").exists()
