"""Modal dialogs that return typed results: a note for resolving, a time span for a missed anomaly."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from scops_tui.store.timestamps import parse_timestamp
from scops_tui.tui.formatting import clock_time


class NoteDialog(ModalScreen[str | None]):
    """Ask for a note; dismissed with the text (possibly empty) on enter, None on escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt, classes="dialog-title")
            yield Input(placeholder="note (optional), enter to confirm, escape to cancel", id="note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.query_one("#note", Input).value if event.button.id == "ok" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SpanDialog(ModalScreen[tuple[int, int] | None]):
    """Ask for a time span (UTC); dismissed with (start_ms, end_ms), or None on escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, prompt: str, start_ms: int, end_ms: int) -> None:
        super().__init__()
        self.prompt = prompt
        self.start_ms = start_ms
        self.end_ms = end_ms

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt, classes="dialog-title")
            yield Label("from (UTC)")
            yield Input(clock_time(self.start_ms), id="span-start")
            yield Label("to (UTC)")
            yield Input(clock_time(self.end_ms), id="span-end")
            yield Label("", id="span-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Mark as missed", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def _submit(self) -> None:
        try:
            start = parse_timestamp(self.query_one("#span-start", Input).value.replace(" ", "T"))
            end = parse_timestamp(self.query_one("#span-end", Input).value.replace(" ", "T"))
        except ValueError as exc:
            self.query_one("#span-error", Label).update(f"not a time: {exc}")
            return
        if end < start:
            self.query_one("#span-error", Label).update("the end is before the start")
            return
        self.dismiss((start, end))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "span-start":
            self.query_one("#span-end", Input).focus()
        else:
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
