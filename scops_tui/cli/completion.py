"""Shell completion of values (click's mechanism): table names, `--format` values, sources, episode and
model version ids read from the database.

Every function here runs while the user presses Tab: it never raises, never prints, never creates or
changes a file, and waits at most a moment for a locked database. A missing or unreadable database
completes nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import click
from click.shell_completion import CompletionItem

from scops_tui.store.timestamps import iso

_BUSY_MS = 200
"""How long completion waits for a database locked by a writer before giving up (completing nothing)."""
_MOST = 200
"""At most this many ids are offered."""

EXPORT_FORMATS = ("csv", "jsonl", "json")
IMPORT_FORMATS = ("json", "csv")


@contextlib.contextmanager
def _database(ctx: click.Context) -> Iterator[sqlite3.Connection | None]:
    """The database the command line names (--db, SCOPS_DB, config), read-only, or None if it cannot be read."""
    conn = None
    try:
        from scops_tui.config import load_settings
        from scops_tui.store import database as store

        flag = ctx.find_root().params.get("db_path")
        settings = load_settings({"db": flag} if flag else {})
        if store.inspect_file(settings.db) is store.FileState.SQLITE:
            conn = store.open_reader(settings.db, busy_timeout_ms=_BUSY_MS)
    except Exception:
        conn = None
    try:
        yield conn
    finally:
        if conn is not None:
            conn.close()


def _rows(ctx: click.Context, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    with _database(ctx) as conn:
        if conn is None:
            return []
        try:
            return list(conn.execute(sql, params).fetchmany(_MOST))
        except sqlite3.Error:
            return []


def _starting(values: tuple[str, ...], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(value) for value in values if value.startswith(incomplete)]


def complete_table(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The eight tables `export` reads."""
    from scops_tui.store.database import TABLES

    return _starting(tuple(TABLES), incomplete)


def complete_export_format(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`export --format`: csv, jsonl, json."""
    return _starting(EXPORT_FORMATS, incomplete.lower())


def complete_import_format(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """`import metrics --format`: json, csv."""
    return _starting(IMPORT_FORMATS, incomplete.lower())


def _id_prefix(incomplete: str) -> str | None:
    """The digits typed so far, or None when what is typed cannot start an id."""
    text = incomplete.strip()
    return text if text.isdigit() or not text else None


def complete_episode_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Episode ids, newest first, each with its status, severity, start and source as help."""
    prefix = _id_prefix(incomplete)
    if prefix is None:
        return []
    rows = _rows(
        ctx,
        "SELECT id, timestamp, source, severity, acknowledged, resolved_at FROM anomaly_predictions "
        "WHERE CAST(id AS TEXT) LIKE ? || '%' ORDER BY timestamp DESC, id DESC",
        (prefix,),
    )
    items = []
    for episode_id, start, source, severity, acknowledged, resolved_at in rows:
        status = "resolved" if resolved_at is not None else "acknowledged" if acknowledged else "open"
        items.append(CompletionItem(str(episode_id), help=f"{status} {severity or '-'} {iso(start)[:16]} {source}"))
    return items


def complete_version_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Model version ids, newest first, each with its model, version and status as help."""
    prefix = _id_prefix(incomplete)
    if prefix is None:
        return []
    rows = _rows(
        ctx,
        "SELECT v.id, m.model_name, v.version, v.status FROM ml_model_versions AS v "
        "JOIN ml_models AS m ON m.id = v.model_id WHERE CAST(v.id AS TEXT) LIKE ? || '%' ORDER BY v.id DESC",
        (prefix,),
    )
    return [CompletionItem(str(row[0]), help=f"{row[1]} v{row[2]} {row[3]}") for row in rows]


def complete_source(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Source names that have a model (every recorded or imported source has one)."""
    rows = _rows(ctx, "SELECT DISTINCT source FROM ml_models WHERE source IS NOT NULL ORDER BY source", ())
    return [CompletionItem(str(row[0])) for row in rows if str(row[0]).startswith(incomplete)]
