"""`scops-tui export TABLE`: stream any of the eight tables as CSV, JSON Lines or JSON."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from scops_tui.cli.completion import complete_export_format, complete_source, complete_table
from scops_tui.cli.context import progress_bar, settings_for
from scops_tui.cli.params import FILE, SOURCE, TIME


@click.command("export")
@click.argument("table", shell_complete=complete_table)
@click.option(
    "--format",
    "file_format",
    default="csv",
    show_default=True,
    help="csv, jsonl or json.",
    shell_complete=complete_export_format,
)
@click.option("--since", type=TIME, help="From this time: ISO-8601 (naive = UTC), epoch seconds, or an age: 24h, 7d.")
@click.option("--until", type=TIME, help="Before this time (same forms as --since).")
@click.option(
    "--source",
    type=SOURCE,
    shell_complete=complete_source,
    help="Only rows of this source (metrics, anomaly_predictions, ml_models).",
)
@click.option("--columns", help="Comma-separated columns to write, in this order (default: all).")
@click.option("--out", type=FILE, help="Write this file (atomically) instead of stdout.")
@click.option("--force", is_flag=True, help="Replace the --out file if it exists.")
@click.pass_context
def export_command(
    ctx: click.Context,
    table: str,
    file_format: str,
    since: int | None,
    until: int | None,
    source: str | None,
    columns: str | None,
    out: Path | None,
    force: bool,
) -> None:
    """Export TABLE (any of the eight) streamed in constant memory; timestamps ISO-8601 UTC."""
    from scops_tui.store import database as store
    from scops_tui.transfer import export
    from scops_tui.transfer.output_file import refuse_existing

    request = export.ExportRequest(
        table=table,
        file_format=file_format.lower(),
        since_ms=since,
        until_ms=until,
        source=source,
        columns=None if columns is None else tuple(name.strip() for name in columns.split(",") if name.strip()),
    )
    settings = settings_for(ctx)
    if out is not None:
        store.refuse_database_files(out, settings.db, "export's output")
        refuse_existing(out, force=force)
    conn = store.open_reader(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
    ctx.call_on_close(conn.close)
    if out is None:
        try:
            export.export_table(conn, request, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader (head, less) stopped early: not an error; keep Python from complaining at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    with store.sqlite_errors(settings.db):
        total = export.count_rows(conn, request) if sys.stderr.isatty() else 0
        with export.write_atomically(out, force=force) as handle, progress_bar(f"exporting {table}", total) as progress:
            written = export.export_table(conn, request, handle, progress=progress)
    click.echo(f"exported {written:,} rows of {table} to {out}", err=True)
