"""The [alerts] table: parsed field by field, refused with one line naming the file and field, the file
refused unless mode 0600 when it names channels, and URLs never printed with their secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scops_tui.alerts.config import AlertSettings, Channel, load_alert_settings, mask_url, parse_alerts
from scops_tui.config import load_settings, resolve_paths
from scops_tui.errors import ConfigError
from tests.alerts.helpers import write_config

TOKEN_URLS = {
    "json://127.0.0.1:9000/hook": "json://127.0.0.1:9000/***",
    "ntfy://ops-alerts-7f3k": "ntfy://***",
    "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ": "slack://***/***",
    "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js": "discord://***/***",
    "mailto://ops:hunter22@mail.example.com?to=me@example.com": "mailto://***@mail.example.com?***",
    "jsons://user:s3cret@hooks.example.com/services/T000/B000/XXXX": "jsons://***@hooks.example.com/***",
    "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654": "tgram://***/***",
    "not a url": "***",
}


@pytest.mark.parametrize(("url", "masked"), TOKEN_URLS.items())
def test_every_url_prints_without_its_secrets(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert Channel("url", url).display == masked


def test_a_command_prints_as_its_program_only() -> None:
    assert Channel("command", "/usr/local/bin/page-me --token abc123").display == "command /usr/local/bin/page-me ***"
    assert Channel("command", "/usr/local/bin/page-me").display == "command /usr/local/bin/page-me"


def test_the_issue_example_parses(tmp_path: Path) -> None:
    table = {
        "min_severity": "medium",
        "cooldown_minutes": 15,
        "urls": ["json://127.0.0.1:9000/hook", "ntfy://ops-alerts"],
        "command": "/usr/local/bin/page-me",
    }
    got = parse_alerts(table, tmp_path / "config.toml")
    assert got == AlertSettings(
        "medium", 15.0, ("json://127.0.0.1:9000/hook", "ntfy://ops-alerts"), "/usr/local/bin/page-me"
    )
    assert [c.kind for c in got.channels] == ["url", "url", "command"]
    assert got.enabled and got.cooldown_ms == 900_000
    assert got.reaches("medium") and got.reaches("critical") and not got.reaches("low")


def test_no_table_means_alerts_off(tmp_path: Path) -> None:
    assert not parse_alerts(None, tmp_path / "c.toml").enabled
    assert load_alert_settings() == AlertSettings()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"min_severity": "huge"}, "[alerts] min_severity = 'huge': must be low, medium, high or critical"),
        ({"cooldown_minutes": -1}, "[alerts] cooldown_minutes = -1: must be a number of minutes from 0 to 10080"),
        ({"cooldown_minutes": "soon"}, "[alerts] cooldown_minutes = 'soon': expected a number of minutes"),
        ({"urls": ["ntfy://ok", "no-scheme"]}, "[alerts] urls = [...]: entry 2 is not a URL of the form scheme://"),
        ({"urls": 5}, "[alerts] urls = [...]: expected a list of apprise URLs"),
        ({"urls": ["ntfy://a", "ntfy://a"]}, "[alerts] urls = [...]: lists the same URL twice"),
        ({"command": "page-me 'unclosed"}, "[alerts] command = '...': cannot be split into words"),
        ({"email": "me@example.com"}, "[alerts] unknown key 'email'"),
    ],
)
def test_a_bad_field_is_one_line_naming_file_and_field(tmp_path: Path, table: dict[str, object], message: str) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as caught:
        parse_alerts(table, path)
    assert str(caught.value).startswith(f"config file {path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_secret_token_never_appears_in_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_alerts({"urls": ["slack://T1/B2/SECRETTOKEN", "bad"]}, tmp_path / "c.toml")
    assert "SECRETTOKEN" not in str(caught.value)


def test_a_config_file_with_channels_is_refused_unless_private(scops_home: Path) -> None:
    path = write_config(scops_home, ["ntfy://ops-alerts"], mode=0o644)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"config file {path} holds alert channels ([alerts] urls or command) but is readable by group or others "
        f"(mode 0644); run: chmod 600 {path}"
    )
    os.chmod(path, 0o600)
    load_settings()
    assert load_alert_settings(resolve_paths()).urls == ("ntfy://ops-alerts",)


def test_a_config_file_with_only_a_command_is_refused_unless_private(scops_home: Path) -> None:
    write_config(scops_home, [], command="/usr/local/bin/page-me", mode=0o640)
    with pytest.raises(ConfigError, match="holds alert channels"):
        load_settings()


def test_a_config_file_without_channels_may_be_shared(scops_home: Path) -> None:
    write_config(scops_home, [], mode=0o644)
    load_settings()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scops_tui", *args], capture_output=True, text=True, timeout=120)


def test_the_cli_refuses_a_shared_file_with_one_line(scops_home: Path) -> None:
    path = write_config(scops_home, ["ntfy://ops-alerts"], mode=0o604)
    result = run_cli("alerts", "status")
    assert result.returncode != 0
    assert result.stderr == (
        f"scops-tui: error: config file {path} holds alert channels ([alerts] urls or command) but is readable by "
        f"group or others (mode 0604); run: chmod 600 {path}\n"
    )


def test_config_prints_the_channels_masked(scops_home: Path) -> None:
    secret = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    write_config(scops_home, [secret, "json://127.0.0.1:9000/hook"], command="/usr/local/bin/page-me --key k3y")
    text = run_cli("config")
    as_json = run_cli("config", "--json")
    assert text.returncode == as_json.returncode == 0, text.stderr + as_json.stderr
    for output in (text.stdout, as_json.stdout):
        assert "TIiajkdnlazkcOXrIdevi7FQ" not in output and "k3y" not in output
    assert "slack://***/***" in text.stdout
    assert json.loads(as_json.stdout)["alerts"] == {
        "min_severity": "medium",
        "cooldown_minutes": 15.0,
        "channels": ["slack://***/***", "json://127.0.0.1:9000/***", "command /usr/local/bin/page-me ***"],
    }
