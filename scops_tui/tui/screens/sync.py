"""Sync to PostgreSQL: not configured yet (a later release fills this screen in)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Footer, Header, Static

from scops_tui.tui.screens.base import ScopsScreen


class SyncScreen(ScopsScreen):
    """Where the sync target, pending rows and last result will show."""

    SCREEN_NAME = "Sync"
    BINDINGS: ClassVar[list[BindingType]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("sync: not configured\n\nNo PostgreSQL target is set up for this database.", id="sync-state")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Sync"
