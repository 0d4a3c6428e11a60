"""`scops-tui fleet`: open the fleet view on the central PostgreSQL (read-only; no local file needed)."""

from __future__ import annotations

import click

from scops_tui.cli.context import settings_for


@click.command("fleet")
@click.option(
    "--url",
    metavar="URL",
    help="PostgreSQL connection string (else SCOPS_PG_URL, config pg_url, or libpq's PG* / service).",
)
@click.option(
    "--stale",
    "stale_minutes",
    type=click.IntRange(min=1),
    metavar="MIN",
    default=15,
    show_default=True,
    help="Minutes without a sample after which a host stands out as stale.",
)
@click.option(
    "--refresh",
    "refresh_seconds",
    type=click.FloatRange(min=1.0),
    metavar="S",
    default=10.0,
    show_default=True,
    help="Seconds between reads of the host list.",
)
@click.pass_context
def fleet(ctx: click.Context, url: str | None, stale_minutes: int, refresh_seconds: float) -> None:
    """Open the fleet view: every host synced to the central database, its history and episodes.

    Connects as a reader (a login role in scops_reader sees every host; a host's ingest role only its own),
    resolving the server as `sync` does. Never writes to the server and never needs a local database.
    """
    from scops_tui.config import resolve_paths
    from scops_tui.sync.fleet import FleetSession
    from scops_tui.sync.target import target_for
    from scops_tui.tui.fleet import create_fleet_app

    settings = settings_for(ctx, pg_url=url)
    session = FleetSession(target_for(settings))
    session.open()
    try:
        app = create_fleet_app(
            settings,
            session,
            keymap=resolve_paths().config_file,
            refresh_seconds=refresh_seconds,
            stale_ms=stale_minutes * 60_000,
        )
        app.run()
    finally:
        session.close()
    code = app.return_code or 0
    if code:
        ctx.exit(code)
