"""What `alerts status` and the dashboard report: channels (masked), pending and failed alerts, the last
success and error of each channel; and the newest episodes, for the app's toast."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from scops_tui.alerts.config import AlertSettings
from scops_tui.store.timestamps import iso

FAILED_SHOWN = 20
"""Alerts failed for good listed by `alerts status` (newest first); the count covers all."""


@dataclass(frozen=True)
class ChannelStatus:
    """One configured channel and how its deliveries went."""

    channel: str
    """The masked URL or the command's program."""
    last_success_at: int | None
    last_error: str | None
    last_error_at: int | None

    def as_json(self) -> dict[str, Any]:
        """The object printed by `alerts status --json`."""
        return {
            "channel": self.channel,
            "last_success_at": None if self.last_success_at is None else iso(self.last_success_at),
            "last_error": self.last_error,
            "last_error_at": None if self.last_error_at is None else iso(self.last_error_at),
        }


@dataclass(frozen=True)
class OutboxAlert:
    """One alert of the outbox, as reported."""

    id: int
    episode_id: int
    kind: str
    severity: str
    due_at: int
    attempts: int
    next_attempt_at: int
    last_error: str | None
    grouped: bool

    def as_json(self) -> dict[str, Any]:
        """The object printed by `alerts status --json`."""
        return {
            "id": self.id,
            "episode_id": self.episode_id,
            "kind": self.kind,
            "severity": self.severity,
            "due_at": iso(self.due_at),
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at),
            "last_error": self.last_error,
            "grouped": self.grouped,
        }


@dataclass(frozen=True)
class AlertStatus:
    """The whole report."""

    enabled: bool
    min_severity: str
    cooldown_minutes: float
    channels: list[ChannelStatus]
    pending: list[OutboxAlert]
    failed: list[OutboxAlert]
    failed_total: int
    sent_total: int
    other_channels: list[ChannelStatus] = field(default_factory=list)
    """Channels with a delivery record that are no longer configured."""

    def as_json(self) -> dict[str, Any]:
        """The object printed by `alerts status --json`."""
        return {
            "enabled": self.enabled,
            "min_severity": self.min_severity,
            "cooldown_minutes": self.cooldown_minutes,
            "channels": [c.as_json() for c in self.channels],
            "pending": [a.as_json() for a in self.pending],
            "failed": [a.as_json() for a in self.failed],
            "failed_total": self.failed_total,
            "sent_total": self.sent_total,
        }


_ALERT_COLUMNS = "id, episode_id, kind, severity, due_at, attempts, next_attempt_at, last_error, group_lead IS NOT NULL"


def _alert(row: tuple[Any, ...]) -> OutboxAlert:
    return OutboxAlert(
        id=int(row[0]),
        episode_id=int(row[1]),
        kind=str(row[2]),
        severity=str(row[3]),
        due_at=int(row[4]),
        attempts=int(row[5]),
        next_attempt_at=int(row[6]),
        last_error=row[7],
        grouped=bool(row[8]),
    )


def read_status(conn: sqlite3.Connection, settings: AlertSettings) -> AlertStatus:
    """The outbox and channel state of the database behind `conn` (read only)."""
    recorded = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT channel, display, last_success_at, last_error, last_error_at FROM alert_channels"
        )
    }
    channels = []
    for channel in settings.channels:
        _display, success, error, error_at = recorded.pop(channel.id, (None, None, None, None))
        channels.append(ChannelStatus(channel.display, success, error, error_at))
    pending = [
        _alert(row)
        for row in conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alert_outbox WHERE state = 'pending' ORDER BY due_at, id"  # noqa: S608
        )
    ]
    failed = [
        _alert(row)
        for row in conn.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alert_outbox WHERE state = 'failed' "  # noqa: S608
            "ORDER BY finished_at DESC, id DESC LIMIT ?",
            (FAILED_SHOWN,),
        )
    ]
    failed_total, sent_total = conn.execute(
        "SELECT coalesce(sum(state = 'failed'), 0), coalesce(sum(state = 'sent'), 0) FROM alert_outbox"
    ).fetchone()
    return AlertStatus(
        enabled=settings.enabled,
        min_severity=settings.min_severity,
        cooldown_minutes=settings.cooldown_minutes,
        channels=channels,
        pending=pending,
        failed=failed,
        failed_total=int(failed_total),
        sent_total=int(sent_total),
        other_channels=[ChannelStatus(row[0], row[1], row[2], row[3]) for row in recorded.values()],
    )


def status_words(conn: sqlite3.Connection, enabled: bool) -> str | None:
    """The dashboard's few words: `alerts: 2 pending`, `alerts: 1 failed`, `alerts: ok`; None when alerts
    are off and nothing waits (or the database predates the outbox: schema version 6)."""
    try:
        pending, failed = conn.execute(
            "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'failed'), 0) FROM alert_outbox"
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    parts = []
    if pending:
        parts.append(f"{pending} pending")
    if failed:
        parts.append(f"{failed} failed")
    if parts:
        return "alerts: " + ", ".join(parts)
    return "alerts: ok" if enabled else None


@dataclass(frozen=True)
class NewEpisode:
    """An episode the app has not shown yet."""

    id: int
    source: str
    severity: str | None
    peak_score: float | None


def newest_episode_id(conn: sqlite3.Connection) -> int:
    """The id of the newest episode (0 when there is none): where the app's toasts start."""
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM anomaly_predictions").fetchone()[0])


def episodes_after(conn: sqlite3.Connection, after_id: int, limit: int = 5) -> list[NewEpisode]:
    """Episodes opened after `after_id`, oldest first (at most `limit`, the newest ones)."""
    rows = conn.execute(
        "SELECT id, source, severity, peak_score FROM anomaly_predictions WHERE id > ? ORDER BY id DESC LIMIT ?",
        (after_id, limit),
    ).fetchall()
    return [NewEpisode(int(r[0]), str(r[1]), r[2], r[3]) for r in reversed(rows)]
