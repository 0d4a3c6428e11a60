"""`scops-tui import`: legacy SmartCloudOps JSON files and CSV series, all of a file or nothing."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

from scops_tui.cli.completion import complete_import_format
from scops_tui.cli.context import progress_bar, settings_for, writer_for
from scops_tui.cli.params import FILE
from scops_tui.errors import ScopsError


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@contextlib.contextmanager
def _import_database(ctx: click.Context, source_file: Path) -> Iterator[sqlite3.Connection]:
    """The database an import of `source_file` writes into, opened for writing.

    An existing database is opened as usual; a failed import rolls its one transaction back. A database
    that does not exist yet is built in a private folder beside its path and linked into place only when
    the import succeeded, so a failed import leaves no database (and no folder it had to make) behind.
    """
    from scops_tui.store import database as store

    settings = settings_for(ctx)
    target = settings.db
    store.refuse_database_files(source_file, target, "file to import")
    if os.path.lexists(target):
        yield writer_for(ctx)
        return
    made = _make_folders(target.parent)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.import-", dir=target.parent))
        try:
            built = staging / target.name
            conn = store.open_database(built, busy_timeout_ms=settings.busy_timeout_ms)
            try:
                yield conn
                with store.sqlite_errors(target):
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            _move_into_place(built, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _make_folders(directory: Path) -> list[Path]:
    """Create `directory` and its missing parents (mode 0700); return the folders made, outermost first."""
    missing = []
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    made: list[Path] = []
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            for done in reversed(made):
                with contextlib.suppress(OSError):
                    done.rmdir()
            raise ScopsError(f"cannot create folder {folder}: {exc.strerror or exc}") from None
        made.append(folder)
    return made


def _move_into_place(built: Path, target: Path) -> None:
    """Give the finished database its name; never replaces a file that appeared there meanwhile."""
    wal = built.with_name(built.name + "-wal")
    if wal.exists() and wal.stat().st_size:
        raise ScopsError(f"{target}: the new database could not be checkpointed; nothing was imported")
    try:
        os.link(built, target)
    except FileExistsError:
        raise ScopsError(f"{target} was created by another process during the import; nothing was imported") from None
    except OSError:
        if os.path.lexists(target):  # a file system without hard links: rename, after a last check
            raise ScopsError(
                f"{target} was created by another process during the import; nothing was imported"
            ) from None
        os.rename(built, target)


@click.group("import")
def import_group() -> None:
    """Import legacy SmartCloudOps files and CSV series: the whole file goes in, or nothing does."""


_TIMEZONE = click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="Zone that timestamps without an offset are read in (any IANA name); stored as UTC.",
)


@import_group.command("metrics")
@click.argument("file", type=FILE)
@click.option(
    "--format",
    "file_format",
    help="json or csv (default: from the file's extension).",
    shell_complete=complete_import_format,
)
@click.option(
    "--source", help="Source of every imported row (default: the file's source column, else historical_data)."
)
@_TIMEZONE
@click.option(
    "--column",
    help="Refused: a single timestamp,value series is not stored (the other metrics would be made up); "
    "score it with `scops-tui detect FILE.csv`.",
)
@click.option(
    "--labels/--no-labels",
    default=None,
    help="Also record is_anomaly as ground truth (model labels@SOURCE). Default: on for JSON, off for CSV.",
)
@click.pass_context
def import_metrics_command(
    ctx: click.Context,
    file: Path,
    file_format: str | None,
    source: str | None,
    timezone: str,
    column: str | None,
    labels: bool | None,
) -> None:
    """Import metrics from a legacy JSON array or a CSV file (a timestamp column plus metric columns)."""
    from scops_tui.store import database as store
    from scops_tui.transfer.importer import resolve_timezone
    from scops_tui.transfer.metrics_import import check_metrics_options, import_metrics

    zone = resolve_timezone(timezone)
    guessed = check_metrics_options(file, file_format=file_format, source=source, column=column)
    length = _file_size(file) if guessed == "csv" else 0
    settings = settings_for(ctx)
    with (
        _import_database(ctx, file) as conn,
        store.sqlite_errors(settings.db),
        progress_bar(f"importing {file.name}", length) as progress,
    ):
        created_by = store.user_id(conn, store.SYSTEM_USERNAME)
        report = import_metrics(
            conn,
            file,
            created_by=created_by,
            file_format=file_format,
            source=source,
            timezone=zone,
            column=column,
            labels=labels,
            progress=progress,
        )
    click.echo(report.summary())


@import_group.command("model")
@click.argument("file", type=FILE)
@_TIMEZONE
@click.option(
    "--name", help="Model name (default: real_data_anomaly_detector for rule_based_real_data, else the type)."
)
@click.pass_context
def import_model_command(ctx: click.Context, file: Path, timezone: str, name: str | None) -> None:
    """Import a legacy model description as a model and a ready version (deploy it with `model deploy`)."""
    from scops_tui.store import database as store
    from scops_tui.transfer.importer import check_option, resolve_timezone
    from scops_tui.transfer.legacy_models import import_models

    zone = resolve_timezone(timezone)
    check_option("--name", name)
    with _import_database(ctx, file) as conn, store.sqlite_errors(settings_for(ctx).db):
        created_by = store.user_id(conn, store.SYSTEM_USERNAME)
        report = import_models(conn, file, created_by=created_by, timezone=zone, name=name)
    click.echo(report.summary())


@import_group.command("api-keys")
@click.argument("file", type=FILE)
@_TIMEZONE
@click.pass_context
def import_api_keys_command(ctx: click.Context, file: Path, timezone: str) -> None:
    """Import the legacy API key file; only a SHA-256 hash of each key is stored."""
    from scops_tui.store import database as store
    from scops_tui.transfer.importer import resolve_timezone
    from scops_tui.transfer.legacy_keys import import_api_keys

    zone = resolve_timezone(timezone)
    with _import_database(ctx, file) as conn, store.sqlite_errors(settings_for(ctx).db):
        created_by = store.user_id(conn, store.SYSTEM_USERNAME)
        report = import_api_keys(conn, file, created_by=created_by, timezone=zone)
    click.echo(report.summary())
