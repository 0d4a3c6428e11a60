"""The dashboard's process table: a fixed header and rows of plain text, striped, scrolled, redrawn by the row.

Textual's DataTable renders every cell through Rich and drops all its caches on any change, so a table whose
figures change at every refresh cost the open app more CPU than anything else it does (about 1.4 % of a
core with a refresh every 5 s, more than the recorder itself). The rows here are strings cut to their
columns, drawn as one strip a row, and a new set of rows repaints only the lines whose text changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class ProcessTable(ScrollView, can_focus=True):
    """Columns of fixed width; `show(rows)` replaces the rows and repaints only those that changed."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "process-table--header",
        "process-table--even-row",
        "process-table--odd-row",
    }
    DEFAULT_CSS = """
    ProcessTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .process-table--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .process-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .process-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .process-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .process-table--even-row {
            background: $surface-lighten-1 50%;
        }
    }
    """
    PADDING = 1
    """Blank cells on each side of a column, as DataTable has."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: list[tuple[str, int]] = []
        self.rows: list[list[str]] = []
        self.line_repaints = 0
        """Row lines repainted by `show` (for tests: unchanged rows are not repainted)."""

    @property
    def row_count(self) -> int:
        """How many rows the table holds."""
        return len(self.rows)

    def column_values(self, index: int) -> list[str]:
        """The text of column `index` in every row."""
        return [row[index] for row in self.rows]

    def set_columns(self, columns: Sequence[tuple[str, int]]) -> None:
        """Use these (label, width) columns; the rows are cleared."""
        self.columns = list(columns)
        self.rows = []
        self._resize()
        self.refresh()

    def show(self, rows: Sequence[Sequence[str]]) -> None:
        """Show `rows` (one string a column); only the lines whose text changed are repainted."""
        new = [list(row) for row in rows]
        old = self.rows
        self.rows = new
        if len(new) != len(old):
            self._resize()
            self.refresh()
            self.line_repaints += len(new)
            return
        top = self.scroll_offset.y
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            if before != after:
                y = index + 1 - top
                if 1 <= y < self.size.height:
                    self.line_repaints += 1
                    self.refresh(Region(0, y, self.size.width, 1))

    def _resize(self) -> None:
        width = sum(width + 2 * self.PADDING for _label, width in self.columns)
        self.virtual_size = Size(width, len(self.rows) + 1)

    def _line(self, cells: Sequence[str], style: Style) -> list[Segment]:
        pad = " " * self.PADDING
        parts = []
        for (_label, width), text in zip(self.columns, cells, strict=False):
            if len(text) > width:
                text = text[: max(width - 1, 0)] + "…"
            parts.append(pad + text.ljust(width) + pad)
        return [Segment("".join(parts), style)]

    def render_line(self, y: int) -> Strip:
        """The header on the first line, then the rows from the scroll position, striped."""
        width = self.size.width
        base = self.rich_style
        scroll_x = self.scroll_offset.x
        if y == 0:
            style = base + self.get_component_rich_style("process-table--header")
            segments = self._line([label for label, _width in self.columns], style)
        else:
            index = self.scroll_offset.y + y - 1
            if not 0 <= index < len(self.rows):
                return Strip.blank(width, base)
            name = "process-table--even-row" if index % 2 == 0 else "process-table--odd-row"
            segments = self._line(self.rows[index], base + self.get_component_rich_style(name))
        strip = Strip(segments)
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, base)
