"""`scops-tui sync`: push the database to PostgreSQL (once or `--watch`), set a server up, report the state."""

from __future__ import annotations

import json
import sys
import threading
from typing import TYPE_CHECKING, Any

import click

from scops_tui.cli.context import settings_for, writer_for
from scops_tui.cli.params import FiniteNumber, WholeNumber
from scops_tui.cli.table import Column, render_table
from scops_tui.store.timestamps import iso

if TYPE_CHECKING:
    from scops_tui.sync.report import SyncReport
    from scops_tui.sync.target import SyncTarget


def _target(ctx: click.Context, url: str | None) -> SyncTarget:
    """The sync target from --url, SCOPS_PG_URL, the config file's pg_url, or libpq's environment."""
    from scops_tui.sync.target import target_for

    return target_for(settings_for(ctx, pg_url=url))


def _dry_run_target(ctx: click.Context, url: str | None) -> SyncTarget:
    """The configured target if there is one, else a placeholder (a dry run connects to nothing)."""
    from scops_tui.errors import ConfigError
    from scops_tui.sync.target import SyncTarget

    try:
        return _target(ctx, url)
    except ConfigError:
        if "settings" not in ctx.obj:
            raise  # the settings themselves are broken, not merely without a target
        return SyncTarget(conninfo="", display="(no target configured)", origin="none")


def _summary(report: SyncReport) -> None:
    from scops_tui.store.database import TABLES

    verb = "would send" if report.dry_run else "synced"
    click.echo(
        f"{verb} {report.sent:,} rows {'to' if not report.dry_run else 'for'} {report.target} "
        f"in {report.seconds:.2f} s (CPU {report.cpu_seconds:.2f} s)"
        + (f", after {report.reconnects} reconnect(s)" if report.reconnects else "")
    )
    rejected = 0
    for table in TABLES:
        row = report.tables[table]
        rejected += row.rejected
        if report.dry_run:
            click.echo(f"  {table:<20} {row.sent:>12,} pending")
            continue
        extra = f", {row.rejected:,} rejected" if row.rejected else ""
        if row.retried:
            extra += f" ({row.retried:,} refused before, sent again)"
        click.echo(f"  {table:<20} {row.inserted:>12,} new {row.updated:>8,} changed{extra}")
    if rejected:
        click.echo(
            f"{rejected:,} rows were refused by the server; they stay pending and are retried by every sync "
            "(see `scops-tui sync rejects`)",
            err=True,
        )


class _Progress:
    """A progress bar on stderr (terminals only) fed by the core's per-batch callback."""

    def __init__(self, total: int) -> None:
        self.bar = click.progressbar(length=max(total, 1), label="sync", file=sys.stderr, show_pos=True)
        self.bar.__enter__()
        self.seen: dict[str, int] = {}

    def __call__(self, table: str, done: int, pending: int) -> None:
        step = done - self.seen.get(table, 0)
        self.seen[table] = done
        self.bar.label = f"sync {table}"
        self.bar.update(step)

    def close(self) -> None:
        self.bar.__exit__(None, None, None)


@click.group("sync", invoke_without_command=True)
@click.option(
    "--url", help="PostgreSQL connection string (else SCOPS_PG_URL, config pg_url, or libpq's PG* / service)."
)
@click.option("--watch", is_flag=True, help="Keep syncing until stopped (SIGINT/SIGTERM); retry with backoff.")
@click.option(
    "--interval",
    type=FiniteNumber(0.1, 86_400.0, unit="seconds"),
    default=10.0,
    show_default=True,
    help="Seconds between --watch runs.",
)
@click.option(
    "--batch-size",
    type=WholeNumber(1, 1_000_000, "batch size"),
    default=10_000,
    show_default=True,
    help="Rows per transaction.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be sent (local checkpoints); connect to nothing.")
@click.option("--init-server", is_flag=True, help="Create or upgrade the server schema; print the host's role SQL.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_context
def sync(
    ctx: click.Context,
    url: str | None,
    watch: bool,
    interval: float,
    batch_size: int,
    dry_run: bool,
    init_server: bool,
    as_json: bool,
) -> None:
    """Push every table to PostgreSQL: new rows and later changes, in batches, resumable and idempotent."""
    ctx.obj["sync_url"] = url
    if ctx.invoked_subcommand is not None:
        return
    from scops_tui.store import database as store
    from scops_tui.sync import server
    from scops_tui.sync.local import mark_target_used, pending_rows
    from scops_tui.sync.push import run_sync

    # A dry run counts from the local checkpoints and connects to nothing: no target is needed.
    target = _dry_run_target(ctx, url) if dry_run and not (init_server or watch) else _target(ctx, url)
    settings = ctx.obj["settings"]
    if init_server:
        conn = writer_for(ctx)
        database_id = store.database_id(conn)
        applied, version = server.init_server(target)
        mark_target_used(settings.db, target, busy_timeout_ms=settings.busy_timeout_ms)
        for name in applied:
            click.echo(f"applied {name}", err=True)
        state = "upgraded to" if applied else "already at"
        click.echo(f"-- server {target.display} {state} scops-tui schema version {version}", err=True)
        click.echo(server.host_role_sql(database_id))
        return
    if watch:
        _watch(target, settings, interval, batch_size)
        return
    progress = None
    if not dry_run and not as_json and sys.stderr.isatty():
        conn = store.open_database(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
        try:
            progress = _Progress(sum(pending_rows(conn).values()))
        finally:
            conn.close()
    try:
        report = run_sync(
            settings.db,
            target,
            batch_size=batch_size,
            dry_run=dry_run,
            busy_timeout_ms=settings.busy_timeout_ms,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    if as_json:
        click.echo(json.dumps(report.as_json()))
    else:
        _summary(report)


def _watch(target: Any, settings: Any, interval: float, batch_size: int) -> None:
    from scops_tui.recording.recorder import stop_on_signals
    from scops_tui.sync.server import AuthenticationFailed, SyncError
    from scops_tui.sync.watch import watch_sync

    def reported(report: Any) -> None:
        if report.sent:
            click.echo(f"synced {report.sent:,} rows to {report.target} in {report.seconds:.2f} s", err=True)

    def failed(message: str, wait: float) -> None:
        click.echo(f"scops-tui: sync: {message} (retrying in {wait:.1f} s)", err=True)

    stop = threading.Event()
    with stop_on_signals(stop):
        # Said once SIGINT/SIGTERM are handled: from here on a stop request flushes and exits 0.
        click.echo(f"syncing {settings.db} to {target.display} every {interval:g} s (Ctrl-C to stop)", err=True)
        try:
            outcome = watch_sync(
                settings.db,
                target,
                stop,
                interval=interval,
                batch_size=batch_size,
                busy_timeout_ms=settings.busy_timeout_ms,
                on_report=reported,
                on_error=failed,
            )
        except AuthenticationFailed as exc:
            # The same credentials would be refused forever: stop, and say so.
            raise AuthenticationFailed(f"{exc}; not retrying (fix the credentials, then start again)") from None
    failed_runs = f", {outcome.failures} failed" if outcome.failures else ""
    click.echo(f"sync stopped after {outcome.runs} successful run(s){failed_runs}", err=True)
    if outcome.runs == 0 and outcome.failures:
        # Stopped without ever reaching the server: a service manager or script must see that.
        never = SyncError(
            f"sync --watch never succeeded: all {outcome.failures} run(s) failed; last error: {outcome.last_error}"
        )
        never.exit_code = outcome.last_exit_code or 1
        raise never


@sync.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def sync_status_command(ctx: click.Context, as_json: bool) -> None:
    """Target (password masked), last success and error, pending rows per table, rejected rows."""
    from scops_tui.errors import ConfigError
    from scops_tui.sync.local import sync_status

    url = ctx.obj.get("sync_url")
    settings = settings_for(ctx, pg_url=url)
    display = None
    try:
        display = _target(ctx, url).display
    except ConfigError:
        display = None
    status = sync_status(settings.db, display, busy_timeout_ms=settings.busy_timeout_ms)
    if as_json:
        click.echo(json.dumps(status.as_json()))
        return

    def when(ms: int | None) -> str:
        return iso(ms) if ms is not None else "never"

    click.echo(f"target        {status.target or '(none configured)'}")
    click.echo(f"last attempt  {when(status.last_attempt_at)}")
    click.echo(f"last success  {when(status.last_success_at)}")
    error = f"{status.last_error} ({when(status.last_error_at)})" if status.last_error else "-"
    click.echo(f"last error    {error}")
    click.echo(f"pending       {sum(status.pending.values()):,} rows")
    for table, count in status.pending.items():
        refused = status.pending_rejected.get(table, 0)
        extra = f"  ({refused:,} refused by the server, retried by every sync)" if refused else ""
        click.echo(f"  {table:<20} {count:>12,}{extra}")
    click.echo(f"rejected      {status.reject_count:,} rows (`scops-tui sync rejects` lists them all)")
    for reject in status.rejects:
        click.echo(
            f"  {reject.table} id {reject.local_id} [{reject.sqlstate or '?'}] {reject.reason} "
            f"({iso(reject.rejected_at)})"
        )


def _print_rejects(rejects: list[Any]) -> None:
    if not rejects:
        click.echo("no rejected rows")
        return
    rows = [
        (reject.id, reject.table, reject.local_id, reject.sqlstate or "-", iso(reject.rejected_at), reject.reason)
        for reject in rejects
    ]
    columns = (
        Column("ID", right=True),
        Column("TABLE"),
        Column("LOCAL ID", right=True),
        Column("SQLSTATE"),
        Column("REJECTED AT"),
        Column("REASON", limit=200),
    )
    for line in render_table(columns, rows):
        click.echo(line)


@sync.group("rejects", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def sync_rejects(ctx: click.Context, as_json: bool) -> None:
    """List the rows the server refused: they stay pending, and every sync retries them until they land.

    `sync rejects retry` sends them again now; `sync rejects drop ID... --yes` gives up on some (the only
    way a refused row stops being pending; `db prune` may then delete it).
    """
    if ctx.invoked_subcommand is not None:
        return
    from scops_tui.sync.rejects import read_rejects

    settings = settings_for(ctx)
    rejects = read_rejects(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
    if as_json:
        click.echo(json.dumps({"count": len(rejects), "rejects": [vars(reject) for reject in rejects]}))
    else:
        _print_rejects(rejects)


@sync_rejects.command("retry")
@click.option(
    "--url", help="PostgreSQL connection string (else SCOPS_PG_URL, config pg_url, or libpq's PG* / service)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_context
def sync_rejects_retry(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """Send the refused rows again now (parents first), and nothing else; print what landed."""
    from scops_tui.sync.push import run_sync
    from scops_tui.sync.rejects import read_rejects

    url = url or ctx.obj.get("sync_url")
    target = _target(ctx, url)
    settings = settings_for(ctx, pg_url=url)
    report = run_sync(settings.db, target, busy_timeout_ms=settings.busy_timeout_ms, rejects_only=True)
    if as_json:
        click.echo(json.dumps(report.as_json()))
        return
    tried = sum(t.retried for t in report.tables.values())
    landed = sum(t.inserted + t.updated for t in report.tables.values())
    still = len(read_rejects(settings.db, busy_timeout_ms=settings.busy_timeout_ms))
    click.echo(f"retried {tried:,} refused rows on {report.target}: {landed:,} landed, {still:,} still refused")
    if still:
        click.echo("see `scops-tui sync rejects` for the reasons", err=True)


@sync_rejects.command("drop")
@click.argument("ids", metavar="ID...", nargs=-1, required=True, type=click.IntRange(min=1, max=2**63 - 1))
@click.option("--yes", is_flag=True, help="Really forget them (required).")
@click.pass_context
def sync_rejects_drop(ctx: click.Context, ids: tuple[int, ...], yes: bool) -> None:
    """Give up on refused rows: they stop being pending and are no longer retried (IDs from `sync rejects`)."""
    from scops_tui.errors import ScopsError
    from scops_tui.sync.rejects import drop_rejects

    if not yes:
        raise ScopsError(
            "dropping a reject gives up on sending that row (and lets `db prune` delete it); add --yes to confirm"
        )
    settings = settings_for(ctx)
    dropped = drop_rejects(settings.db, list(ids), busy_timeout_ms=settings.busy_timeout_ms)
    for reject in dropped:
        click.echo(f"dropped reject {reject.id}: {reject.table} id {reject.local_id} ({reject.reason})")
