"""The fleet view's app: Hosts, a host's History and the fleet-wide Anomalies queue, read from the central database.

`create_fleet_app` builds it for `scops-tui fleet` and the Pilot tests alike. It is the local app with
another set of screens and a `PostgresReader`: it never records, never opens a local database file and
never writes to the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from scops_tui.config import Settings, read_toml
from scops_tui.store.timestamps import now_ms
from scops_tui.sync.fleet import FleetSession
from scops_tui.tui.app import SCREENS, TIME_ZONES, BindingRow, ScopsApp, _bindings_of, parse_time_zone
from scops_tui.tui.fleet_reader import PostgresReader
from scops_tui.tui.formatting import TimeFormat
from scops_tui.tui.keymap import check_keymap, parse_keymap
from scops_tui.tui.screens.base import ScopsScreen
from scops_tui.tui.screens.hosts import HostsScreen

DEFAULT_STALE_MS = 15 * 60_000
"""A host with no sample for this long stands out as stale."""
DEFAULT_REFRESH_S = 10.0


def _fleet_screen(mode: str) -> ScopsScreen:
    from scops_tui.tui.screens.fleet_screens import FleetAnomaliesScreen, FleetHistoryScreen
    from scops_tui.tui.screens.help import HelpScreen

    screens: dict[str, Callable[[], ScopsScreen]] = {
        "history": FleetHistoryScreen,
        "anomalies": FleetAnomaliesScreen,
        "help": HelpScreen,
    }
    return screens[mode]()


class FleetApp(ScopsApp):
    """Every host synced to one PostgreSQL: their state, a host's history, the fleet's episodes (read-only)."""

    TITLE = "scops-tui fleet"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "hosts": HostsScreen,
        "history": lambda: _fleet_screen("history"),
        "anomalies": lambda: _fleet_screen("anomalies"),
        "help": lambda: _fleet_screen("help"),
    }
    DEFAULT_MODE = "hosts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show('hosts')", "Hosts", id="fleet.hosts", group=SCREENS),
        Binding("2", "show('history')", "History", id="app.history", group=SCREENS),
        Binding("3", "show('anomalies')", "Anomalies", id="app.anomalies", group=SCREENS),
    ]
    SCREEN_TITLES: ClassVar[dict[str, str]] = {
        "hosts": "Hosts",
        "history": "History",
        "anomalies": "Anomalies",
        "help": "Help",
    }

    def __init__(
        self,
        settings: Settings,
        *,
        reader: PostgresReader,
        keymap: Mapping[str, str],
        clock: Callable[[], int],
        refresh_seconds: float,
        stale_ms: int,
        time_format: TimeFormat,
    ) -> None:
        super().__init__(
            settings,
            record=False,
            sampler=None,
            keymap=keymap,
            clock=clock,
            process_reader=lambda _limit: [],
            detection=None,
            refresh_seconds=refresh_seconds,
            reader=reader,
            time_format=time_format,
        )
        self.fleet_reader = reader
        self.stale_ms = stale_ms
        self.previous_mode = "hosts"
        self.recording_state = "fleet view (read-only)"
        self.fleet_host: str | None = None
        """The host History shows: the one opened from Hosts (the first listed until then)."""
        self.queue_host: str | None = None
        """A host filter for the queue to take when next shown ("" for every host), then cleared."""

    @property
    def target_display(self) -> str:
        """The central database, password masked."""
        return self.fleet_reader.session.target.display

    @property
    def role_note(self) -> str:
        """The login role, and whether it reads the whole fleet."""
        session = self.fleet_reader.session
        if session.is_reader:
            return f"{session.role} (reader)"
        return f"{session.role} [b]not in scops_reader[/b]: only the hosts it syncs"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The local app's screen keys (dashboard, models, sync) do nothing here and are not shown."""
        return not (action == "show" and parameters and parameters[0] not in self.MODES)

    def action_show(self, mode: str) -> None:
        """Switch to one of the fleet's screens."""
        if mode in self.MODES:
            super().action_show(mode)

    def open_history(self, label: str) -> None:
        """Show `label`'s history from the server."""
        self.fleet_host = label
        self.action_show("history")

    def open_queue(self, label: str | None) -> None:
        """Show the queue filtered on one host (None: every host)."""
        self.queue_host = label or ""
        self.action_show("anomalies")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette: the fleet's screens and the current screen's actions."""
        for command in super().get_system_commands(screen):
            if command.title.startswith("Go to ") and command.title[6:] not in self.SCREEN_TITLES.values():
                continue
            yield command

    def binding_rows(self) -> list[BindingRow]:
        """Every binding of the fleet's screens, with the key it has now."""
        from scops_tui.tui.screens.anomalies import AnomaliesScreen
        from scops_tui.tui.screens.fleet_screens import FleetAnomaliesScreen, FleetDetailScreen, FleetHistoryScreen

        kept = ("app.help", "app.quit")
        owners: list[tuple[str, list[BindingType]]] = [
            ("Global", [*self.BINDINGS, *(b for b in _bindings_of(ScopsApp.BINDINGS) if b.id in kept)]),
            ("Hosts", list(HostsScreen.BINDINGS)),
            ("History", list(FleetHistoryScreen.BINDINGS)),
            ("Anomalies", [*AnomaliesScreen.BINDINGS, *FleetAnomaliesScreen.BINDINGS]),
            ("Anomaly detail", list(FleetDetailScreen.BINDINGS)),
        ]
        return [
            BindingRow(owner, binding.id or "", self._key_of(binding), binding.tooltip or binding.description)
            for owner, bindings in owners
            for binding in _bindings_of(bindings)
        ]


def fleet_binding_scopes() -> dict[str, list[tuple[str, str]]]:
    """Each fleet screen's (binding id, default keys), the global ones included: what a remapping must respect."""
    from scops_tui.tui.screens.anomalies import AnomaliesScreen
    from scops_tui.tui.screens.dialogs import NoteDialog, SourceDialog
    from scops_tui.tui.screens.fleet_screens import FleetAnomaliesScreen, FleetDetailScreen, FleetHistoryScreen
    from scops_tui.tui.screens.help import HelpScreen

    kept = ("app.help", "app.quit")
    global_pairs = [(b.id or "", b.key) for b in _bindings_of(FleetApp.BINDINGS)]
    global_pairs += [(b.id or "", b.key) for b in _bindings_of(ScopsApp.BINDINGS) if b.id in kept]
    screens: dict[str, list[BindingType]] = {
        "Hosts": list(HostsScreen.BINDINGS),
        "History": list(FleetHistoryScreen.BINDINGS),
        "Anomalies": [*AnomaliesScreen.BINDINGS, *FleetAnomaliesScreen.BINDINGS],
        "Anomaly detail": list(FleetDetailScreen.BINDINGS),
        "Help": list(HelpScreen.BINDINGS),
    }
    scopes = {"Global": global_pairs}
    for name, bindings in screens.items():
        scopes[name] = [*global_pairs, *((b.id or "", b.key) for b in _bindings_of(bindings))]
    scopes["Dialogs"] = [(b.id or "", b.key) for b in _bindings_of([*NoteDialog.BINDINGS, *SourceDialog.BINDINGS])]
    return scopes


def check_fleet_keymap(keys: Mapping[str, str], origin: str) -> None:
    """Refuse an id neither app knows, and any remap that clashes on a fleet screen (ids of the local app's
    other screens are accepted: one config file serves both)."""
    from scops_tui.errors import ConfigError
    from scops_tui.tui.app import binding_scopes

    scopes = fleet_binding_scopes()
    fleet_ids = {binding_id for pairs in scopes.values() for binding_id, _keys in pairs}
    local_ids = {binding_id for pairs in binding_scopes().values() for binding_id, _keys in pairs}
    for binding_id in keys:
        if binding_id not in fleet_ids | local_ids:
            raise ConfigError(f"{origin}: keys.{binding_id}: unknown binding id (the Help screen, `?`, lists every id)")
    check_keymap({k: v for k, v in keys.items() if k in fleet_ids}, scopes, origin)


def create_fleet_app(
    settings: Settings,
    session: FleetSession,
    *,
    keymap: Path | Mapping[str, str] | None = None,
    clock: Callable[[], int] | None = None,
    refresh_seconds: float = DEFAULT_REFRESH_S,
    stale_ms: int = DEFAULT_STALE_MS,
    time_zone: str | None = None,
) -> FleetApp:
    """Build the fleet view on an open `FleetSession`.

    Args:
        settings: the settings (the chart's sample interval, the config file's keys and time zone).
        session: the read-only session on the central database.
        keymap: a TOML file whose `[keys]` table maps binding ids to keys, or that mapping itself.
        clock: "now" in epoch ms (tests pass a fixed one).
        refresh_seconds: how often the Hosts screen reads the host list again.
        stale_ms: a host without a sample for longer than this stands out.
        time_zone: "utc" or "local" (default: the config file's `[tui] time`, else local).

    Raises:
        ConfigError: the `[keys]` table names an unknown binding, an unusable key, or a key that clashes.
    """
    from scops_tui.errors import ConfigError

    time_format = TimeFormat(utc=time_zone == "utc")
    keys: Mapping[str, str] = {}
    origin = "keymap"
    if isinstance(keymap, Path):
        data = read_toml(keymap)
        origin = f"config file {keymap}"
        keys = parse_keymap(data, origin)
        if time_zone is None:
            time_format = parse_time_zone(data, origin)
    elif keymap is not None:
        keys = keymap
    if keys:
        check_fleet_keymap(keys, origin)
    if time_zone is not None and time_zone not in TIME_ZONES:
        raise ConfigError(f'time zone {time_zone!r}: must be "local" or "utc"')
    return FleetApp(
        settings,
        reader=PostgresReader(session),
        keymap=keys,
        clock=clock or now_ms,
        refresh_seconds=refresh_seconds,
        stale_ms=stale_ms,
        time_format=time_format,
    )
