"""`scops-tui alerts test|status`: try every alert channel, and see what the outbox holds."""

from __future__ import annotations

import json
import socket

import click

from scops_tui.cli.context import reader_for, settings_for
from scops_tui.errors import ConfigError


@click.group()
def alerts() -> None:
    """Alerts on new and escalating episodes: channels are apprise URLs or a command in [alerts] of the config file."""


@alerts.command("test")
@click.pass_context
def alerts_test(ctx: click.Context) -> None:
    """Send a test message to every channel and report each result (exit 1 if any failed)."""
    from scops_tui.alerts.channels import deliver
    from scops_tui.alerts.config import load_alert_settings
    from scops_tui.alerts.message import trial_message
    from scops_tui.config import resolve_paths
    from scops_tui.store.timestamps import now_ms

    settings = settings_for(ctx)
    paths = resolve_paths()
    alert_settings = load_alert_settings(paths)
    if not alert_settings.enabled:
        raise ConfigError(
            f"no alert channel is configured: add urls = [...] or command = '...' to [alerts] in {paths.config_file}"
        )
    message = trial_message(settings.source or socket.gethostname(), now_ms())
    failed = 0
    channels = alert_settings.channels
    width = max(len(channel.display) for channel in channels)
    for channel in channels:
        result = deliver(channel, message)
        if result.ok:
            click.echo(f"{channel.display:<{width}}  ok")
        else:
            failed += 1
            click.echo(f"{channel.display:<{width}}  failed: {result.error}")
    if failed:
        click.echo(f"scops-tui: error: {failed} of {len(channels)} alert channels failed", err=True)
        ctx.exit(1)
    click.echo(f"all {len(channels)} alert channels took the test message", err=True)


@alerts.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def alerts_status(ctx: click.Context, as_json: bool) -> None:
    """Channels (masked), pending alerts, last success and error per channel, alerts that failed for good."""
    from scops_tui.alerts.config import load_alert_settings
    from scops_tui.alerts.outbox import GIVE_UP_AFTER_MS
    from scops_tui.alerts.status import read_status
    from scops_tui.config import resolve_paths
    from scops_tui.errors import DatabaseError
    from scops_tui.store.migrations import current_version, latest_version
    from scops_tui.store.timestamps import iso

    alert_settings = load_alert_settings(resolve_paths())
    conn = reader_for(ctx)
    version, known = current_version(conn), latest_version()
    if version < known:
        raise DatabaseError(
            f"database {ctx.obj['settings'].db} is at schema version {version} (current: {known}): it has no alert "
            "outbox yet; run `scops-tui db upgrade` (a recorder does it when it starts)"
        )
    status = read_status(conn, alert_settings)
    if as_json:
        click.echo(json.dumps(status.as_json(), indent=2))
        return
    if status.enabled:
        click.echo(
            f"alerts: on (min severity {status.min_severity}, cooldown {status.cooldown_minutes:g} min, "
            f"{len(status.channels)} channel(s))"
        )
    else:
        click.echo("alerts: off (no channel in [alerts] of the config file)")
    for channel in status.channels:
        success = iso(channel.last_success_at) if channel.last_success_at is not None else "never"
        click.echo(f"  {channel.channel}")
        click.echo(f"    last success  {success}")
        if channel.last_error is not None and channel.last_error_at is not None:
            click.echo(f"    last error    {iso(channel.last_error_at)}  {channel.last_error}")
    click.echo(f"pending: {len(status.pending)}")
    for alert in status.pending:
        group = " (grouped follow-up)" if alert.grouped else ""
        line = (
            f"  episode {alert.episode_id}: {alert.kind} {alert.severity}{group}, due {iso(alert.due_at)}, "
            f"{alert.attempts} failed attempt(s), next try {iso(alert.next_attempt_at)}"
        )
        click.echo(line + (f"; last error: {alert.last_error}" if alert.last_error else ""))
    hours = GIVE_UP_AFTER_MS / 3_600_000
    click.echo(f"failed for good (not delivered within {hours:g} h): {status.failed_total}")
    for alert in status.failed:
        click.echo(
            f"  episode {alert.episode_id}: {alert.kind} {alert.severity}, "
            f"{alert.attempts} attempt(s); {alert.last_error}"
        )
    click.echo(f"delivered: {status.sent_total}")
