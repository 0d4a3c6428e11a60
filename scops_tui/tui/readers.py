"""What the thread workers call: plain functions that open their own connection, read or act, and close.

Nothing here touches Textual; each function returns plain frozen data for a typed message.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from scops_tui.alerts import status as alert_status
from scops_tui.alerts.config import load_alert_settings
from scops_tui.detection import registry, review
from scops_tui.detection.review import SEVERITIES, Episode, Status
from scops_tui.errors import ConfigError, ScopsError
from scops_tui.store import database as store
from scops_tui.store import history
from scops_tui.store.records import MetricRecord
from scops_tui.sync import local as sync_local
from scops_tui.sync.local import SyncStatus
from scops_tui.sync.target import SyncTarget, target_for

if TYPE_CHECKING:
    from scops_tui.sync.report import SyncReport

ReviewAction = Literal["acknowledge", "confirm", "false_positive", "resolve"]


@contextmanager
def reading(path: Path, busy_timeout_ms: int = 5000) -> Iterator[sqlite3.Connection]:
    """A read-only connection for one worker call, closed afterwards."""
    conn = store.open_reader(path, busy_timeout_ms=busy_timeout_ms)
    try:
        with store.sqlite_errors(path):
            yield conn
    finally:
        conn.close()


@contextmanager
def writing(path: Path, busy_timeout_ms: int = 5000) -> Iterator[sqlite3.Connection]:
    """A writer connection for one worker call (the database must exist), closed afterwards."""
    conn = store.open_database(path, busy_timeout_ms=busy_timeout_ms, create=False)
    try:
        with store.sqlite_errors(path):
            yield conn
    finally:
        conn.close()


@dataclass(frozen=True)
class StatusFacts:
    """What the status line shows besides the recording state."""

    size_bytes: int
    deployed_version: str | None
    open_anomalies: int
    error: str | None = None
    """Why the facts could not be read (e.g. the database does not exist yet)."""
    sync_state: str | None = None
    """The sync state in a few words (`sync: 3 pending`); None until read."""
    alert_state: str | None = None
    """Pending or failed alerts in a few words (`alerts: 2 pending`); None when alerts are off and none wait."""


@dataclass(frozen=True)
class HistoryView:
    """One window of history as the charts draw it, with the window's exact figures."""

    start_ms: int
    end_ms: int
    buckets: int
    rows: list[history.HistoryBucket]
    episodes: list[history.EpisodeSpan]
    summary: history.WindowSummary = field(default_factory=lambda: history.WindowSummary(0, {}, None))
    labels: list[int] = field(default_factory=list)
    """Times of ground-truth anomaly labels (imported or marked missed) in the window, one per bucket."""
    source: str = ""


class Reader(Protocol):
    """What the screens read, whatever holds the data (this host's SQLite file; later a central server).

    Every method blocks: call it from a thread worker. Each returns plain frozen data.
    """

    def status(self, source: str) -> StatusFacts:
        """Database size, the deployed version of `source`, open episodes."""
        ...

    def episodes(self, status: Status, severity: str | None) -> list[Episode]:
        """The review queue, newest first: `severity` means at least that band."""
        ...

    def episode(self, episode_id: int) -> Episode:
        """One episode."""
        ...

    def history(self, source: str, start_ms: int, end_ms: int, buckets: int) -> HistoryView:
        """Downsampled history of [start, end) with its episodes, labels and exact figures."""
        ...

    def bounds(self, source: str) -> tuple[int, int] | None:
        """First and last sample time of `source`."""
        ...

    def recent(self, source: str, limit: int) -> list[MetricRecord]:
        """The newest samples of `source`, oldest first."""
        ...

    def sources(self) -> list[str]:
        """Every source with samples."""
        ...

    def versions(self) -> list[registry.ModelVersion]:
        """Every model version, newest first."""
        ...


def at_least(severity: str | None) -> tuple[str, ...] | None:
    """The severities a filter of `severity` shows: that band and every higher one (None: all)."""
    if severity is None:
        return None
    return SEVERITIES[SEVERITIES.index(severity) :]


class SqliteReader:
    """The `Reader` of one local database file: a fresh read-only connection per call."""

    def __init__(self, path: Path, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms

    def status(self, source: str) -> StatusFacts:
        """Database size, the deployed model version of `source` and the number of open episodes."""
        return read_status(self.path, source)

    def episodes(self, status: Status, severity: str | None) -> list[Episode]:
        """The review queue at least as severe as `severity`, newest first."""
        return read_episodes(self.path, status, severity)

    def episode(self, episode_id: int) -> Episode:
        """One episode."""
        return read_episode(self.path, episode_id)

    def history(self, source: str, start_ms: int, end_ms: int, buckets: int) -> HistoryView:
        """Downsampled history and the overlapping episodes of [start, end)."""
        return read_history(self.path, source, start_ms, end_ms, buckets)

    def bounds(self, source: str) -> tuple[int, int] | None:
        """First and last sample time of `source`."""
        return read_bounds(self.path, source)

    def recent(self, source: str, limit: int) -> list[MetricRecord]:
        """The newest samples of `source`, oldest first."""
        return read_recent(self.path, source, limit)

    def sources(self) -> list[str]:
        """Every source with samples."""
        with reading(self.path, self.busy_timeout_ms) as conn:
            return history.sources(conn)

    def versions(self) -> list[registry.ModelVersion]:
        """Every model version, newest first."""
        return read_versions(self.path)


def read_status(path: Path, source: str) -> StatusFacts:
    """Database size, the deployed model version of `source` and the number of open episodes."""
    with reading(path) as conn:
        return status_facts(conn, path, source)


def status_facts(conn: sqlite3.Connection, path: Path, source: str) -> StatusFacts:
    """`read_status` on an open connection."""
    deployed = registry.deployed_version(conn, source)
    open_count = conn.execute(
        "SELECT count(*) FROM anomaly_predictions WHERE acknowledged = 0 AND resolved_at IS NULL"
    ).fetchall()[0][0]
    alert_state = alert_status.status_words(conn, _alerts_enabled())
    return StatusFacts(
        size_bytes=store.file_size(path),
        deployed_version=None if deployed is None else deployed.version,
        open_anomalies=int(open_count),
        alert_state=alert_state,
    )


def _alerts_enabled() -> bool:
    try:
        return load_alert_settings().enabled
    except ConfigError:
        return False


def read_new_episodes(path: Path, after_id: int | None) -> tuple[int, list[alert_status.NewEpisode]]:
    """Episodes opened since `after_id` and the newest id; the first look (None) only sets the mark."""
    with reading(path) as conn:
        return new_episodes(conn, after_id)


def new_episodes(conn: sqlite3.Connection, after_id: int | None) -> tuple[int, list[alert_status.NewEpisode]]:
    """`read_new_episodes` on an open connection."""
    if after_id is None:
        return alert_status.newest_episode_id(conn), []
    found = alert_status.episodes_after(conn, after_id)
    return (found[-1].id if found else after_id), found


class DatabaseWatch:
    """One read-only connection, kept open by the one thread that uses it (the app's database watch): tells
    whether the database changed since the last look, and reads the status facts and new episodes after a
    change, without opening a connection each time.

    A change is a commit by any other connection (`PRAGMA data_version`), the recorder's and the app's own
    review actions included. The connection opens on first use (the recorder may create the file later)
    and again after an error.
    """

    def __init__(self, path: Path, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None

    def changed(self) -> bool:
        """Whether the database changed since the last call (True on the first call and after a reopen).

        Raises:
            ScopsError: the database cannot be opened or read (e.g. it does not exist yet).
        """
        try:
            if self._conn is None:
                self._conn = store.open_reader(self.path, busy_timeout_ms=self.busy_timeout_ms)
                self._version = None
            with store.sqlite_errors(self.path):
                version = int(self._conn.execute("PRAGMA data_version").fetchall()[0][0])
        except ScopsError:
            self.close()
            raise
        changed = version != self._version
        self._version = version
        return changed

    def status(self, source: str) -> StatusFacts:
        """The status facts (see `read_status`); the sync part too when no sync target is configured."""
        conn = self._open()
        with store.sqlite_errors(self.path):
            return status_facts(conn, self.path, source)

    def new_episodes(self, after_id: int | None) -> tuple[int, list[alert_status.NewEpisode]]:
        """Episodes opened since `after_id` (see `read_new_episodes`)."""
        conn = self._open()
        with store.sqlite_errors(self.path):
            return new_episodes(conn, after_id)

    def recorded_target(self) -> str | None:
        """The target a sync of this database last used (see `recorded_target`)."""
        conn = self._open()
        with store.sqlite_errors(self.path):
            rows = conn.execute("SELECT target FROM sync_state").fetchall()
        return rows[0][0] if rows else None

    def close(self) -> None:
        """Close the connection (the next call opens another)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self.changed()
        assert self._conn is not None
        return self._conn


def read_episodes(path: Path, status: Status, severity: str | None) -> list[Episode]:
    """The review queue with this status, at least as severe as `severity`, newest first."""
    wanted = at_least(severity)
    with reading(path) as conn:
        episodes = review.list_episodes(conn, status, None)
    return episodes if wanted is None else [e for e in episodes if e.severity in wanted]


def read_episode(path: Path, episode_id: int) -> Episode:
    """One episode."""
    with reading(path) as conn:
        return review.get_episode(conn, episode_id)


def apply_review(
    path: Path, action: ReviewAction, episode_ids: Sequence[int], username: str, note: str | None = None
) -> list[Episode]:
    """Apply one review action to each episode through the same core functions as the `anomalies` CLI."""
    calls: dict[ReviewAction, Callable[[sqlite3.Connection, int], Episode]] = {
        "acknowledge": lambda conn, i: review.acknowledge(conn, i, username, note),
        "confirm": lambda conn, i: review.give_verdict(conn, i, username, True, note),
        "false_positive": lambda conn, i: review.give_verdict(conn, i, username, False, note),
        "resolve": lambda conn, i: review.resolve(conn, i, username, note),
    }
    with writing(path) as conn:
        return [calls[action](conn, episode_id) for episode_id in episode_ids]


def read_history(path: Path, source: str, start_ms: int, end_ms: int, buckets: int) -> HistoryView:
    """Downsampled history, the overlapping episodes, the labels and the exact figures of [start, end)."""
    with reading(path) as conn:
        rows = history.load_history(conn, source, start_ms, end_ms, buckets)
        spans = history.episode_spans(conn, source, start_ms, end_ms)
        summary = history.window_summary(conn, source, start_ms, end_ms)
        labels = history.label_times(conn, source, start_ms, end_ms, buckets)
    return HistoryView(start_ms, end_ms, buckets, rows, spans, summary, labels, source)


def read_bounds(path: Path, source: str) -> tuple[int, int] | None:
    """First and last sample time of `source`."""
    with reading(path) as conn:
        return history.data_bounds(conn, source)


def mark_missed(path: Path, source: str, start_ms: int, end_ms: int, username: str) -> int:
    """Store [start, end] of `source` as a missed anomaly against the deployed version; samples marked."""
    with writing(path) as conn:
        deployed = registry.deployed_version(conn, source)
        if deployed is None:
            raise registry.RegistryError(f"no model version is deployed for {source}: nothing to mark a miss against")
        return review.mark_missed(conn, source, start_ms, end_ms, username, deployed.id)


def read_versions(path: Path) -> list[registry.ModelVersion]:
    """Every model version, newest first."""
    with reading(path) as conn:
        return registry.list_versions(conn)


def deploy_version(path: Path, version_id: int) -> registry.ModelVersion:
    """Deploy one version."""
    with writing(path) as conn:
        return registry.deploy(conn, version_id)


def retrain(path: Path, source: str) -> registry.ModelVersion:
    """Train a new learned version of `source` on its history (not deployed)."""
    from scops_tui.detection.training import train_source

    with writing(path) as conn:
        return train_source(conn, source, deploy=False, created_by=store.user_id(conn, store.SYSTEM_USERNAME))


def read_recent(path: Path, source: str, limit: int) -> list[MetricRecord]:
    """The newest samples of `source`, oldest first (to fill the live charts on start)."""
    with reading(path) as conn:
        return history.latest_records(conn, source, limit)


# --- sync ---------------------------------------------------------------------------------------------


def sync_target(settings: Any) -> SyncTarget | None:
    """The configured sync target (pg_url, SCOPS_PG_URL or libpq's environment), or None: no I/O."""
    try:
        return target_for(settings)
    except ConfigError:
        return None


@dataclass(frozen=True)
class SyncView:
    """What the Sync screen shows: the configured target (masked) and the local sync state."""

    target: str | None
    """The configured target's masked form; None when nothing names a target."""
    status: SyncStatus

    @property
    def pending_total(self) -> int:
        return sum(self.status.pending.values())


def read_sync(settings: Any, limit: int = 20) -> SyncView:
    """The local sync state of the settings' database (no connection to the server)."""
    target = sync_target(settings)
    status = sync_local.sync_status(
        settings.db,
        None if target is None else target.display,
        busy_timeout_ms=settings.busy_timeout_ms,
        limit=limit,
    )
    return SyncView(None if target is None else target.display, status)


def sync_state_words(view: SyncView | None, time_format: Any = None) -> str:
    """The status line's few words: not configured, N pending, ok HH:MM or error.

    A database that a `scops-tui sync --url ...` run synced counts as configured (its target is recorded
    in the database), so a sync made from the CLI shows here too.
    """
    if view is None:
        return "sync: not configured"
    status = view.status
    if view.target is None and status.target is None:
        return "sync: not configured"
    if status.last_error and (status.last_success_at is None or (status.last_error_at or 0) >= status.last_success_at):
        return "sync: error"
    if view.pending_total or status.last_success_at is None:
        return f"sync: {view.pending_total:,} pending"
    when = status.last_success_at
    clock = time_format.hm(when) if time_format is not None else time.strftime("%H:%M", time.gmtime(when // 1000))
    return f"sync: ok {clock}"


def recorded_target(path: Path) -> str | None:
    """The target a sync of this database last used (any sync, the CLI's included), or None: one row read."""
    with reading(path) as conn:
        row = conn.execute("SELECT target FROM sync_state").fetchone()
    return None if row is None else row[0]


def read_sync_state(settings: Any, time_format: Any = None, watch: DatabaseWatch | None = None) -> str:
    """`sync_state_words` for the dashboard's status worker; never raises (an unreadable state says so).

    Pending rows are counted only once a target is known (configured, or used by a past sync), so an
    unsynced database is not counted every refresh. With a `watch`, the recorded target is read on its
    connection.
    """
    try:
        if sync_target(settings) is None:
            recorded = recorded_target(settings.db) if watch is None else watch.recorded_target()
            if recorded is None:
                return "sync: not configured"
        return sync_state_words(read_sync(settings, limit=0), time_format)
    except ScopsError:
        return "sync: not configured" if sync_target(settings) is None else "sync: unknown"


def push(
    settings: Any,
    target: SyncTarget,
    progress: Callable[[str, int, int], None],
    stop: threading.Event,
    batch_size: int = 10_000,
) -> SyncReport:
    """One sync run of the settings' database to `target` (as `scops-tui sync`), stopping early if `stop` is set."""
    from scops_tui.sync.push import run_sync

    return run_sync(
        settings.db,
        target,
        batch_size=batch_size,
        busy_timeout_ms=settings.busy_timeout_ms,
        progress=progress,
        stop=stop,
    )
