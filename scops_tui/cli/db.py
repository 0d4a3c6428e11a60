"""`scops-tui db`: create, inspect, upgrade, check, back up, restore and prune the database."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from scops_tui.cli.context import settings_for
from scops_tui.cli.params import COUNT, DAYS
from scops_tui.errors import ScopsError
from scops_tui.store.timestamps import iso


@click.group()
def db() -> None:
    """Create, inspect, check, back up, restore and prune the database."""


@db.command("init")
@click.pass_context
def db_init(ctx: click.Context) -> None:
    """Create the database (or bring it to the current schema) with its two users."""
    from scops_tui.store import database as store
    from scops_tui.store.migrations import current_version

    settings = settings_for(ctx)
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
    from scops_tui.store.maintenance import database_status

    settings = settings_for(ctx)
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
    from scops_tui.store import database as store
    from scops_tui.store.migrations import apply_migrations, current_version, latest_version

    settings = settings_for(ctx)
    state = store.inspect_file(settings.db)
    if state is store.FileState.MISSING:
        raise ScopsError(f"no database at {settings.db} (create one with `scops-tui db init`)")
    if state is store.FileState.EMPTY:
        raise ScopsError(f"{settings.db} is empty, not a scops-tui database (use `scops-tui db init`)")
    # WAL is switched on only once the file is known to be ours: a refused file stays byte for byte as it was.
    conn = store.connect(settings.db, busy_timeout_ms=settings.busy_timeout_ms, wal=False)
    try:
        with store.sqlite_errors(settings.db):
            before = current_version(conn)
            if before == 0:
                raise ScopsError(f"{settings.db} is empty, not a scops-tui database (use `scops-tui db init`)")
            store.use_wal(conn)
            applied = apply_migrations(conn)
            store.ensure_seed_rows(conn)
    finally:
        conn.close()
    if not applied:
        click.echo(f"database {settings.db} is already at schema version {before} (latest {latest_version()})")
        return
    for migration in applied:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    click.echo(f"database {settings.db} upgraded from version {before} to {applied[-1].version}")


@db.command("check")
@click.pass_context
def db_check(ctx: click.Context) -> None:
    """Run SQLite's integrity and foreign-key checks; exit 1 on any problem."""
    from scops_tui.store.maintenance import check_database

    settings = settings_for(ctx)
    report = check_database(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
    if report.ok:
        click.echo(f"database {settings.db}: ok (schema version {report.schema_version})")
        return
    for problem in report.problems:
        click.echo(f"scops-tui: problem: {settings.db}: {problem}", err=True)
    sys.exit(1)


@db.command("backup")
@click.argument("target", metavar="[PATH]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.option(
    "--keep",
    type=COUNT,
    metavar="N",
    help="Without PATH: then delete all but the N newest backups in the backups folder.",
)
@click.pass_context
def db_backup(ctx: click.Context, target: Path | None, force: bool, keep: int | None) -> None:
    """Copy the database online (recording goes on) to PATH, then verify the copy.

    Without PATH the copy is `<backups folder>/scops-YYYYMMDDTHHMMSSZ.db` (the folder `scops-tui config`
    names) and its path is printed on stdout; `--keep N` then prunes the older backups there.
    """
    from scops_tui.config import resolve_paths
    from scops_tui.store.maintenance import backup_database, backup_path, prune_backups

    settings = settings_for(ctx)
    folder = None
    if target is None:
        folder = resolve_paths().backup_dir
        target = backup_path(folder)
    elif keep is not None:
        raise ScopsError("--keep prunes the backups folder; give no PATH with it (see `scops-tui config`)")
    report = backup_database(settings.db, target, force=force, busy_timeout_ms=settings.busy_timeout_ms)
    rows = sum(report.tables.values())
    click.echo(f"backed up {settings.db}: {rows:,} rows, {report.size_bytes:,} bytes, verified", err=True)
    click.echo(str(target))
    if folder is not None and keep is not None:
        for removed in prune_backups(folder, keep, just_made=target):
            click.echo(f"removed old backup {removed}", err=True)


@db.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace even a database holding newer data than the backup.")
@click.pass_context
def db_restore(ctx: click.Context, backup: Path, force: bool) -> None:
    """Replace the database with a verified BACKUP.

    The database it replaces is first saved, verified, to the backups folder, and its path is printed,
    so the restore can be undone with another `db restore`.
    """
    from scops_tui.config import resolve_paths
    from scops_tui.store.maintenance import restore_database

    settings = settings_for(ctx)
    report = restore_database(
        backup,
        settings.db,
        force=force,
        busy_timeout_ms=settings.busy_timeout_ms,
        save_to=resolve_paths().backup_dir,
    )
    if report.saved is not None:
        click.echo(f"saved the database it replaces to {report.saved}")
    rows = sum(report.tables.values())
    click.echo(f"restored {settings.db} from {backup}: {rows:,} rows, schema version {report.schema_version}")


@db.command("prune")
@click.option(
    "--older-than", "older_than", type=DAYS, metavar="DAYS", help="Age in days (default: the retention_days setting)."
)
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.pass_context
def db_prune(ctx: click.Context, older_than: float | None, dry_run: bool) -> None:
    """Delete metrics, logs, closed episodes and unreviewed predictions older than DAYS (one transaction)."""
    from scops_tui.store.maintenance import prune_database

    settings = settings_for(ctx)
    days = older_than if older_than is not None else settings.retention_days
    if days is None:
        raise ScopsError("give --older-than DAYS, or set retention_days (SCOPS_RETENTION_DAYS)")
    report = prune_database(settings.db, days, dry_run=dry_run, busy_timeout_ms=settings.busy_timeout_ms)
    verb = "would delete" if dry_run else "deleted"
    details = ", ".join(f"{table} {count:,}" for table, count in report.deleted.items())
    click.echo(f"{verb} rows older than {iso(report.cutoff_ms)}: {details}")
    for reason, tables in report.kept.items():
        counts = ", ".join(f"{table} {count:,}" for table, count in tables.items())
        click.echo(f"kept {sum(tables.values()):,} old rows {reason}: {counts}")
