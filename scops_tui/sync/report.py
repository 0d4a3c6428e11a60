"""What a sync run reports: the counts per table, the run's summary, and the hooks that watch it batch by batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ProgressCallback = Callable[[str, int, int], None]
"""Called after each batch with (table, rows done so far in this run, rows pending at its start)."""
BatchHook = Callable[[str, int], None]
"""Called after each committed batch with (table, batch number): tests use it to break connections."""


@dataclass
class TableReport:
    """What one run did to one table on the server."""

    sent: int = 0
    """Rows sent (new and changed)."""
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    """Rows the server refused in this run (again, for rows already on the rejects list)."""
    retried: int = 0
    """Rows of the rejects list sent again (those that landed count in `inserted` or `updated`)."""


@dataclass(frozen=True)
class SyncReport:
    """The summary of one sync run."""

    target: str
    tables: dict[str, TableReport]
    seconds: float
    cpu_seconds: float
    dry_run: bool = False
    reconnects: int = 0

    @property
    def sent(self) -> int:
        return sum(t.sent for t in self.tables.values())

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 4),
            "cpu_seconds": round(self.cpu_seconds, 4),
            "reconnects": self.reconnects,
            "tables": {name: vars(report) for name, report in self.tables.items()},
        }
