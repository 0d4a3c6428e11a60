"""The model registry: versions with status, data window and quality; retrain and deploy by key."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar

from scops_tui.detection.registry import ModelVersion
from scops_tui.tui import formatting, readers
from scops_tui.tui.messages import TrainingFinished, VersionChanged, VersionsLoaded
from scops_tui.tui.screens.base import ScopsScreen
from scops_tui.tui.widgets.columns import Column, fit_columns, hidden_note

MOVE = Binding.Group("move", compact=True)
VERSION_COLUMNS = (
    Column("id", "id", 3, drop=1),
    Column("model", "model", 17),
    Column("version", "version", 7),
    Column("kind", "kind", 16, drop=3),
    Column("status", "status", 12),
    Column("from", "data from", 16),
    Column("to", "data to", 16, drop=2),
    Column("rows", "rows", 7, drop=4),
    Column("precision", "precision", 9),
    Column("recall", "recall", 6),
    Column("f1", "f1", 5),
)
"""The versions table; on a narrow terminal rows go first, then kind, data to, id (quality figures stay)."""


class ModelsScreen(ScopsScreen):
    """Detector versions of every source."""

    SCREEN_NAME = "Models"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", group=MOVE, id="models.down"),
        Binding("k", "cursor_up", "Up", group=MOVE, id="models.up"),
        Binding("t", "retrain", "Retrain", id="models.retrain"),
        Binding("d", "deploy", "Deploy", id="models.deploy"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.versions: list[ModelVersion] = []
        self.training = False
        self.hidden: list[str] = []
        self.columns: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("", id="models-summary")
        yield ProgressBar(total=None, show_eta=False, id="training-progress")
        yield DataTable(id="versions", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Models"
        self._fit(self.size.width)
        self.query_one("#training-progress").display = False

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        kept, hidden = fit_columns(VERSION_COLUMNS, width - 2)
        keys = [c.key for c in kept]
        if keys == self.columns:
            return
        self.columns, self.hidden = keys, hidden
        table = self.query_one("#versions", DataTable)
        table.clear(columns=True)
        for column in kept:
            table.add_column(column.label, key=column.key)
        self._draw_rows()
        self._draw_summary()

    def on_screen_resume(self) -> None:
        self.load_versions()

    @work(thread=True, exit_on_error=False, exclusive=True, group="versions", name="load versions")
    def load_versions(self) -> None:
        self.post_message(VersionsLoaded(self.scops.reader.versions()))

    def on_versions_loaded(self, message: VersionsLoaded) -> None:
        self.versions = message.versions
        self._draw_rows()
        self.query_one("#versions", DataTable).focus()
        self._draw_summary()

    def _draw_rows(self) -> None:
        table = self.query_one("#versions", DataTable)
        row = table.cursor_row
        table.clear()
        tf = self.scops.time_format
        for version in self.versions:
            cells = {
                "id": str(version.id),
                "model": version.model_name,
                "version": version.version,
                "kind": version.kind,
                "status": f"{version.status} ●" if version.is_deployed else version.status,
                "from": tf.short(version.training_data_start),
                "to": tf.short(version.training_data_end),
                "rows": f"{version.training_data_size:,}",
                "precision": formatting.fraction(version.precision),
                "recall": formatting.fraction(version.recall),
                "f1": formatting.fraction(version.f1),
            }
            table.add_row(*(cells[key] for key in self.columns), key=str(version.id))
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def _draw_summary(self) -> None:
        deployed = [v for v in self.versions if v.is_deployed]
        count = len(self.versions)
        text = f"{count} version{'' if count == 1 else 's'}; deployed: " + (
            ", ".join(f"{v.model_name} v{v.version}" for v in deployed) or "none"
        )
        text += f"; times {self.scops.time_format.zone}" + hidden_note(self.hidden)
        if self.training:
            text += f"   [b]training a new version of {self.scops.settings.source}…[/b]"
        self.query_one("#models-summary", Label).update(text)

    def action_cursor_down(self) -> None:
        """Move the cursor down a row."""
        self.query_one("#versions", DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        """Move the cursor up a row."""
        self.query_one("#versions", DataTable).action_cursor_up()

    def _selected(self) -> ModelVersion | None:
        table = self.query_one("#versions", DataTable)
        if not self.versions or table.row_count == 0:
            return None
        return self.versions[table.cursor_row]

    def action_deploy(self) -> None:
        """Deploy the version under the cursor."""
        version = self._selected()
        if version is None:
            self.notify("no version selected", severity="warning")
            return
        self.deploy(version.id)

    @work(thread=True, exit_on_error=False, group="deploy", name="deploy")
    def deploy(self, version_id: int) -> None:
        self.post_message(VersionChanged("deployed", readers.deploy_version(self.scops.settings.db, version_id)))

    def action_retrain(self) -> None:
        """Train a new version of this host's detector on its history (in a worker; progress shown)."""
        if self.training:
            self.notify("training is already running", severity="warning")
            return
        self.training = True
        self.query_one("#training-progress").display = True
        self._draw_summary()
        self.retrain()

    @work(thread=True, exit_on_error=False, exclusive=True, group="retrain", name="retrain")
    def retrain(self) -> None:
        try:
            version = readers.retrain(self.scops.settings.db, self.scops.settings.source)
        finally:
            self.post_message(TrainingFinished())
        self.post_message(VersionChanged("trained", version))

    def on_training_finished(self, message: TrainingFinished) -> None:
        self.training = False
        self.query_one("#training-progress").display = False
        self._draw_summary()

    def on_version_changed(self, message: VersionChanged) -> None:
        self.notify(f"{message.verb} {message.version.model_name} v{message.version.version}")
        self.load_versions()
