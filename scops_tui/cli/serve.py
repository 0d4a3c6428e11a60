"""`scops-tui serve`: the local HTTP API (/health, /metrics, /ml/metrics, /ml/predict) over the database."""

from __future__ import annotations

from pathlib import Path

import click

from scops_tui.cli.context import settings_for
from scops_tui.cli.params import WholeNumber

PORT = WholeNumber(1, 65535, "port")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=PORT, default=8765, show_default=True, help="TCP port to listen on.")
@click.option("--certfile", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="TLS certificate (PEM).")
@click.option("--keyfile", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="TLS private key (PEM).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, certfile: Path | None, keyfile: Path | None) -> None:
    """Serve the database over HTTP for Prometheus, scripts and dashboards until SIGINT/SIGTERM.

    Every endpoint but /health and /openapi.json needs an API key (`scops-tui keys create`), as
    `Authorization: Bearer KEY` or `X-API-Key: KEY`.
    """
    from scops_tui.api.app import ServiceConfig
    from scops_tui.api.server import ServeOptions, exposure_warning
    from scops_tui.api.server import serve as run_server

    settings = settings_for(ctx)
    options = ServeOptions(host=host, port=port, certfile=certfile, keyfile=keyfile)
    warning = exposure_warning(options)
    if warning:
        click.echo(warning, err=True)
    config = ServiceConfig(
        db_path=settings.db,
        source=settings.source,
        busy_timeout_ms=settings.busy_timeout_ms,
        # The recorder writes a batch every flush_interval; a sample older than three periods is late.
        stale_after_s=3 * (settings.interval + settings.flush_interval),
    )
    run_server(config, options)
