"""Waiting on the app without timed assertions: poll a condition with a generous timeout."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable

from scops_tui.tui.widgets.process_table import ProcessTable

TIMEOUT = 20.0


async def wait_for(pilot: Pilot[object], condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    """Let the app run until `condition()` is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


LONG_LIVED = frozenset({"recorder", "database-watch"})
"""Worker groups that run as long as the app: waiting for every worker would never end."""


async def workers_done(app: App[object]) -> None:
    """Wait until every worker that finishes on its own has finished (the app's long-lived loops excepted)."""
    finishing = [w for w in app.workers if w.group not in LONG_LIVED]
    if finishing:  # (an empty list would mean every worker to Textual)
        await app.workers.wait_for_complete(finishing)


def table_column(table: DataTable[object] | ProcessTable, column: str) -> list[str]:
    """The text of one column, top to bottom."""
    if isinstance(table, ProcessTable):
        return table.column_values([label for label, _width in table.columns].index(column))
    return [str(table.get_cell(row_key, column)) for row_key in table.rows]


def row_ids(table: DataTable[object]) -> list[int]:
    """The row keys as ints, top to bottom."""
    return [int(str(row_key.value)) for row_key in table.rows]
