"""`scops-tui config`: where every file is and each effective setting with its source, secrets masked."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from scops_tui.cli.context import settings_for
from scops_tui.config import Paths, Settings, read_toml, resolve_paths, setting_names
from scops_tui.errors import ScopsError
from scops_tui.sync.target import MASK, mask_text

SOURCES = ("flag", "env", "file", "default")
"""Where a setting's value can come from, as `config --json` names it."""

_NOT_SET = "(not set)"
_HOST = re.compile(r"localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_CHANNEL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)", re.DOTALL)


def source_key(origin: str) -> str:
    """The machine name of a setting's origin: flag, env, file or default."""
    if origin.startswith("config file"):
        return "file"
    if origin == "environment":
        return "env"
    return origin if origin in SOURCES else "default"


def mask_channel(url: str) -> str:
    """A notification URL (apprise) with everything that may be a credential replaced by ***.

    Tokens, webhook ids, user names and passwords live in the user part and the path of such URLs
    (`slack://TokenA/TokenB`, `mailto://user:pass@host`), so only the scheme and a host name (a name
    with a dot, or localhost) are kept: `json://hooks.example.org/***`, `slack://***`.
    """
    match = _CHANNEL.fullmatch(url.strip())
    if match is None:
        return MASK
    scheme, rest = match["scheme"], match["rest"]
    if not rest:
        return f"{scheme}://"
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    more = f"/{MASK}" if len(rest) > len(authority) else ""
    user, _, host = authority.rpartition("@")
    if not _HOST.fullmatch(host.split(":", 1)[0]):
        return f"{scheme}://{MASK}"
    return f"{scheme}://{MASK + '@' if user else ''}{host}{more}"


def _shown(value: Any) -> Any:
    """A setting value fit to print or put in JSON: paths as text, passwords and channel URLs masked."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return mask_channel(value) if _CHANNEL.fullmatch(value) and "postgres" not in value[:10] else mask_text(value)
    if isinstance(value, Mapping):
        return {str(k): _shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    return value


def _file_tables(paths: Paths) -> dict[str, Any]:
    """The `[alerts]` table of the config file (channel URLs masked), if it has one; other tables are not shown."""
    try:
        data = read_toml(paths.config_file)
    except ScopsError:  # the settings load has read the same file already; this cannot differ
        return {}
    alerts = data.get("alerts")
    return {"alerts": _shown(alerts)} if isinstance(alerts, Mapping) else {}


def config_json(paths: Paths, settings: Settings) -> dict[str, Any]:
    """The object `config --json` prints: paths as plain keys, each setting as {"value", "source"}."""
    document: dict[str, Any] = {
        "home": str(paths.home) if paths.home else None,
        "config_file": str(paths.config_file),
        "config_file_exists": paths.config_file.is_file(),
        "config_dir": str(paths.config_dir),
        "data_dir": str(paths.data_dir),
        "backup_dir": str(paths.backup_dir),
    }
    for name in setting_names():
        document[name] = {
            "value": _shown(getattr(settings, name)),
            "source": source_key(settings.origins.get(name, "default")),
        }
    document.update(_file_tables(paths))
    return document


def _human(value: Any) -> str:
    if value is None:
        return _NOT_SET
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_human(v) for v in value) or "(none)"
    return str(value)


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys documented in the README).")
@click.pass_context
def config_command(ctx: click.Context, as_json: bool) -> None:
    """Print where every file is and each effective setting with where it came from (secrets masked)."""
    paths = resolve_paths()
    settings = settings_for(ctx)
    document = config_json(paths, settings)
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    config_state = "" if document["config_file_exists"] else " (absent)"
    path_rows = {
        "home (SCOPS_HOME)": document["home"] or "(not set: platform directories)",
        "config file": document["config_file"] + config_state,
        "data directory": document["data_dir"],
        "database": str(settings.db),
        "backups": document["backup_dir"],
    }
    click.echo("Paths")
    for label, value in path_rows.items():
        click.echo(f"  {label:<20} {value}")
    click.echo("Settings")
    shown = {name: _human(document[name]["value"]) for name in setting_names()}
    width = max(len(text) for text in shown.values())
    for name, text in shown.items():
        click.echo(f"  {name:<20} {text:<{width}}  ({settings.origins[name]})")
    alerts = document.get("alerts")
    if isinstance(alerts, Mapping):
        click.echo("Alerts (config file)")
        for key, value in alerts.items():
            click.echo(f"  {key:<20} {_human(value)}")
