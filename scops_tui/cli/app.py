"""`scops-tui tui` (and plain `scops-tui`): open the terminal app."""

from __future__ import annotations

import sys

import click

from scops_tui.cli.context import settings_for
from scops_tui.cli.params import SOURCE
from scops_tui.config import resolve_paths


@click.command()
@click.option("--no-record", is_flag=True, help="Only read; do not record this host while the app is open.")
@click.option("--source", type=SOURCE, help="Name to record this host under (default: the host name).")
@click.pass_context
def tui(ctx: click.Context, no_record: bool = False, source: str | None = None) -> None:
    """Open the terminal app (also what plain `scops-tui` does): dashboard, history, review queue, models, sync."""
    from scops_tui.tui.app import create_app

    settings = settings_for(ctx, source=source)
    app = create_app(settings, record=not no_record, keymap=resolve_paths().config_file)
    app.run()
    code = app.return_code or 0
    if code:
        sys.exit(code)
