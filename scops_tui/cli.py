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


def settings_for(ctx: click.Context, **overrides: Any) -> Settings:
    """The effective settings, with this command's flags as the top layer."""
    base: dict[str, Any] = dict(ctx.obj.get("overrides", {}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    settings = load_settings(base)
    ctx.obj["settings"] = settings
    return settings


@click.group(cls=ScopsGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), help="Database file (env SCOPS_DB).")
@click.version_option(__version__, "--version", prog_name="scops-tui")
@click.pass_context
def main(ctx: click.Context, db_path: Path | None) -> None:
    """scops-tui: record this host into SQLite, spot what is unusual, review it, export and sync it."""
    ctx.ensure_object(dict)
    ctx.obj["overrides"] = {"db": db_path}
    if ctx.invoked_subcommand is None:
        ctx.invoke(tui)


@main.command()
@click.option("--no-record", is_flag=True, help="Only read; do not record this host while the app is open.")
@click.option("--source", help="Name to record this host under (default: the host name).")
@click.pass_context
def tui(ctx: click.Context, no_record: bool = False, source: str | None = None) -> None:
    """Open the terminal app (also what plain `scops-tui` does): dashboard, history, review queue, models, sync."""
    from scops_tui.tui.app import create_app

    settings = settings_for(ctx, source=source)
    app = create_app(settings, record=not no_record, keymap=resolve_paths().config_file)
    app.run()
    code = app.return_code or 0
    if code:
        sys.exit(code)


@main.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def config_command(ctx: click.Context, as_json: bool) -> None:
    """Print where every file is and each effective setting with where it came from."""
    paths = resolve_paths()
    settings = settings_for(ctx)
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
@click.option("--duration", type=click.FloatRange(min=0.0, min_open=True), help="Stop after this many seconds.")
@click.option("--source", help="Name to record this host under (default: the host name).")
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
    from scops_tui.core.recorder import Recorder, stop_on_signals
    from scops_tui.core.sampler import HostSampler

    if detect:
        from scops_tui.core.live_detection import DetectionSettings

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
    from scops_tui.core.maintenance import database_status

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
    from scops_tui.core import store
    from scops_tui.core.migrations import apply_migrations, current_version, latest_version

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
    from scops_tui.core.maintenance import check_database

    settings = settings_for(ctx)
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

    settings = settings_for(ctx)
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

    settings = settings_for(ctx)
    report = restore_database(backup, settings.db, force=force, busy_timeout_ms=settings.busy_timeout_ms)
    rows = sum(report.tables.values())
    click.echo(f"restored {settings.db} from {backup}: {rows:,} rows, schema version {report.schema_version}")


@db.command("prune")
@click.option(
    "--older-than", "older_than", type=float, metavar="DAYS", help="Age in days (default: the retention_days setting)."
)
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.pass_context
def db_prune(ctx: click.Context, older_than: float | None, dry_run: bool) -> None:
    """Delete metrics, logs, closed episodes and unreviewed predictions older than DAYS (one transaction)."""
    from scops_tui.core.maintenance import prune_database

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


def writer_for(ctx: click.Context, *, create: bool = True) -> Any:
    """The database opened for writing (upgraded as needed; created too if `create`), closed when the command ends.

    Without `create`, a missing or empty path is one error line and nothing is created.
    """
    from scops_tui.core import store

    settings = settings_for(ctx)
    conn = store.open_database(settings.db, busy_timeout_ms=settings.busy_timeout_ms, create=create)
    ctx.call_on_close(conn.close)
    return conn


def reader_for(ctx: click.Context) -> Any:
    """The existing database opened read-only, closed when the command ends; a read never creates or changes a file."""
    from scops_tui.core import store

    settings = settings_for(ctx)
    conn = store.open_reader(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
    ctx.call_on_close(conn.close)
    return conn


DETECT_PROGRESS_ROWS = 5000
"""`detect` shows a progress bar on a terminal for files with more rows than this (a few seconds' work)."""


@main.command()
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def detect(csv_file: Path, out: Path | None) -> None:
    """Score a CSV series (a timestamp column plus numeric columns) causally; add an anomaly_score column.

    Rows are scored in file order. Timestamps that step back or repeat are accepted (one warning line
    says how many and where the first is); the time-of-day features use them as given. No database is
    needed.
    """
    from scops_tui.core.detector import score_series
    from scops_tui.core.output_file import open_output
    from scops_tui.core.series_csv import read_series, write_scores

    series = read_series(csv_file)
    warning = series.clock_warning()
    if warning:
        click.echo(f"scops-tui: warning: {warning}", err=True)
    if sys.stderr.isatty() and len(series) > DETECT_PROGRESS_ROWS:
        with click.progressbar(length=len(series), label="scoring", file=sys.stderr) as bar:
            scores = score_series(series.timestamps_ms, series.rows, progress=bar.update)
    else:
        scores = score_series(series.timestamps_ms, series.rows)
    if out is None:
        write_scores(series, scores, sys.stdout)
        return
    with open_output(out) as handle:
        write_scores(series, scores, handle)
    click.echo(f"scored {len(scores):,} rows of {csv_file} into {out}", err=True)


@main.group()
def model() -> None:
    """List, train, deploy and evaluate the detector models."""


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@model.command("list")
@click.option("--source", help="Only this source's model.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def model_list(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """Every model version: status, data window, size and quality."""
    from scops_tui.core import registry

    versions = registry.list_versions(reader_for(ctx), source)
    if as_json:
        click.echo(json.dumps([version.as_json() for version in versions]))
        return
    if not versions:
        click.echo("no model versions yet (the recorder makes one with its first samples)")
        return
    click.echo(
        f"{'id':>4}  {'model':<24} {'version':>7}  {'kind':<18} {'status':<10} {'rows':>8}  "
        f"{'data window (UTC)':<36} {'prec':>5} {'rec':>5} {'f1':>5}"
    )
    for v in versions:
        window = f"{iso(v.training_data_start)[:16]} .. {iso(v.training_data_end)[:16]}"
        click.echo(
            f"{v.id:>4}  {v.model_name[:24]:<24} {v.version:>7}  {v.kind:<18} {v.status:<10} "
            f"{v.training_data_size:>8,}  {window:<36} {_figure(v.precision):>5} {_figure(v.recall):>5} "
            f"{_figure(v.f1):>5}"
        )


@model.command("train")
@click.option("--source", help="Whose history to train on (default: this host's source).")
@click.option("--deploy", is_flag=True, help="Deploy the new version at once.")
@click.pass_context
def model_train(ctx: click.Context, source: str | None, deploy: bool) -> None:
    """Train a learned detector on a source's recent history; it becomes a ready (or deployed) version."""
    from scops_tui.core import store
    from scops_tui.core.training import train_source

    conn = writer_for(ctx, create=False)
    chosen = source or ctx.obj["settings"].source
    click.echo(f"training on the recent history of {chosen} ...", err=True)
    version = train_source(conn, chosen, deploy=deploy, created_by=store.user_id(conn, store.operator_username()))
    click.echo(
        f"version {version.id} ({version.model_name} v{version.version}) {version.status}: "
        f"{version.training_data_size:,} samples from {iso(version.training_data_start)} "
        f"to {iso(version.training_data_end)}"
    )
    if not deploy:
        click.echo(f"deploy it with: scops-tui model deploy {version.id}")


@model.command("deploy")
@click.argument("version_id", type=int)
@click.pass_context
def model_deploy(ctx: click.Context, version_id: int) -> None:
    """Make VERSION_ID the version that scores its source; the previous one is deprecated."""
    from scops_tui.core import registry

    version = registry.deploy(writer_for(ctx, create=False), version_id)
    click.echo(f"deployed version {version.id} ({version.model_name} v{version.version})")


@model.command("evaluate")
@click.argument("version_id", type=int, required=False)
@click.option("--source", help="With no VERSION_ID: the deployed version of this source.")
@click.option(
    "--labels",
    "labels_source",
    metavar="SOURCE",
    help="Also measure against the labels imported for SOURCE (default: the version's own source's, if any).",
)
@click.pass_context
def model_evaluate(ctx: click.Context, version_id: int | None, source: str | None, labels_source: str | None) -> None:
    """Count a version's episodes against verdicts and imported labels; store precision, recall and F1.

    A confirmed episode is one true positive, a false-positive verdict one false positive, a span marked
    as missed one false negative; against imported labels, each labelled event found or missed counts
    once. Sample-level counts are printed beside.
    """
    from scops_tui.core import registry, store

    conn = writer_for(ctx, create=False)
    if version_id is None:
        chosen = source or ctx.obj["settings"].source
        deployed = registry.deployed_version(conn, chosen)
        if deployed is None:
            raise ScopsError(f"no deployed model for source {chosen!r}; name a VERSION_ID")
        version_id = deployed.id
    result = registry.evaluate(
        conn,
        version_id,
        labels_source=labels_source,
        created_by=store.user_id(conn, store.operator_username()),
    )
    version, episodes, samples = result.version, result.episodes, result.samples
    against = "verdicts" + ("" if result.labels_source is None else f" and the labels of {result.labels_source}")
    if result.scored:
        click.echo(f"scored {result.scored:,} labelled samples of {result.labels_source} with this version", err=True)
    click.echo(
        f"version {version.id} ({version.model_name} v{version.version}) against {against}: episodes "
        f"TP {episodes.true_positives}, FP {episodes.false_positives}, FN {episodes.false_negatives}; "
        f"precision {_figure(episodes.precision)}, recall {_figure(episodes.recall)}, F1 {_figure(episodes.f1)}"
    )
    click.echo(
        f"  samples (beside, not stored as precision/recall): {samples.labelled} verdicts (TP "
        f"{samples.true_positives}, FP {samples.false_positives}, FN {samples.false_negatives}, TN "
        f"{samples.true_negatives}); precision {_figure(samples.precision)}, recall {_figure(samples.recall)}, "
        f"F1 {_figure(samples.f1)}, accuracy {_figure(samples.accuracy)}"
    )


@main.group()
def anomalies() -> None:
    """The review queue of anomaly episodes."""


@anomalies.command("list")
@click.option(
    "--status",
    type=click.Choice(["open", "acknowledged", "resolved", "all"]),
    default="open",
    show_default=True,
)
@click.option("--severity", type=click.Choice(["low", "medium", "high", "critical"]), help="Only this severity.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.pass_context
def anomalies_list(ctx: click.Context, status: Any, severity: str | None, limit: int | None, as_json: bool) -> None:
    """Episodes, newest first."""
    from scops_tui.core import review

    episodes = review.list_episodes(reader_for(ctx), status, severity, limit)
    if as_json:
        click.echo(json.dumps([episode.as_json() for episode in episodes]))
        return
    if not episodes:
        click.echo("no anomaly episodes" + ("" if status == "all" else f" with status {status}"))
        return
    click.echo(
        f"{'id':>5}  {'start (UTC)':<19} {'end':<8} {'source':<16} {'severity':<8} {'peak':>5}  {'status':<24} metrics"
    )
    for e in episodes:
        metrics = ", ".join(str(item.get("metric")) for item in e.contributing_metrics[:3])
        end = "-" if e.end_timestamp is None else iso(e.end_timestamp)[11:19]
        state = e.status + (f" ({e.verdict})" if e.verdict else "")
        peak = e.peak_score if e.peak_score is not None else e.confidence_score
        click.echo(
            f"{e.id:>5}  {iso(e.timestamp)[:19]:<19} {end:<8} {e.source[:16]:<16} {e.severity or '-':<8} "
            f"{peak:>5.2f}  {state:<24} {metrics}"
        )


def _review_command(name: str, help_text: str) -> None:
    """Register `anomalies NAME ID [--note TEXT]`, acting as the OS login user."""

    @anomalies.command(name, help=help_text)
    @click.argument("episode_id", metavar="ID", type=int)
    @click.option("--note", help="A note kept with the episode (who and when are added).")
    @click.pass_context
    def action(ctx: click.Context, episode_id: int, note: str | None) -> None:
        from scops_tui.core import review, store

        conn = writer_for(ctx, create=False)
        who = store.operator_username()
        if name == "ack":
            episode = review.acknowledge(conn, episode_id, who, note)
        elif name == "resolve":
            episode = review.resolve(conn, episode_id, who, note)
        else:
            episode = review.give_verdict(conn, episode_id, who, confirmed=name == "confirm", note=note)
        verdict = f", {episode.verdict}" if episode.verdict else ""
        click.echo(f"episode {episode.id}: {episode.status}{verdict} (by {who})")


_review_command("ack", "Acknowledge episode ID: seen, under review.")
_review_command("confirm", "Confirm episode ID as a true anomaly (acknowledges it).")
_review_command("false-positive", "Mark episode ID as a false positive (acknowledges it).")
_review_command("resolve", "Resolve episode ID, with an optional --note.")


# Command groups that live in their own modules add themselves to `main` when imported.
import scops_tui.cli_sync  # noqa: E402
import scops_tui.cli_transfer  # noqa: E402, F401


def run() -> None:
    """Entry point used by `python -m scops_tui`."""
    main(prog_name="scops-tui")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run()
