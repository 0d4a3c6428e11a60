"""The recorder's alert sender: one thread with its own connection that delivers due alerts, retries with
backoff (the schedule is in the database, so it survives restarts) and never touches the sampling path."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from scops_tui.alerts import outbox
from scops_tui.alerts.channels import DeliveryResult, deliver, prepare
from scops_tui.alerts.config import AlertSettings, Channel
from scops_tui.alerts.message import AlertMessage, compose, load_episodes
from scops_tui.errors import ScopsError
from scops_tui.store import database as store

PROCESS_WAIT_MS = 1_500
"""How long a new episode's alert waits for its top processes (measured just after it opens) before it
goes without them."""
IDLE_POLL_SECONDS = 30.0
"""Longest sleep of the sender; the recorder wakes it at once after a batch that queued an alert."""
ERROR_PAUSE_SECONDS = 5.0
"""Pause after the database could not be read or written (it is retried, recording goes on)."""

Deliver = Callable[[Channel, AlertMessage], DeliveryResult]


class AlertSender:
    """Delivers the outbox of one database; `outbox` is the hook the recorder's detection calls."""

    def __init__(
        self,
        db_path: Path,
        settings: AlertSettings,
        *,
        busy_timeout_ms: int = 5000,
        clock: Callable[[], int] = outbox.wall_ms,
        process_wait_ms: int = PROCESS_WAIT_MS,
        on_warning: Callable[[str], None] | None = None,
        send: Deliver = deliver,
    ) -> None:
        self.db_path = db_path
        self.settings = settings
        self.busy_timeout_ms = busy_timeout_ms
        self.clock = clock
        self.process_wait_ms = process_wait_ms
        self.on_warning = on_warning
        self.send = send
        self.outbox = outbox.AlertOutbox(settings, clock)
        self.delivered = 0
        """Alerts delivered to every channel by this sender."""
        self.awaiting_processes = False
        """An alert waits for its episode's top processes: the recorder then writes its next sample at once,
        which stores them (they are measured in the background and written with the next batch)."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported: dict[str, str | None] = {}

    # -- the recorder's side --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery thread (a daemon: an unfinished delivery never holds the process)."""
        self._thread = threading.Thread(target=self._run, name="scops-alert-sender", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A batch was committed: look at the outbox now (cheap; called on the recorder's thread)."""
        if self.outbox.queued:
            self.outbox.queued = 0
            self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; a delivery under way may finish within `timeout`, the rest waits for the next run."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            for refused in prepare(self.settings.channels):
                self._warn(refused.channel.id, f"alerts to {refused.channel.display} cannot be sent: {refused.error}")
        except Exception as exc:  # apprise missing or broken: each delivery will say so
            self._warn("prepare", f"alerts: apprise could not be loaded: {type(exc).__name__}: {exc}")
        while not self._stop.is_set():
            self._wake.clear()
            pause = IDLE_POLL_SECONDS
            try:
                if conn is None:
                    conn = store.connect(self.db_path, busy_timeout_ms=self.busy_timeout_ms)
                held = self.deliver_due(conn)
                upcoming = [t for t in (outbox.next_due(conn), held) if t is not None]
                if upcoming:
                    pause = min(max((min(upcoming) - self.clock()) / 1000, 0.02), IDLE_POLL_SECONDS)
            except (ScopsError, sqlite3.Error) as exc:
                self._warn("database", f"alerts: {exc} (will retry)")
                pause = ERROR_PAUSE_SECONDS
            except Exception as exc:  # the sender must outlive any surprise; recording is never affected
                self._warn("sender", f"alerts: the sender hit {type(exc).__name__}: {exc} (will retry)")
                pause = ERROR_PAUSE_SECONDS
            self._wake.wait(pause)
        if conn is not None:
            conn.close()

    def deliver_due(self, conn: sqlite3.Connection) -> int | None:
        """Deliver every alert due now; return when an alert held for its top processes is next looked at."""
        held: int | None = None
        for alert in outbox.due_alerts(conn, self.clock()):
            if self._stop.is_set():
                break
            episodes = load_episodes(conn, alert.episode_ids)
            now = self.clock()
            if not episodes:
                with store.transaction(conn):
                    outbox.schedule_retry(conn, alert, "its episode no longer exists", now, give_up=True)
                continue
            wait_until = alert.due_at + self.process_wait_ms
            if alert.kind == "opened" and alert.attempts == 0 and not episodes[0].top_processes and now < wait_until:
                held = wait_until if held is None else min(held, wait_until)
                continue
            self._deliver(conn, alert, compose(alert, episodes, self.settings.cooldown_minutes))
        self.awaiting_processes = held is not None
        return held

    def _deliver(self, conn: sqlite3.Connection, alert: outbox.DueAlert, message: AlertMessage) -> None:
        errors = []
        for channel in self.settings.channels:
            if channel.id in alert.delivered:
                continue
            result = self.send(channel, message)  # never inside a transaction: the recorder must not wait on it
            now = self.clock()
            with store.transaction(conn):
                if result.ok:
                    outbox.record_delivery(conn, alert, channel.id, channel.display, now)
                else:
                    outbox.record_channel_error(conn, channel.id, channel.display, result.error or "", now)
            if result.error is not None:
                errors.append(f"{channel.display}: {result.error}")
            self._warn(channel.id, None if result.ok else f"alert to {channel.display} failed: {result.error}")
        now = self.clock()
        with store.transaction(conn):
            if not errors:
                outbox.close_delivered(conn, alert, now)
                self.delivered += 1
                return
            gave_up = outbox.schedule_retry(conn, alert, "; ".join(errors), now)
        if gave_up:
            hours = outbox.GIVE_UP_AFTER_MS / 3_600_000
            self._warn(
                f"failed:{alert.outbox_ids[0]}",
                f"alert for episode {alert.episode_ids[0]} failed for good after {hours:g} h of retries "
                "(see `scops-tui alerts status`)",
            )

    def _warn(self, key: str, message: str | None) -> None:
        """Tell the operator about a problem once, until it changes or goes away."""
        if self._reported.get(key) == message:
            return
        self._reported[key] = message
        if message is not None and self.on_warning is not None:
            self.on_warning(message)
