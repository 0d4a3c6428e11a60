"""The review actions shared by the queue and the detail screen: acknowledge, confirm, false positive, resolve."""

from __future__ import annotations

from textual import work

from scops_tui.detection.review import Episode
from scops_tui.store import database as store
from scops_tui.tui import readers
from scops_tui.tui.messages import EpisodesReviewed
from scops_tui.tui.readers import ReviewAction
from scops_tui.tui.screens.base import ScopsScreen
from scops_tui.tui.screens.dialogs import NoteDialog

PAST_TENSE = {
    "acknowledge": "acknowledged",
    "confirm": "confirmed as anomalies",
    "false_positive": "marked false positive",
    "resolve": "resolved",
}


class ReviewScreen(ScopsScreen):
    """A screen whose actions review episodes (the marked ones, else the one under the cursor)."""

    def target_ids(self) -> list[int]:
        """The episodes an action applies to."""
        raise NotImplementedError

    def show_reviewed(self, episodes: list[Episode]) -> None:
        """Show the episodes as the action left them."""
        raise NotImplementedError

    def action_acknowledge(self) -> None:
        """Acknowledge: seen by the operator."""
        self.review("acknowledge")

    def action_confirm(self) -> None:
        """Confirm as a true anomaly."""
        self.review("confirm")

    def action_false_positive(self) -> None:
        """Mark as a false positive."""
        self.review("false_positive")

    def action_resolve(self) -> None:
        """Resolve, with a note asked for in a dialog."""
        ids = self.target_ids()
        if not ids:
            self.notify("no episode selected", severity="warning")
            return
        what = f"episode {ids[0]}" if len(ids) == 1 else f"{len(ids)} episodes"

        def resolved(note: str | None) -> None:
            if note is not None:
                self.review("resolve", note or None, ids)

        self.app.push_screen(NoteDialog(f"Resolve {what}: note"), resolved)

    def review(self, action: ReviewAction, note: str | None = None, ids: list[int] | None = None) -> None:
        """Store the action for the target episodes in a thread worker."""
        targets = self.target_ids() if ids is None else ids
        if not targets:
            self.notify("no episode selected", severity="warning")
            return
        self.run_review(action, targets, note)

    @work(thread=True, exit_on_error=False, group="review", name="review")
    def run_review(self, action: ReviewAction, ids: list[int], note: str | None) -> None:
        episodes = readers.apply_review(self.scops.settings.db, action, ids, store.operator_username(), note)
        self.post_message(EpisodesReviewed(action, episodes))

    def on_episodes_reviewed(self, message: EpisodesReviewed) -> None:
        self.show_reviewed(message.episodes)
        count = len(message.episodes)
        what = f"episode {message.episodes[0].id}" if count == 1 else f"{count} episodes"
        self.notify(f"{what} {PAST_TENSE.get(message.action, message.action)}")
