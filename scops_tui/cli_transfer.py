"""`scops-tui import ...` and `scops-tui export`: thin click commands over core.importer and core.export."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from scops_tui.cli import main, settings_for, writer_for
from scops_tui.cli_params import SOURCE, TIME
from scops_tui.core.errors import ScopsError

_FILE = click.Path(dir_okay=False, path_type=Path)


@contextlib.contextmanager
def _progress(label: str, length: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise (pipes and logs stay clean)."""
    if not sys.stderr.isatty() or length <= 0:
        yield None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update


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
    from scops_tui.core import store

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


@main.group("import")
def import_group() -> None:
    """Import legacy SmartCloudOps files and CSV series: the whole file goes in, or nothing does."""


_TIMEZONE = click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="Zone that timestamps without an offset are read in (any IANA name); stored as UTC.",
)


@import_group.command("metrics")
@click.argument("file", type=_FILE)
@click.option("--format", "file_format", help="json or csv (default: from the file's extension).")
@click.option(
    "--source", help="Source of every imported row (default: the file's source column, else historical_data)."
)
@_TIMEZONE
@click.option("--column", help="For a timestamp,value CSV: the metric column the values are (e.g. cpu_usage).")
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
    from scops_tui.core import importer, store

    zone = importer.resolve_timezone(timezone)
    guessed = importer.check_metrics_options(file, file_format=file_format, source=source, column=column)
    length = _file_size(file) if guessed == "csv" else 0
    settings = settings_for(ctx)
    with (
        _import_database(ctx, file) as conn,
        store.sqlite_errors(settings.db),
        _progress(f"importing {file.name}", length) as progress,
    ):
        created_by = store.user_id(conn, store.SYSTEM_USERNAME)
        report = importer.import_metrics(
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
@click.argument("file", type=_FILE)
@_TIMEZONE
@click.option(
    "--name", help="Model name (default: real_data_anomaly_detector for rule_based_real_data, else the type)."
)
@click.pass_context
def import_model_command(ctx: click.Context, file: Path, timezone: str, name: str | None) -> None:
    """Import a legacy model description as a model and a ready version (deploy it with `model deploy`)."""
    from scops_tui.core import importer, store

    zone = importer.resolve_timezone(timezone)
    importer.check_option("--name", name)
    with _import_database(ctx, file) as conn, store.sqlite_errors(settings_for(ctx).db):
        created_by = store.user_id(conn, store.SYSTEM_USERNAME)
        report = importer.import_models(conn, file, created_by=created_by, timezone=zone, name=name)
    click.echo(report.summary())


@import_group.command("api-keys")
@click.argument("file", type=_FILE)
@_TIMEZONE
@click.pass_context
def import_api_keys_command(ctx: click.Context, file: Path, timezone: str) -> None:
    """Import the legacy API key file; only a SHA-256 hash of each key is stored."""
    from scops_tui.core import importer, store

    zone = importer.resolve_timezone(timezone)
    with _import_database(ctx, file) as conn, store.sqlite_errors(settings_for(ctx).db):
        created_by = store.user_id(conn, store.SYSTEM_USERNAME)
        report = importer.import_api_keys(conn, file, created_by=created_by, timezone=zone)
    click.echo(report.summary())


@main.command("export")
@click.argument("table")
@click.option("--format", "file_format", default="csv", show_default=True, help="csv, jsonl or json.")
@click.option("--since", type=TIME, help="From this time: ISO-8601 (naive = UTC), epoch seconds, or an age: 24h, 7d.")
@click.option("--until", type=TIME, help="Before this time (same forms as --since).")
@click.option("--source", type=SOURCE, help="Only rows of this source (metrics, anomaly_predictions, ml_models).")
@click.option("--columns", help="Comma-separated columns to write, in this order (default: all).")
@click.option("--out", type=_FILE, help="Write this file (atomically) instead of stdout.")
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
) -> None:
    """Export TABLE (any of the eight) streamed in constant memory; timestamps ISO-8601 UTC."""
    from scops_tui.core import export, store

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
        with export.write_atomically(out) as handle, _progress(f"exporting {table}", total) as progress:
            written = export.export_table(conn, request, handle, progress=progress)
    click.echo(f"exported {written:,} rows of {table} to {out}", err=True)
