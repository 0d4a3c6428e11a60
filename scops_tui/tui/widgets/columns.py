"""Which table columns fit a width: the least useful go first, and the screen says which are hidden."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CELL_PADDING = 2
"""A DataTable cell's padding, one column either side."""


@dataclass(frozen=True)
class Column:
    """A table column: its key, heading, width in cells, and drop rank (0: always kept; higher goes first)."""

    key: str
    label: str
    width: int
    drop: int = 0


def fit_columns(columns: Sequence[Column], available: int) -> tuple[list[Column], list[str]]:
    """The columns kept at `available` cells (in their order) and the labels of those hidden."""
    kept = list(columns)
    hidden: list[str] = []
    for column in sorted((c for c in columns if c.drop), key=lambda c: -c.drop):
        if sum(c.width + CELL_PADDING for c in kept) <= available:
            break
        kept.remove(column)
        hidden.append(column.label)
    return kept, hidden


def hidden_note(hidden: Sequence[str]) -> str:
    """`  (hidden at this width: source, verdict)`, or nothing."""
    return f"  [dim](hidden at this width: {', '.join(hidden)})[/dim]" if hidden else ""
