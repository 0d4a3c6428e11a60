"""The local app's History, queue and detail screens, reading the central database for the fleet view.

They are the same screens (same keys, charts and preview) with what differs in a read-only view of many
hosts: the queue filters by host, review actions say which host to review the episode on instead of
writing to the server, and History follows the host chosen on the Hosts screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.events import Mount
from textual.widgets import Label

from scops_tui.detection.review import Episode, Status
from scops_tui.tui.messages import EpisodesLoaded, SourcesLoaded
from scops_tui.tui.readers import ReviewAction
from scops_tui.tui.screens.anomalies import FILTERS, AnomaliesScreen
from scops_tui.tui.screens.base import ScopsScreen
from scops_tui.tui.screens.detail import DetailScreen
from scops_tui.tui.screens.dialogs import SourceDialog
from scops_tui.tui.screens.history import HistoryScreen
from scops_tui.tui.screens.review_base import ReviewScreen

if TYPE_CHECKING:
    from scops_tui.tui.fleet import FleetApp

ALL_HOSTS = "(all hosts)"
CLI_VERB = {"acknowledge": "ack", "confirm": "confirm", "false_positive": "false-positive", "resolve": "resolve"}


def _fleet(screen: ScopsScreen) -> FleetApp:
    return cast("FleetApp", screen.app)


class ReadOnlyReview(ReviewScreen):
    """Review actions in the fleet view: nothing is written; the operator is told where to act."""

    def where_to_review(self, action: ReviewAction, ids: list[int]) -> str:
        """`review on web1: scops-tui anomalies ack 12` for each host of the target episodes."""
        reader = _fleet(self).fleet_reader
        per_host: dict[str, list[int]] = {}
        for episode_id in ids:
            origin = reader.origin(episode_id)
            per_host.setdefault(origin.label, []).append(origin.local_id)
        verb = CLI_VERB[action]
        parts = [
            f"on {host} (episode {', '.join(str(i) for i in local)}): scops-tui anomalies {verb} {local[0]}"
            + (" …" if len(local) > 1 else "")
            for host, local in per_host.items()
        ]
        return "the fleet view only reads; review " + "; ".join(parts)

    def review(self, action: ReviewAction, note: str | None = None, ids: list[int] | None = None) -> None:
        """Say which host to review the target episodes on (the fleet view never writes to the server)."""
        targets = self.target_ids() if ids is None else ids
        if not targets:
            self.notify("no episode selected", severity="warning")
            return
        self.notify(self.where_to_review(action, targets), title="read-only", severity="warning", timeout=12)

    def action_resolve(self) -> None:
        """As the other review actions: say where to resolve (no note is asked for)."""
        self.review("resolve")


class FleetDetailScreen(ReadOnlyReview, DetailScreen):
    """One episode of any host, from the server."""

    def on_mount(self) -> None:
        # DetailScreen's own on_mount runs after this one (Textual calls each class's handler): title later.
        self.call_after_refresh(self._title)

    def _title(self) -> None:
        origin = _fleet(self).fleet_reader.origin(self.episode_id)
        self.sub_title = f"Anomaly {origin.local_id} on {origin.label} (read-only)"


class FleetAnomaliesScreen(ReadOnlyReview, AnomaliesScreen):
    """Every host's episodes: filtered by host (`h`), status and severity; review happens on each host."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("h", "pick_host", "Host", tooltip="Host filter", group=FILTERS, id="fleet_anomalies.host_filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.host: str | None = None

    def on_mount(self) -> None:
        # AnomaliesScreen's on_mount runs after this one (Textual calls each class's handler): title later.
        self.call_after_refresh(setattr, self, "sub_title", "Anomalies of the fleet (read-only)")

    def on_screen_resume(self) -> None:
        # Runs before AnomaliesScreen's handler, which reads the queue with the host set here.
        wanted = _fleet(self).queue_host
        if wanted is not None:
            self.host = wanted or None
            _fleet(self).queue_host = None

    @work(thread=True, exit_on_error=False, exclusive=True, group="episodes", name="load episodes")
    def load_episodes(self, status: Status, severity: str | None) -> None:
        self.post_message(EpisodesLoaded(_fleet(self).fleet_reader.host_episodes(status, severity, self.host)))

    def _cells(self, episode: Episode) -> list[str | Text]:
        # The id shown is the episode's id on its host (what `scops-tui anomalies` there takes).
        cells = super()._cells(episode)
        if "id" in self.columns:
            cells[self.columns.index("id")] = str(_fleet(self).fleet_reader.origin(episode.id).local_id)
        return cells

    def _draw_filter(self) -> None:
        super()._draw_filter()
        label = self.query_one("#queue-filter", Label)
        host = f"host: [b]{self.host or 'all'}[/b] (h)   "
        label.update(host + str(label.render()))

    def action_pick_host(self) -> None:
        """Choose the host whose episodes to show (or every host)."""
        self.load_hosts()

    @work(thread=True, exit_on_error=False, exclusive=True, group="sources", name="hosts")
    def load_hosts(self) -> None:
        self.post_message(SourcesLoaded(_fleet(self).fleet_reader.sources()))

    def on_sources_loaded(self, message: SourcesLoaded) -> None:
        self._pick(message.sources)

    def _pick(self, labels: list[str]) -> None:
        def chosen(label: str | None) -> None:
            if label is not None:
                self.host = None if label == ALL_HOSTS else label
                self._select_first = True
                self.reload()

        self.app.push_screen(SourceDialog([ALL_HOSTS, *labels], self.host or ALL_HOSTS), chosen)

    def action_details(self) -> None:
        """Open the episode under the cursor (read-only)."""
        current = self._cursor_id()
        if current is not None:
            self._back_from_detail = True
            self.app.push_screen(FleetDetailScreen(current))


class FleetHistoryScreen(HistoryScreen):
    """A host's history from the server: the host chosen on the Hosts screen (or with `S`)."""

    def __init__(self) -> None:
        super().__init__()
        self.range_name = "6h"

    def on_mount(self, event: Mount | None = None) -> None:
        if event is not None:
            event.prevent_default()  # instead of HistoryScreen's: the host, not this machine's source
        self.sub_title = "History (from the server)"
        self.source = _fleet(self).fleet_host or ""
        self.call_after_refresh(self.action_range, self.range_name)

    def on_screen_resume(self) -> None:
        wanted = _fleet(self).fleet_host
        if wanted and wanted != self.source and self.is_mounted:
            self.source = wanted
            self.selected = None
            self.view = None
            self.action_range(self.range_name)

    def action_mark_missed(self) -> None:
        """Marking a missed anomaly writes: do it on the host."""
        self.notify(
            f"the fleet view only reads; mark missed anomalies on {self.source or 'the host'} (History there, x)",
            title="read-only",
            severity="warning",
        )

    def action_open_or_store(self) -> None:
        """Open the highlighted episode's detail (read-only)."""
        if self.view is None or self.selected is None:
            self.notify("no episode highlighted: n / p pick one", severity="warning")
            return
        self.app.push_screen(FleetDetailScreen(self.view.episodes[self.selected].id))
