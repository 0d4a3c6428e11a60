"""The root `scops-tui` group: the global `--db` and every command group (errors and pipes: `cli/group.py`)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from scops_tui import __version__
from scops_tui.cli.alerts import alerts
from scops_tui.cli.anomalies import anomalies
from scops_tui.cli.app import tui
from scops_tui.cli.config import config_command
from scops_tui.cli.db import db
from scops_tui.cli.detect import detect
from scops_tui.cli.export import export_command
from scops_tui.cli.fleet import fleet
from scops_tui.cli.group import ScopsGroup
from scops_tui.cli.imports import import_group
from scops_tui.cli.keys import keys
from scops_tui.cli.model import model
from scops_tui.cli.record import record
from scops_tui.cli.serve import serve
from scops_tui.cli.service import service
from scops_tui.cli.sync import sync
from scops_tui.cli.users import users


@click.group(cls=ScopsGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), help="Database file (env SCOPS_DB).")
@click.version_option(__version__, "--version", prog_name="scops-tui")
@click.pass_context
def main(ctx: click.Context, db_path: Path | None) -> None:
    """scops-tui: record this host into SQLite, spot what is unusual, review it, export and sync it."""
    ctx.ensure_object(dict)
    ctx.obj["overrides"] = {"db": db_path}
    if ctx.invoked_subcommand is None:
        ctx.invoke(tui)


for command in (
    tui,
    config_command,
    record,
    db,
    detect,
    model,
    anomalies,
    import_group,
    export_command,
    sync,
    fleet,
    serve,
    service,
    keys,
    users,
):
    main.add_command(command)
main.add_command(alerts)


def run() -> None:
    """Entry point used by `python -m scops_tui`."""
    main(prog_name="scops-tui")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run()
