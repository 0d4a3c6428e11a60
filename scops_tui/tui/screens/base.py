"""What every scops-tui screen shares: access to the app's settings and errors of its workers shown, not fatal."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.screen import Screen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from scops_tui.tui.app import ScopsApp


class ScopsScreen(Screen[None]):
    """A top-level screen of the app."""

    SCREEN_NAME: ClassVar[str] = ""

    @property
    def scops(self) -> ScopsApp:
        """The app, typed."""
        return cast("ScopsApp", self.app)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show a failed worker's error; the app keeps running (workers run with exit_on_error=False)."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.notify(str(event.worker.error), title=f"{self.SCREEN_NAME}: failed", severity="error", timeout=10)
