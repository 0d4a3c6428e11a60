"""Help: every binding of every screen, with its id (for remapping in the config file) and current key."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Label

from scops_tui.tui.screens.base import ScopsScreen


class HelpScreen(ScopsScreen):
    """The key reference."""

    SCREEN_NAME = "Help"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back", id="help.back"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(
            "Every key, by screen. Remap one with a [b]\\[keys][/b] table in the config file, e.g. "
            '[b]"anomalies.acknowledge" = "A"[/b] (a key another binding of the screen uses is refused at '
            "start). ctrl+p opens the command palette; esc goes back.",
            id="help-intro",
        )
        yield DataTable(id="bindings", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Help"
        table = self.query_one("#bindings", DataTable)
        table.add_columns("screen", "key", "action", "id")
        for row in self.scops.binding_rows():
            table.add_row(row.screen, row.key, row.description, row.id, key=f"{row.screen}:{row.id}")

    def action_leave(self) -> None:
        """Back to the screen Help was opened from."""
        self.scops.action_show(self.scops.previous_mode)
