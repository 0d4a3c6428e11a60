"""The scops-tui App and its factory: one `create_app` used by the CLI, the Pilot tests and the snapshots."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from scops_tui.config import Settings, read_toml
from scops_tui.errors import ConfigError, DatabaseError, ScopsError
from scops_tui.recording.processes import ProcessUsage
from scops_tui.store.records import MetricRecord
from scops_tui.store.timestamps import now_ms
from scops_tui.tui import readers
from scops_tui.tui.formatting import TimeFormat
from scops_tui.tui.keymap import check_keymap, parse_keymap
from scops_tui.tui.messages import (
    EpisodesOpened,
    RecentSamplesLoaded,
    RecorderProblem,
    RecordingChanged,
    SampleTaken,
    StatusLoaded,
)
from scops_tui.tui.process_reader import ProcessReader
from scops_tui.tui.readers import Reader, SqliteReader, StatusFacts
from scops_tui.tui.screens.base import ScopsScreen
from scops_tui.tui.screens.dashboard import DashboardScreen, live_points

if TYPE_CHECKING:
    from textual.driver import Driver

    from scops_tui.detection.live import DetectionSettings
    from scops_tui.recording.sampler import HostSampler

ProcessSource = Callable[[int], list[ProcessUsage]]
"""Returns the top N processes by CPU (blocking; called from a thread worker)."""

SCREENS = Binding.Group("screens", compact=True)
"""The footer shows the five screen keys as one group."""

TIME_ZONES = ("utc", "local")
DEFAULT_DISPLAY_SECONDS = 2.0
"""How often, at most, the Dashboard repaints its live charts, headlines and score line (`[tui] display`):
the recorder may sample faster; each repaint shows the newest sample and every sample since the last one."""
MAX_DISPLAY_SECONDS = 60.0


@dataclass(frozen=True)
class BindingRow:
    """One line of the help screen."""

    screen: str
    id: str
    key: str
    description: str


class ScopsApp(App[int]):
    """Dashboard, history, review queue, models and sync of one scops-tui database; records while open."""

    TITLE = "scops-tui"
    CSS_PATH = "scops.tcss"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "dashboard": DashboardScreen,
        # The other screens are imported when first shown: the dashboard paints sooner.
        "history": lambda: _screen("history"),
        "anomalies": lambda: _screen("anomalies"),
        "models": lambda: _screen("models"),
        "sync": lambda: _screen("sync"),
        "help": lambda: _screen("help"),
    }
    DEFAULT_MODE = "dashboard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show('dashboard')", "Dashboard", id="app.dashboard", group=SCREENS),
        Binding("2", "show('history')", "History", id="app.history", group=SCREENS),
        Binding("3", "show('anomalies')", "Anomalies", id="app.anomalies", group=SCREENS),
        Binding("4", "show('models')", "Models", id="app.models", group=SCREENS),
        Binding("5", "show('sync')", "Sync", id="app.sync", group=SCREENS),
        Binding("question_mark", "show('help')", "Help", key_display="?", id="app.help"),
        Binding("q", "quit_app", "Quit", id="app.quit"),
    ]
    SCREEN_TITLES: ClassVar[dict[str, str]] = {
        "dashboard": "Dashboard",
        "history": "History",
        "anomalies": "Anomalies",
        "models": "Models",
        "sync": "Sync",
        "help": "Help",
    }

    def __init__(
        self,
        settings: Settings,
        *,
        record: bool,
        sampler: HostSampler | None,
        keymap: Mapping[str, str],
        clock: Callable[[], int],
        process_reader: ProcessSource,
        detection: DetectionSettings | None,
        refresh_seconds: float,
        reader: Reader,
        time_format: TimeFormat,
        display_seconds: float = DEFAULT_DISPLAY_SECONDS,
    ) -> None:
        super().__init__()
        self.display_seconds = display_seconds
        self.settings = settings
        self.reader = reader
        self.time_format = time_format
        self.live_points = live_points(settings.interval)
        self.previous_mode = "dashboard"
        self.record = record
        self.sampler = sampler
        self.clock = clock
        self.process_reader = process_reader
        self.detection = detection
        self.refresh_seconds = refresh_seconds
        self.recent: deque[MetricRecord] = deque(maxlen=self.live_points)
        self.recording_state = "starting" if record else "not recording (--no-record)"
        self.recorder_problem: str | None = None
        self._episode_mark: int | None = None
        self.user_keymap = dict(keymap)
        if keymap:
            self.set_keymap(dict(keymap))

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver for this terminal; on Linux and macOS the same with an input thread that sleeps
        while there is no input (`tui/driver.py`). `TEXTUAL_DRIVER` still chooses another."""
        driver = super().get_driver_class()
        from textual.drivers.linux_driver import LinuxDriver

        if driver is LinuxDriver:
            from scops_tui.tui.driver import QuietLinuxDriver

            return QuietLinuxDriver
        return driver

    # Navigation

    def action_show(self, mode: str) -> None:
        """Switch to one of the top-level screens (remembering where Help was opened from)."""
        if mode == "help" and self.current_mode != "help":
            self.previous_mode = self.current_mode
        self.switch_mode(mode)

    def action_quit_app(self) -> None:
        """Quit with status 0; cancelling the recorder worker sets its stop event, so it flushes and stops."""
        self.exit(0)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette: every top-level screen, then every action of the screen it was opened on."""
        yield from super().get_system_commands(screen)
        for mode, title in self.SCREEN_TITLES.items():
            yield SystemCommand(f"Go to {title}", f"Show the {title} screen", lambda m=mode: self.action_show(m))
        for binding in _bindings_of(type(screen).BINDINGS):
            action = binding.action
            yield SystemCommand(
                f"{getattr(type(screen), 'SCREEN_NAME', 'Screen')}: {binding.tooltip or binding.description}",
                f"{binding.id} ({self._key_of(binding)})",
                lambda a=action, s=screen: self.call_next(s.run_action, a),
            )

    # Help

    def _key_of(self, binding: Binding) -> str:
        keys = self._keymap.get(binding.id or "", binding.key)
        if binding.key_display and binding.id not in self._keymap:
            return binding.key_display
        return ", ".join(self.get_key_display(binding.with_key(key)) for key in keys.split(","))

    def binding_rows(self) -> list[BindingRow]:
        """Every binding of every screen, with the key it has now (after the user's keymap)."""
        from scops_tui.tui.screens.dialogs import NoteDialog

        owners: list[tuple[str, list[BindingType]]] = [("Global", list(self.BINDINGS))]
        for screen_type in screen_types():
            owners.append((screen_type.SCREEN_NAME, list(screen_type.BINDINGS)))
        owners.append(("Dialogs", list(NoteDialog.BINDINGS)))
        return [
            BindingRow(owner, binding.id or "", self._key_of(binding), binding.tooltip or binding.description)
            for owner, bindings in owners
            for binding in _bindings_of(bindings)
        ]

    # Recording

    def on_mount(self) -> None:
        if self.record:
            self.record_host()
        self.watch_database()

    @work(thread=True, exit_on_error=False, group="database-watch", name="database watch")
    def watch_database(self) -> None:
        """Look at the database every `refresh_seconds` on one kept read-only connection, whoever records.

        Only after a change (a commit by the recorder, a review, a sync, another process) are the new
        episodes read (each gets a toast) and the status facts (for the Dashboard): an unchanged database
        costs one `PRAGMA data_version` a period, and no connection is opened per look.
        """
        worker = get_current_worker()
        watch = readers.DatabaseWatch(self.settings.db, self.settings.busy_timeout_ms)
        with_status = isinstance(self.reader, SqliteReader)
        mark: int | None = None
        error: str | None = None
        try:
            while not worker.is_cancelled:
                try:
                    if watch.changed():
                        first_look = mark is None
                        mark, episodes = watch.new_episodes(mark)
                        if episodes or first_look:  # most changes are samples: no message for them
                            self.post_message(EpisodesOpened(mark, episodes))
                        if with_status:
                            self.post_message(StatusLoaded(self.read_status(watch)))
                    error = None
                except ScopsError as exc:  # no database yet (the recorder creates it) or unreadable
                    if with_status and str(exc) != error:
                        self.post_message(StatusLoaded(self.read_status(None, str(exc))))
                    error = str(exc)
                worker.cancelled_event.wait(self.refresh_seconds)
        finally:
            watch.close()

    def read_status(self, watch: readers.DatabaseWatch | None, error: str | None = None) -> StatusFacts:
        """The status line's facts and sync state (blocking: thread workers only); on `watch` when given, else
        on a connection of its own; `error` says why the database could not be read."""
        settings = self.settings
        sync_state = readers.read_sync_state(settings, self.time_format, watch)
        if error is None:
            try:
                facts = self.reader.status(settings.source) if watch is None else watch.status(settings.source)
                return replace(facts, sync_state=sync_state)
            except ScopsError as exc:
                error = str(exc)
        return StatusFacts(0, None, 0, error=error, sync_state=sync_state)

    def on_status_loaded(self, message: StatusLoaded) -> None:
        dashboard = self._dashboard()
        if dashboard is not None:
            dashboard.show_status(message.facts)

    def on_episodes_opened(self, message: EpisodesOpened) -> None:
        self._episode_mark = message.newest_id
        for episode in message.episodes:
            peak = "" if episode.peak_score is None else f", peak score {episode.peak_score:.2f}"
            self.notify(
                f"episode {episode.id} on {episode.source}: {episode.severity}{peak}",
                title="new anomaly episode",
                severity="error" if episode.severity in ("high", "critical") else "warning",
                timeout=10,
            )

    @work(thread=True, exit_on_error=False, group="recorder", name="recorder")
    def record_host(self) -> None:
        """Run the recorder loop until this worker is cancelled (the app quits): one thread for the whole run."""
        # Imported here, not at the top: the dashboard paints without them, and `--no-record` never needs them.
        from scops_tui.recording.recorder import Recorder
        from scops_tui.recording.sampler import HostSampler
        from scops_tui.store.recorder_lock import RecorderLock

        worker = get_current_worker()
        db = self.settings.db
        if RecorderLock(db).held_by_other():
            self.post_message(RecordingChanged("read-only: another process records into this database"))
            return
        from scops_tui.alerts.config import load_alert_settings

        detection = self.detection
        if detection is None:
            from scops_tui.detection.live import DetectionSettings

            detection = DetectionSettings()

        def post(message: Message) -> None:
            self.post_message(message)

        recorder = Recorder(
            db,
            self.sampler or HostSampler(self.settings.source),
            interval=self.settings.interval,
            flush_interval=self.settings.flush_interval,
            busy_timeout_ms=self.settings.busy_timeout_ms,
            on_sample=lambda record: post(SampleTaken(record)),
            on_error=lambda text: post(RecorderProblem(text)),
            on_start=lambda: post(RecordingChanged(f"recording every {self.settings.interval:g} s")),
            detection=detection,
            alerts=load_alert_settings(),
        )
        try:
            recorder.run(worker.cancelled_event)
        except DatabaseError as exc:
            if "another recorder" in str(exc):
                self.post_message(RecordingChanged("read-only: another process records into this database"))
                return
            raise
        self.post_message(RecordingChanged("stopped"))

    def on_recording_changed(self, message: RecordingChanged) -> None:
        self.recording_state = message.state
        self._dashboard_refresh_status()
        dashboard = self._dashboard()
        if dashboard is not None and message.state.startswith("recording"):
            dashboard.load_status()  # the recorder may just have created the database

    def on_recorder_problem(self, message: RecorderProblem) -> None:
        self.recorder_problem = message.text
        self.notify(message.text, title="recorder", severity="warning", timeout=8)
        self._dashboard_refresh_status()

    def on_sample_taken(self, message: SampleTaken) -> None:
        self.recent.append(message.record)
        self.recorder_problem = None
        dashboard = self._dashboard()
        if dashboard is not None:
            dashboard.sample_taken(message.record)

    def watch_app_focus(self, focused: bool) -> None:
        """The terminal went to the background (when it reports focus) or came back: the dashboard stops
        drawing and scanning processes while away, and catches up on return."""
        dashboard = self._dashboard()
        if dashboard is not None:
            dashboard.app_focus_changed(focused)

    def on_recent_samples_loaded(self, message: RecentSamplesLoaded) -> None:
        live = list(self.recent)
        newest_live = live[0].timestamp_ms if live else None
        older = [r for r in message.records if newest_live is None or r.timestamp_ms < newest_live]
        self.recent.clear()
        self.recent.extend([*older, *live])
        dashboard = self._dashboard()
        if dashboard is not None:
            dashboard.draw_live(list(self.recent))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.recording_state = f"recorder stopped: {event.worker.error}"
            self.notify(str(event.worker.error), title="recorder failed", severity="error", timeout=10)
            self._dashboard_refresh_status()

    def _dashboard(self) -> DashboardScreen | None:
        for screen in self._screen_stacks.get("dashboard", []):
            if isinstance(screen, DashboardScreen):
                return screen
        return None

    def _dashboard_refresh_status(self) -> None:
        dashboard = self._dashboard()
        if dashboard is not None:
            dashboard.draw_status()


def _screen(mode: str) -> ScopsScreen:
    """A new screen for `mode`, its module imported on first use."""
    if mode == "history":
        from scops_tui.tui.screens.history import HistoryScreen

        return HistoryScreen()
    if mode == "anomalies":
        from scops_tui.tui.screens.anomalies import AnomaliesScreen

        return AnomaliesScreen()
    if mode == "models":
        from scops_tui.tui.screens.models import ModelsScreen

        return ModelsScreen()
    if mode == "sync":
        from scops_tui.tui.screens.sync import SyncScreen

        return SyncScreen()
    from scops_tui.tui.screens.help import HelpScreen

    return HelpScreen()


def screen_types() -> list[type[ScopsScreen]]:
    """Every screen class, in the order Help lists them (imports them all)."""
    from scops_tui.tui.screens.anomalies import AnomaliesScreen
    from scops_tui.tui.screens.detail import DetailScreen
    from scops_tui.tui.screens.help import HelpScreen
    from scops_tui.tui.screens.history import HistoryScreen
    from scops_tui.tui.screens.models import ModelsScreen
    from scops_tui.tui.screens.sync import SyncScreen

    return [DashboardScreen, HistoryScreen, AnomaliesScreen, DetailScreen, ModelsScreen, SyncScreen, HelpScreen]


def _bindings_of(bindings: Iterable[BindingType]) -> list[Binding]:
    return [b for b in bindings if isinstance(b, Binding) and b.id]


def binding_scopes() -> dict[str, list[tuple[str, str]]]:
    """Each screen's (binding id, default keys), the global bindings included: what a remapping must respect."""
    from scops_tui.tui.screens.dialogs import NoteDialog, SourceDialog

    global_pairs = [(b.id or "", b.key) for b in _bindings_of(ScopsApp.BINDINGS)]
    scopes = {"Global": global_pairs}
    for screen_type in screen_types():
        scopes[screen_type.SCREEN_NAME] = [
            *global_pairs,
            *((b.id or "", b.key) for b in _bindings_of(screen_type.BINDINGS)),
        ]
    scopes["Dialogs"] = [(b.id or "", b.key) for b in _bindings_of(NoteDialog.BINDINGS)]
    scopes["Dialogs"] += [
        (b.id or "", b.key) for b in _bindings_of(SourceDialog.BINDINGS) if b.id not in dict(scopes["Dialogs"])
    ]
    return scopes


def parse_time_zone(data: Mapping[str, object], origin: str) -> TimeFormat:
    """The `[tui]` table's `time` ("local", the default, or "utc"): the zone the app shows times in."""
    table = data.get("tui", {})
    if not isinstance(table, dict):
        raise ConfigError(f'{origin}: [tui] must be a table such as time = "utc"')
    unknown = sorted(set(table) - {"time", "display"})
    if unknown:
        raise ConfigError(f"{origin}: tui.{unknown[0]}: unknown setting (known: time, display)")
    zone = table.get("time", "local")
    if zone not in TIME_ZONES:
        raise ConfigError(f'{origin}: tui.time = {zone!r}: must be "local" or "utc"')
    return TimeFormat(utc=zone == "utc")


def parse_display(data: Mapping[str, object], origin: str) -> float | None:
    """The `[tui]` table's `display`: seconds between two repaints of the Dashboard's live part (None: not set)."""
    table = data.get("tui", {})
    value = table.get("display") if isinstance(table, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_DISPLAY_SECONDS:
        raise ConfigError(f"{origin}: tui.display = {value!r}: must be seconds from 0 to {MAX_DISPLAY_SECONDS:g}")
    return float(value)


def create_app(
    settings: Settings,
    *,
    record: bool = True,
    sampler: HostSampler | None = None,
    keymap: Path | Mapping[str, str] | None = None,
    clock: Callable[[], int] | None = None,
    process_reader: ProcessSource | None = None,
    detection: DetectionSettings | None = None,
    refresh_seconds: float = 5.0,
    reader: Reader | None = None,
    time_zone: str | None = None,
    display_seconds: float | None = None,
) -> ScopsApp:
    """Build the app.

    Args:
        settings: database, source and recording settings.
        record: record this host while the app is open (unless another process already does).
        sampler: what to sample (default: this host through psutil).
        keymap: a TOML file whose `[keys]` table maps binding ids to keys, or that mapping itself.
        clock: "now" in epoch ms for the history ranges (tests pass a fixed one).
        process_reader: returns the top N processes by CPU (tests pass a fixed one).
        detection: detection settings of the recorder (default: as `scops-tui record`).
        refresh_seconds: how often the status line and the top processes refresh.
        reader: where the screens read (default: the settings' SQLite file).
        time_zone: "utc" or "local" for the times on screen (default: the config file's `[tui] time`, else local).
        display_seconds: the Dashboard repaints its live charts at most this often (default: the config file's
            `[tui] display`, else `DEFAULT_DISPLAY_SECONDS`; 0 repaints every sample).

    Raises:
        ConfigError: the `[keys]` table names an unknown binding, an unusable key, or a key that clashes.
    """
    time_format = TimeFormat(utc=time_zone == "utc") if time_zone is not None else TimeFormat(utc=False)
    if keymap is None:
        keys: Mapping[str, str] = {}
        origin = "keymap"
    elif isinstance(keymap, Path):
        data = read_toml(keymap)
        origin = f"config file {keymap}"
        keys = parse_keymap(data, origin)
        if time_zone is None:
            time_format = parse_time_zone(data, origin)
        if display_seconds is None:
            display_seconds = parse_display(data, origin)
    else:
        keys = keymap
        origin = "keymap"
    if time_zone is not None and time_zone not in TIME_ZONES:
        raise ConfigError(f'time zone {time_zone!r}: must be "local" or "utc"')
    if keys:
        check_keymap(keys, binding_scopes(), origin)
    return ScopsApp(
        settings,
        record=record,
        sampler=sampler,
        keymap=keys,
        clock=clock or now_ms,
        process_reader=process_reader or ProcessReader(),
        detection=detection,
        refresh_seconds=refresh_seconds,
        reader=reader or SqliteReader(settings.db, settings.busy_timeout_ms),
        time_format=time_format,
        display_seconds=DEFAULT_DISPLAY_SECONDS if display_seconds is None else display_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m scops_tui.tui.app [--db PATH] [--source NAME] [--no-record] [--keymap FILE]`."""
    import argparse

    from scops_tui.config import load_settings
    from scops_tui.errors import ScopsError

    parser = argparse.ArgumentParser(prog="python -m scops_tui.tui.app", description="Open the scops-tui app.")
    parser.add_argument("--db", help="database file (default: the configured one)")
    parser.add_argument("--source", help="name this host records under")
    parser.add_argument("--no-record", action="store_true", help="only read; do not record this host")
    parser.add_argument("--keymap", type=Path, help="TOML file with a [keys] table of binding id = key")
    args = parser.parse_args(argv)
    try:
        settings = load_settings({"db": args.db, "source": args.source})
        app = create_app(settings, record=not args.no_record, keymap=args.keymap)
    except ScopsError as exc:
        print(f"scops-tui: {exc}", file=sys.stderr)
        return 1
    result = app.run()
    return int(result or app.return_code or 0)


if __name__ == "__main__":
    sys.exit(main())
