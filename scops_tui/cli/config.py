"""`scops-tui config`: where every file is and each effective setting with its source."""

from __future__ import annotations

import json
from pathlib import Path

import click

from scops_tui.alerts.config import load_alert_settings
from scops_tui.cli.context import settings_for
from scops_tui.config import resolve_paths, setting_names


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def config_command(ctx: click.Context, as_json: bool) -> None:
    """Print where every file is and each effective setting with where it came from."""
    paths = resolve_paths()
    settings = settings_for(ctx)
    path_rows = {
        "home (SCOPS_HOME)": str(paths.home) if paths.home else "(not set: platform directories)",
        "config file": str(paths.config_file) + ("" if paths.config_file.exists() else " (absent)"),
        "data directory": str(paths.data_dir),
        "database": str(settings.db),
        "backups": str(paths.backup_dir),
    }
    values = {name: getattr(settings, name) for name in setting_names()}
    alerts = load_alert_settings(paths).describe()  # channels masked
    if as_json:
        click.echo(
            json.dumps(
                {
                    "paths": path_rows,
                    "settings": {
                        name: {
                            "value": str(v) if isinstance(v, Path) else v,
                            "source": settings.origins[name],
                        }
                        for name, v in values.items()
                    },
                    "alerts": alerts,
                },
                indent=2,
            )
        )
        return
    click.echo("Paths")
    for label, value in path_rows.items():
        click.echo(f"  {label:<20} {value}")
    click.echo("Settings")
    for name, value in values.items():
        click.echo(f"  {name:<20} {value!s:<40} ({settings.origins[name]})")
    click.echo("Alerts ([alerts] of the config file)")
    for name, value in alerts.items():
        click.echo(f"  {name:<20} {', '.join(value) or '(none: alerts off)' if name == 'channels' else value}")
