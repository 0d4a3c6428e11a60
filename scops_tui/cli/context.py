"""What every command shares: the effective settings and the database connections of one command."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from scops_tui.config import Settings, load_settings


def settings_for(ctx: click.Context, **overrides: Any) -> Settings:
    """The effective settings, with this command's flags as the top layer."""
    base: dict[str, Any] = dict(ctx.obj.get("overrides", {}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    settings = load_settings(base)
    ctx.obj["settings"] = settings
    return settings


def writer_for(ctx: click.Context, *, create: bool = True) -> Any:
    """The database opened for writing (upgraded as needed; created too if `create`), closed when the command ends.

    Without `create`, a missing or empty path is one error line and nothing is created.
    """
    from scops_tui.store import database as store

    settings = settings_for(ctx)
    conn = store.open_database(settings.db, busy_timeout_ms=settings.busy_timeout_ms, create=create)
    ctx.call_on_close(conn.close)
    return conn


def reader_for(ctx: click.Context) -> Any:
    """The existing database opened read-only, closed when the command ends; a read never creates or changes a file."""
    from scops_tui.store import database as store

    settings = settings_for(ctx)
    conn = store.open_reader(settings.db, busy_timeout_ms=settings.busy_timeout_ms)
    ctx.call_on_close(conn.close)
    return conn


@contextlib.contextmanager
def progress_bar(label: str, length: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise (pipes and logs stay clean)."""
    if not sys.stderr.isatty() or length <= 0:
        yield None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update
