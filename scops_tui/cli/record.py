"""`scops-tui record`: record this host headless until stopped."""

from __future__ import annotations

import threading

import click

from scops_tui.cli.context import settings_for
from scops_tui.cli.params import DURATION, INTERVAL, SOURCE


@click.command()
@click.option("--interval", type=INTERVAL, help="Seconds between persisted samples (default 5, min 1, max 86400).")
@click.option("--duration", type=DURATION, help="Stop after this many seconds.")
@click.option("--source", type=SOURCE, help="Name to record this host under (default: the host name).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--detect/--no-detect", default=True, show_default=True, help="Score samples and open episodes.")
@click.pass_context
def record(
    ctx: click.Context,
    interval: float | None,
    duration: float | None,
    source: str | None,
    quiet: bool,
    detect: bool,
) -> None:
    """Record this host headless until stopped (SIGINT/SIGTERM flush and exit 0) or --duration ends."""
    from scops_tui.recording.recorder import Recorder, stop_on_signals
    from scops_tui.recording.sampler import HostSampler

    if detect:
        from scops_tui.detection.live import DetectionSettings

    from scops_tui.alerts.config import load_alert_settings

    settings = settings_for(ctx, interval=interval, source=source)

    def announce() -> None:
        if not quiet:
            until = f" for {duration:g} s" if duration else " (Ctrl-C to stop)"
            click.echo(
                f"recording {settings.source} every {settings.interval:g} s into {settings.db}{until}",
                err=True,
            )

    recorder = Recorder(
        settings.db,
        HostSampler(settings.source),
        interval=settings.interval,
        flush_interval=settings.flush_interval,
        busy_timeout_ms=settings.busy_timeout_ms,
        on_error=lambda message: click.echo(f"scops-tui: warning: {message} (will retry)", err=True),
        on_warning=lambda message: click.echo(f"scops-tui: warning: {message}", err=True),
        on_start=announce,
        detection=DetectionSettings() if detect else None,
        retention_days=settings.retention_days,
        alerts=load_alert_settings(),
    )
    stop = threading.Event()
    with stop_on_signals(stop):
        stats = recorder.run(stop, duration)
    if not quiet:
        click.echo(f"recorded {stats.written} samples into {settings.db}", err=True)
