"""What every scops-tui screen shares: the app, typed; errors of its workers shown, not fatal; a footer that fits."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.content import Content
from textual.css.query import NoMatches
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Label
from textual.worker import Worker, WorkerState

from scops_tui.tui.compositor import ChangedLinesCompositor

if TYPE_CHECKING:
    from scops_tui.tui.app import ScopsApp


def set_line(label: Label, markup: str) -> None:
    """Show `markup` in a one-line label: when it still fits that line, only the label repaints (a layout of
    the whole screen is what a text of another height needs, and costs the most of a redraw)."""
    fits = label.size.height == 1 and Content.from_markup(markup).cell_length <= label.size.width
    label.update(markup, layout=not fits)


def set_text(label: Label, markup: str) -> None:
    """Show `markup` in a label whose height follows its text (`height: auto`): only the label repaints when
    the new text wraps to as many lines as the label has now; a screen layout only when that changes."""
    width, height = label.content_region.width, label.content_region.height
    same = width > 0 and len(Content.from_markup(markup).wrap(width)) == height
    label.update(markup, layout=not same)


class ScopsScreen(Screen[None]):
    """A top-level screen of the app."""

    SCREEN_NAME: ClassVar[str] = ""

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._compositor = ChangedLinesCompositor()  # a frame renders only the lines that changed

    @property
    def scops(self) -> ScopsApp:
        """The app, typed."""
        return cast("ScopsApp", self.app)

    def on_resize(self, event: Resize) -> None:
        """On a narrow terminal the footer packs its keys tighter and drops the palette hint (ctrl+p still works)."""
        try:
            footer = self.query_one(Footer)
        except NoMatches:
            return
        narrow = event.size.width < 120
        footer.compact = narrow
        if footer.show_command_palette == narrow:
            footer.show_command_palette = not narrow
            footer.refresh(recompose=True)  # the palette key goes (or comes back) now, not at the next screen

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show a failed worker's error; the app keeps running (workers run with exit_on_error=False)."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.notify(str(event.worker.error), title=f"{self.SCREEN_NAME}: failed", severity="error", timeout=10)
