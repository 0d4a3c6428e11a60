"""The durable alert outbox: alerts queued with their episode in the recorder's transaction, then claimed,
delivered and closed by the sender; cooldown grouping and escalation are decided here, on one clock."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from scops_tui.alerts.config import SEVERITIES, AlertSettings

GIVE_UP_AFTER_MS = 24 * 3600 * 1000
"""An alert not delivered to every channel this long after it was due fails for good (`alerts status`)."""
FIRST_RETRY_MS = 5_000
"""Wait before the first retry of a failed delivery; it doubles after each failure ..."""
LONGEST_RETRY_MS = 15 * 60_000
"""... up to this."""
GROUP_METRICS = 3
"""An episode's metrics (for grouping) are those that deviated most: at most this many, ..."""
GROUP_SHARE = 0.5
"""... each at least this share of the largest deviation."""


def wall_ms() -> int:
    """Now, in epoch milliseconds (the default clock of the outbox)."""
    return int(time.time() * 1000)


class EpisodeChange(Protocol):
    """What the recorder's detection hands over for each episode change (an EpisodeEvent)."""

    @property
    def kind(self) -> str: ...

    @property
    def episode(self) -> Any: ...


def metrics_key(deviations: Sequence[tuple[str, float]]) -> str:
    """The metrics an episode deviated most on, as one sorted comma-separated key (`cpu_usage,load_1m`)."""
    if not deviations:
        return ""
    largest = abs(deviations[0][1])
    names = [name for name, value in deviations[:GROUP_METRICS] if abs(value) >= GROUP_SHARE * largest]
    return ",".join(sorted(names or [deviations[0][0]]))


def retry_delay_ms(attempts: int) -> int:
    """Wait before the next try after `attempts` failed ones: 5 s, 10 s, 20 s ... at most 15 minutes."""
    return int(min(FIRST_RETRY_MS * 2 ** max(attempts - 1, 0), LONGEST_RETRY_MS))


class AlertOutbox:
    """Queues alerts for episode changes; called by the recorder inside the transaction writing the episode."""

    def __init__(self, settings: AlertSettings, clock: Callable[[], int] = wall_ms) -> None:
        self.settings = settings
        self.clock = clock
        self.queued = 0
        """Alerts queued (or updated) by this process: the recorder wakes the sender after its commit."""

    def note(self, conn: sqlite3.Connection, episode_id: int | None, change: EpisodeChange) -> None:
        """Queue what an episode change calls for: an alert when it opens at or above the severity floor,
        another when it escalates past what was alerted, a held follow-up within the cooldown."""
        if episode_id is None:
            return
        snapshot = change.episode
        severity = str(snapshot.severity)
        if not self.settings.reaches(severity):
            return
        rank = SEVERITIES.index(severity)
        rows = conn.execute(
            "SELECT id, severity, state FROM alert_outbox WHERE episode_id = ? ORDER BY id", (episode_id,)
        ).fetchall()
        now = self.clock()
        if rows:
            if rank <= max(SEVERITIES.index(row[1]) for row in rows):
                return
            pending = [row[0] for row in rows if row[2] == "pending"]
            if pending:
                # Not delivered yet: the alert still to go says the new severity (it reads the episode when sent).
                conn.execute("UPDATE alert_outbox SET severity = ? WHERE id = ?", (severity, pending[-1]))
            else:
                self._insert(conn, episode_id, "escalated", severity, metrics_key(snapshot.deviations), None, now, now)
            self.queued += 1
            return
        key = metrics_key(snapshot.deviations)
        kind = "opened" if change.kind == "opened" else "escalated"
        lead = None
        due = now
        if self.settings.cooldown_ms > 0:
            found = conn.execute(
                "SELECT id, created_at FROM alert_outbox WHERE metrics_key = ? AND group_lead IS NULL "
                "AND kind = 'opened' AND created_at > ? AND episode_id <> ? ORDER BY created_at DESC, id DESC LIMIT 1",
                (key, now - self.settings.cooldown_ms, episode_id),
            ).fetchone()
            if found is not None:
                lead, due = int(found[0]), int(found[1]) + self.settings.cooldown_ms
        self._insert(conn, episode_id, kind, severity, key, lead, now, due)
        self.queued += 1

    @staticmethod
    def _insert(
        conn: sqlite3.Connection,
        episode_id: int,
        kind: str,
        severity: str,
        key: str,
        lead: int | None,
        now: int,
        due: int,
    ) -> None:
        conn.execute(
            "INSERT INTO alert_outbox (episode_id, kind, severity, metrics_key, group_lead, created_at, due_at, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (episode_id, kind, severity, key, lead, now, due, due),
        )


@dataclass(frozen=True)
class DueAlert:
    """One message the sender must deliver: a single alert, or a follow-up grouping several."""

    outbox_ids: tuple[int, ...]
    episode_ids: tuple[int, ...]
    kind: str
    """`opened`, `escalated` or `follow-up`."""
    severity: str
    metrics_key: str
    due_at: int
    attempts: int
    delivered: frozenset[str]
    """Channel ids that already have it."""


def due_alerts(conn: sqlite3.Connection, now: int) -> list[DueAlert]:
    """Alerts due now, oldest first; held follow-ups of one lead come as one."""
    rows = conn.execute(
        "SELECT id, episode_id, kind, severity, metrics_key, group_lead, due_at, attempts FROM alert_outbox "
        "WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY due_at, id",
        (now,),
    ).fetchall()
    found: list[DueAlert] = []
    groups: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        if row[5] is None:
            found.append(_due(conn, [row], row[2]))
        else:
            groups.setdefault(int(row[5]), []).append(row)
    found.extend(_due(conn, members, "follow-up") for members in groups.values())
    return sorted(found, key=lambda alert: (alert.due_at, alert.outbox_ids))


def _due(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], kind: str) -> DueAlert:
    ids = tuple(int(row[0]) for row in rows)
    delivered: set[str] | None = None
    for outbox_id in ids:
        channels = {
            r[0] for r in conn.execute("SELECT channel FROM alert_deliveries WHERE outbox_id = ?", (outbox_id,))
        }
        delivered = channels if delivered is None else delivered & channels
    return DueAlert(
        outbox_ids=ids,
        episode_ids=tuple(int(row[1]) for row in rows),
        kind=kind,
        severity=max((str(row[3]) for row in rows), key=SEVERITIES.index),
        metrics_key=str(rows[0][4]),
        due_at=min(int(row[6]) for row in rows),
        attempts=max(int(row[7]) for row in rows),
        delivered=frozenset(delivered or ()),
    )


def next_due(conn: sqlite3.Connection) -> int | None:
    """When the next pending alert is due (epoch ms), or None when nothing is pending."""
    value = conn.execute("SELECT min(next_attempt_at) FROM alert_outbox WHERE state = 'pending'").fetchone()[0]
    return None if value is None else int(value)


def record_delivery(conn: sqlite3.Connection, alert: DueAlert, channel: str, display: str, now: int) -> None:
    """One channel has the alert: remember it (so a retry skips it) and the channel's last success."""
    conn.executemany(
        "INSERT OR IGNORE INTO alert_deliveries (outbox_id, channel, delivered_at) VALUES (?, ?, ?)",
        [(outbox_id, channel, now) for outbox_id in alert.outbox_ids],
    )
    _channel_row(conn, channel, display)
    conn.execute(
        "UPDATE alert_channels SET last_success_at = ?, display = ? WHERE channel = ?", (now, display, channel)
    )


def record_channel_error(conn: sqlite3.Connection, channel: str, display: str, error: str, now: int) -> None:
    """A channel failed: keep its last error for `alerts status`."""
    _channel_row(conn, channel, display)
    conn.execute(
        "UPDATE alert_channels SET last_error = ?, last_error_at = ?, display = ? WHERE channel = ?",
        (error, now, display, channel),
    )


def _channel_row(conn: sqlite3.Connection, channel: str, display: str) -> None:
    conn.execute("INSERT OR IGNORE INTO alert_channels (channel, display) VALUES (?, ?)", (channel, display))


def close_delivered(conn: sqlite3.Connection, alert: DueAlert, now: int) -> None:
    """Every channel has the alert: it is sent, and its episodes' alert_sent is 1 (never alerted again)."""
    conn.executemany(
        "UPDATE alert_outbox SET state = 'sent', finished_at = ?, last_error = NULL WHERE id = ?",
        [(now, outbox_id) for outbox_id in alert.outbox_ids],
    )
    conn.executemany(
        "UPDATE anomaly_predictions SET alert_sent = 1 WHERE id = ? AND alert_sent = 0",
        [(episode_id,) for episode_id in alert.episode_ids],
    )


def schedule_retry(conn: sqlite3.Connection, alert: DueAlert, error: str, now: int, *, give_up: bool = False) -> bool:
    """A delivery failed: retry later with backoff, or fail for good past GIVE_UP_AFTER_MS (or at once when
    `give_up`); True if given up."""
    attempts = alert.attempts + 1
    give_up = give_up or now - alert.due_at >= GIVE_UP_AFTER_MS
    if give_up:
        conn.executemany(
            "UPDATE alert_outbox SET state = 'failed', attempts = ?, last_error = ?, finished_at = ? WHERE id = ?",
            [(attempts, error, now, outbox_id) for outbox_id in alert.outbox_ids],
        )
        return True
    conn.executemany(
        "UPDATE alert_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
        [(attempts, now + retry_delay_ms(attempts), error, outbox_id) for outbox_id in alert.outbox_ids],
    )
    return False
