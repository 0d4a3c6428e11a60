"""The `scops-tui` command line: a thin click shell that parses, calls the core and prints."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import click

from scops_tui import __version__
from scops_tui.core.config import Settings, load_settings, resolve_paths, setting_names
from scops_tui.core.errors import ScopsError
from scops_tui.core.timestamps import iso


class ScopsGroup(click.Group):
    """A click group that ends any user error with one line on stderr and a non-zero status."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn known errors into `scops-tui: error: ...` lines."""
        try:
            return super().invoke(ctx)
        except ScopsError as exc:
            _fail(str(exc), exc.exit_code)
        except sqlite3.Error as exc:
            from scops_tui.core.store import explain_sqlite_error

            settings = ctx.obj.get("settings") if isinstance(ctx.obj, dict) else None
            _fail(str(explain_sqlite_error(exc, settings.db if settings else "?")), 1)
        except OSError as exc:
            _fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)


def _fail(message: str, code: int) -> None:
    click.echo(f"scops-tui: error: {message}", err=True)
    sys.exit(code)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    """The effective settings, with this command's flags as the top layer."""
    base: dict[str, Any] = dict(ctx.obj.get("overrides", {}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    settings = load_settings(base)
    ctx.obj["settings"] = settings
    return settings


@click.group(
    cls=ScopsGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), help="Database file (env SCOPS_DB)."
)
@click.version_option(__version__, "--version", prog_name="scops-tui")
@click.pass_context
def main(ctx: click.Context, db_path: Path | None) -> None:
    """scops-tui: record this host into SQLite, spot what is unusual, review it, export and sync it."""
    ctx.ensure_object(dict)
    ctx.obj["overrides"] = {"db": db_path}
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@main.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def config_command(ctx: click.Context, as_json: bool) -> None:
    """Print where every file is and each effective setting with where it came from."""
    paths = resolve_paths()
    settings = _settings(ctx)
    path_rows = {
        "home (SCOPS_HOME)": str(paths.home) if paths.home else "(not set: platform directories)",
        "config file": str(paths.config_file) + ("" if paths.config_file.exists() else " (absent)"),
        "data directory": str(paths.data_dir),
        "database": str(settings.db),
        "backups": str(paths.backup_dir),
    }
    values = {name: getattr(settings, name) for name in setting_names()}
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


@main.command()
@click.option(
    "--interval", type=click.FloatRange(min=1.0), help="Seconds between persisted samples (default 5, min 1)."
)
@click.option(
    "--duration", type=click.FloatRange(min=0.0, min_open=True), help="Stop after this many seconds."
)
@click.option("--source", help="Name to record this host under (default: the host name).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.pass_context
def record(
    ctx: click.Context, interval: float | None, duration: float | None, source: str | None, quiet: bool
) -> None:
    """Record this host headless until stopped (SIGINT/SIGTERM flush and exit 0) or --duration ends."""
    from scops_tui.core.recorder import Recorder, stop_on_signals
    from scops_tui.core.sampler import HostSampler

    settings = _settings(ctx, interval=interval, source=source)

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
        on_start=announce,
    )
    stop = threading.Event()
    with stop_on_signals(stop):
        stats = recorder.run(stop, duration)
    if not quiet:
        click.echo(f"recorded {stats.written} samples into {settings.db}", err=True)


@main.group()
def db() -> None:
    """Create, inspect, check, back up, restore and prune the database."""


@db.command("init")
@click.pass_context
def db_init(ctx: click.Context) -> None:
    """Create the database (or bring it to the current schema) with its two users."""
    from scops_tui.core import store
    from scops_tui.core.migrations import current_version

    settings = _settings(ctx)
    existed = settings.db.exists()
    conn = store.open_database(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
    try:
        version = current_version(conn)
    finally:
        conn.close()
    verb = "is ready" if existed else "created"
    click.echo(f"database {settings.db} {verb} at schema version {version}")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def db_status(ctx: click.Context, as_json: bool) -> None:
    """Schema version, row counts, size and identity of the database."""
    from scops_tui.core.maintenance import database_status

    settings = _settings(ctx)
    status = database_status(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
    if as_json:
        click.echo(json.dumps(status.as_json()))
        return
    behind = "" if status.schema_version == status.latest_schema_version else " (run `scops-tui db upgrade`)"
    click.echo(f"path            {status.path}")
    click.echo(f"schema version  {status.schema_version} of {status.latest_schema_version}{behind}")
    click.echo(f"database id     {status.database_id or '(assigned on first write)'}")
    click.echo(f"size            {status.size_bytes:,} bytes")
    click.echo(f"newest row      {iso(status.newest_row_ms) if status.newest_row_ms is not None else '-'}")
    click.echo(f"recorder        {'running' if status.recorder_running else 'not running'}")
    click.echo("rows")
    for table, count in status.tables.items():
        click.echo(f"  {table:<20} {count:>12,}")


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Bring an older database to the current schema, one recorded transaction per step, keeping every row."""
    from scops_tui.core import store
    from scops_tui.core.migrations import apply_migrations, current_version, latest_version

    settings = _settings(ctx)
    store._refuse_non_sqlite(settings.db)
    if not settings.db.exists():
        raise ScopsError(f"no database at {settings.db} (create one with `scops-tui db init`)")
    conn = store.connect(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
    try:
        with store.sqlite_errors(settings.db):
            before = current_version(conn)
            if before == 0:
                raise ScopsError(
                    f"{settings.db} is empty, not a scops-tui database (use `scops-tui db init`)"
                )
            applied = apply_migrations(conn)
            store.ensure_seed_rows(conn)
    finally:
        conn.close()
    if not applied:
        click.echo(
            f"database {settings.db} is already at schema version {before} (latest {latest_version()})"
        )
        return
    for migration in applied:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    click.echo(f"database {settings.db} upgraded from version {before} to {applied[-1].version}")


@db.command("check")
@click.pass_context
def db_check(ctx: click.Context) -> None:
    """Run SQLite's integrity and foreign-key checks; exit 1 on any problem."""
    from scops_tui.core.maintenance import check_database

    settings = _settings(ctx)
    report = check_database(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
    if report.ok:
        click.echo(f"database {settings.db}: ok (schema version {report.schema_version})")
        return
    for problem in report.problems:
        click.echo(f"scops-tui: problem: {settings.db}: {problem}", err=True)
    sys.exit(1)


@db.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace TARGET if it exists.")
@click.pass_context
def db_backup(ctx: click.Context, target: Path, force: bool) -> None:
    """Copy the database online (recording goes on) to TARGET, then verify the copy."""
    from scops_tui.core.maintenance import backup_database

    settings = _settings(ctx)
    report = backup_database(settings.db, target, force=force, busy_timeout_ms=settings.busy_timeout_ms)
    rows = sum(report.tables.values())
    click.echo(f"backed up {settings.db} to {target}: {rows:,} rows, {report.size_bytes:,} bytes, verified")


@db.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace even a database holding newer data than the backup.")
@click.pass_context
def db_restore(ctx: click.Context, backup: Path, force: bool) -> None:
    """Replace the database with a verified BACKUP."""
    from scops_tui.core.maintenance import restore_database

    settings = _settings(ctx)
    report = restore_database(backup, settings.db, force=force, busy_timeout_ms=settings.busy_timeout_ms)
    rows = sum(report.tables.values())
    click.echo(f"restored {settings.db} from {backup}: {rows:,} rows, schema version {report.schema_version}")


@db.command("prune")
@click.option("--older-than", "older_than", type=float, required=True, metavar="DAYS", help="Age in days.")
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.pass_context
def db_prune(ctx: click.Context, older_than: float, dry_run: bool) -> None:
    """Delete metrics, logs, closed episodes and unreviewed predictions older than DAYS (one transaction)."""
    from scops_tui.core.maintenance import prune_database

    settings = _settings(ctx)
    report = prune_database(
        settings.db, older_than, dry_run=dry_run, busy_timeout_ms=settings.busy_timeout_ms
    )
    verb = "would delete" if dry_run else "deleted"
    details = ", ".join(f"{table} {count:,}" for table, count in report.deleted.items())
    click.echo(f"{verb} rows older than {iso(report.cutoff_ms)}: {details}")


def run() -> None:
    """Entry point used by `python -m scops_tui`."""
    main(prog_name="scops-tui")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run()
