"""Plain-text tables for the listings (`anomalies list`, `model list`, `keys list`, ...): each column as wide
as its widest cell, long text cut with an ellipsis, control characters shown escaped."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ELLIPSIS = "…"
GAP = "  "


@dataclass(frozen=True)
class Column:
    """One column: its heading, right alignment for numbers, and the most characters a cell may take."""

    heading: str
    right: bool = False
    limit: int | None = None
    """Cells wider than this are cut to it, the last character an ellipsis (None: never cut)."""


def _printable(text: str) -> str:
    """`text` with newlines, tabs and other control characters escaped, so a cell stays on its line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def display_width(text: str) -> int:
    """Terminal columns `text` takes: wide East Asian characters count 2, combining marks 0."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def fit(text: str, limit: int | None) -> str:
    """`text` cut to `limit` columns, ending in an ellipsis when anything was cut."""
    if limit is None or display_width(text) <= limit:
        return text
    kept = ""
    for char in text:
        if display_width(kept + char) > limit - 1:
            break
        kept += char
    return kept + ELLIPSIS


def _pad(text: str, width: int, right: bool) -> str:
    space = " " * max(width - display_width(text), 0)
    return space + text if right else text + space


def render_table(columns: Sequence[Column], rows: Iterable[Sequence[object]]) -> list[str]:
    """The heading line and one line per row, columns sized to their content; no trailing spaces."""
    cells = [
        [fit(_printable(str(value)), column.limit) for value, column in zip(row, columns, strict=True)] for row in rows
    ]
    widths = [
        max([display_width(column.heading), *(display_width(row[index]) for row in cells)])
        for index, column in enumerate(columns)
    ]
    lines = []
    for row in [[column.heading for column in columns], *cells]:
        parts = [_pad(text, width, column.right) for text, width, column in zip(row, widths, columns, strict=True)]
        lines.append(GAP.join(parts).rstrip())
    return lines
