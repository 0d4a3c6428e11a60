"""Sync to PostgreSQL: what `scops-tui sync status` shows (target masked, last outcome, pending, rejects); `n` syncs."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, Static
from textual.worker import get_current_worker

from scops_tui.store.database import TABLES
from scops_tui.sync.report import SyncReport
from scops_tui.sync.server import one_line
from scops_tui.tui import formatting, readers
from scops_tui.tui.messages import SyncFinished, SyncLoaded, SyncProgress
from scops_tui.tui.readers import SyncView
from scops_tui.tui.screens.base import ScopsScreen

NOT_CONFIGURED = "sync is not configured: set pg_url or SCOPS_PG_URL"


def _when(ms: int | None) -> str:
    return "never" if ms is None else f"{formatting.clock_time(ms)} UTC"


def summary(report: SyncReport) -> str:
    """The notification after a run: rows sent, then new/changed/rejected rows per table that had any."""
    lines = [f"synced {report.sent:,} rows to {report.target} in {report.seconds:.1f} s"]
    for table in TABLES:
        row = report.tables[table]
        if row.sent or row.rejected:
            extra = f", {row.rejected:,} rejected" if row.rejected else ""
            lines.append(f"{table}: {row.inserted:,} new, {row.updated:,} changed{extra}")
    return "\n".join(lines)


class SyncScreen(ScopsScreen):
    """The sync target, last attempt, success and error, pending rows per table and rejected rows."""

    SCREEN_NAME = "Sync"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "sync_now", "Sync now", id="sync.now"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: SyncView | None = None
        self.syncing = False
        self.sync_done: dict[str, int] = {}
        self.sync_total = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="sync-state")
        yield Label("", id="sync-progress-label")
        yield ProgressBar(total=None, show_eta=False, id="sync-progress")
        yield Label("Pending rows", classes="section-title")
        yield DataTable(id="sync-pending", cursor_type="none", zebra_stripes=True)
        yield Label("Rejected rows", id="sync-rejects-title", classes="section-title")
        yield DataTable(id="sync-rejects", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Sync"
        pending = self.query_one("#sync-pending", DataTable)
        for column in ("table", "pending rows"):
            pending.add_column(column, key=column)
        rejects = self.query_one("#sync-rejects", DataTable)
        for column in ("table", "local id", "sqlstate", "reason", "rejected at"):
            rejects.add_column(column, key=column)
        self._show_progress(False)
        self.draw_state()
        self.set_interval(self.scops.refresh_seconds, self._tick)

    def on_screen_resume(self) -> None:
        self.load_sync()

    def _tick(self) -> None:
        if self.is_current:
            self.load_sync()

    @work(thread=True, exit_on_error=False, exclusive=True, group="sync-status", name="sync status")
    def load_sync(self) -> None:
        self.post_message(SyncLoaded(readers.read_sync(self.scops.settings)))

    def on_sync_loaded(self, message: SyncLoaded) -> None:
        self.view = message.view
        self.draw_state()
        status = message.view.status
        pending = self.query_one("#sync-pending", DataTable)
        pending.clear()
        for table, count in status.pending.items():
            pending.add_row(table, f"{count:,}", key=table)
        pending.add_row("total", f"{message.view.pending_total:,}", key="total")
        self.query_one("#sync-rejects-title", Label).update(f"Rejected rows: {status.reject_count:,}")
        rejects = self.query_one("#sync-rejects", DataTable)
        rejects.clear()
        for reject in status.rejects:
            rejects.add_row(
                reject.table, str(reject.local_id), reject.sqlstate or "?", reject.reason, _when(reject.rejected_at)
            )

    def draw_state(self) -> None:
        """The state line and the target, last attempt, success and error (the target is known without I/O)."""
        view = self.view
        target = readers.sync_target(self.scops.settings)
        if target is None:
            lines = ["sync: not configured", "", "target        not configured (set pg_url or SCOPS_PG_URL)"]
        else:
            state = readers.sync_state_words(view) if view is not None else "sync: reading…"
            lines = [state, "", f"target        {target.display}"]
        if view is not None:
            status = view.status
            if target is None and status.target:
                lines.append(f"last used     {status.target}")
            error = f"{status.last_error} ({_when(status.last_error_at)})" if status.last_error else "-"
            lines += [
                f"last attempt  {_when(status.last_attempt_at)}",
                f"last success  {_when(status.last_success_at)}",
                f"last error    {error}",
                f"pending       {view.pending_total:,} rows",
                f"rejected      {status.reject_count:,} rows",
            ]
        self.query_one("#sync-state", Static).update("\n".join(lines), layout=True)

    # Syncing

    def action_sync_now(self) -> None:
        """Push the database to the PostgreSQL target now (in a worker; progress shown)."""
        target = readers.sync_target(self.scops.settings)
        if target is None:
            self.notify(NOT_CONFIGURED, title="Sync", severity="warning")
            return
        if self.syncing:
            self.notify("a sync is already running", title="Sync", severity="warning")
            return
        self.syncing = True
        self.sync_done = {}
        self.sync_total = self.view.pending_total if self.view is not None else 0
        bar = self.query_one("#sync-progress", ProgressBar)
        bar.update(total=self.sync_total or None, progress=0)
        self.query_one("#sync-progress-label", Label).update(f"syncing to {target.display}…")
        self._show_progress(True)
        self.run_sync()

    @work(thread=True, exit_on_error=False, exclusive=True, group="sync-run", name="sync")
    def run_sync(self) -> None:
        """One run; the worker's cancel event (set when the app quits) stops it between batches."""
        worker = get_current_worker()
        target = readers.sync_target(self.scops.settings)
        if target is None:
            self.post_message(SyncFinished(None, NOT_CONFIGURED))
            return

        def progress(table: str, done: int, pending: int) -> None:
            self.post_message(SyncProgress(table, done, pending))

        try:
            report = readers.push(self.scops.settings, target, progress, worker.cancelled_event)
        except Exception as exc:  # every failure is shown as one masked line
            self.post_message(SyncFinished(None, one_line(exc, target)))
            return
        self.post_message(SyncFinished(report))

    def on_sync_progress(self, message: SyncProgress) -> None:
        self.sync_done[message.table] = message.done
        done = sum(self.sync_done.values())
        bar = self.query_one("#sync-progress", ProgressBar)
        if self.sync_total:
            bar.update(total=max(self.sync_total, done), progress=done)
        self.query_one("#sync-progress-label", Label).update(
            f"syncing {message.table}: {message.done:,} of {message.pending:,} rows ({done:,} in all)"
        )

    def on_sync_finished(self, message: SyncFinished) -> None:
        self.syncing = False
        self._show_progress(False)
        if message.report is not None:
            self.notify(summary(message.report), title="Sync done", timeout=10)
        else:
            self.notify(message.error or "sync failed", title="Sync failed", severity="error", timeout=10)
        self.load_sync()
        dashboard = self.scops._dashboard()
        if dashboard is not None:
            dashboard.load_status()

    def _show_progress(self, shown: bool) -> None:
        self.query_one("#sync-progress").display = shown
        self.query_one("#sync-progress-label").display = shown
