"""The root `scops-tui` group: the global `--db` and every command group (errors and pipes: `cli/group.py`)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from scops_tui import __version__
from scops_tui.cli.group import ScopsGroup

COMMANDS = {
    "tui": "scops_tui.cli.app:tui",
    "config": "scops_tui.cli.config:config_command",
    "record": "scops_tui.cli.record:record",
    "db": "scops_tui.cli.db:db",
    "detect": "scops_tui.cli.detect:detect",
    "model": "scops_tui.cli.model:model",
    "anomalies": "scops_tui.cli.anomalies:anomalies",
    "import": "scops_tui.cli.imports:import_group",
    "export": "scops_tui.cli.export:export_command",
    "sync": "scops_tui.cli.sync:sync",
    "fleet": "scops_tui.cli.fleet:fleet",
    "serve": "scops_tui.cli.serve:serve",
    "service": "scops_tui.cli.service:service",
    "keys": "scops_tui.cli.keys:keys",
    "users": "scops_tui.cli.users:users",
    "alerts": "scops_tui.cli.alerts:alerts",
}
"""Every command, name -> "module:attribute": a module is imported only when its command runs (or for
`--help` and completion, which list them all), so `scops-tui tui` starts without the other fifteen."""


@click.group(
    cls=ScopsGroup,
    lazy_commands=COMMANDS,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), help="Database file (env SCOPS_DB).")
@click.version_option(__version__, "--version", prog_name="scops-tui")
@click.pass_context
def main(ctx: click.Context, db_path: Path | None) -> None:
    """scops-tui: record this host into SQLite, spot what is unusual, review it, export and sync it."""
    ctx.ensure_object(dict)
    ctx.obj["overrides"] = {"db": db_path}
    if ctx.invoked_subcommand is None:
        command = main.get_command(ctx, "tui")
        assert command is not None
        ctx.invoke(command)


def run() -> None:
    """Entry point used by `python -m scops_tui`."""
    main(prog_name="scops-tui")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run()
