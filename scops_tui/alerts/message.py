"""The words of an alert: a title, a plain-text body with one `field: value` line per fact, and the same
facts as JSON (what the command channel reads on stdin)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scops_tui.alerts.outbox import DueAlert
from scops_tui.detection import review
from scops_tui.store.timestamps import iso

TOP_METRICS = 3
"""Deviating metrics named in an alert."""
TOP_PROCESSES = 3
"""Processes named in an alert."""


@dataclass(frozen=True)
class AlertMessage:
    """One alert as every channel gets it."""

    title: str
    body: str
    severity: str
    """The highest severity in the alert (apprise shows high and critical as failures)."""
    payload: dict[str, Any] = field(default_factory=dict)


def review_hint(episode_ids: Sequence[int]) -> str:
    """How to review these episodes from a shell (the app's Anomalies screen shows them too)."""
    first = episode_ids[0]
    return (
        "scops-tui anomalies list --status all --json (or the app's Anomalies screen); "
        f"then scops-tui anomalies ack|confirm|false-positive|resolve {first}"
    )


def _metrics_text(episode: review.Episode) -> str:
    parts = []
    for item in episode.contributing_metrics[:TOP_METRICS]:
        deviation = item.get("deviation")
        parts.append(f"{item.get('metric')} ({deviation:+.1f})" if isinstance(deviation, int | float) else str(item))
    return ", ".join(parts) or "-"


def _processes_text(episode: review.Episode) -> str:
    parts = []
    for item in episode.top_processes[:TOP_PROCESSES]:
        if "error" in item:
            return f"(not measured: {item['error']})"
        parts.append(f"{item.get('name')} (pid {item.get('pid')}, {float(item.get('cpu_percent') or 0):.0f}% CPU)")
    return ", ".join(parts) or "(not measured yet)"


def _facts(episode: review.Episode) -> list[tuple[str, str]]:
    return [
        ("host", episode.source),
        ("severity", episode.severity or "-"),
        ("peak score", f"{episode.peak_score if episode.peak_score is not None else episode.confidence_score:.2f}"),
        ("started", iso(episode.timestamp)),
        ("metrics", _metrics_text(episode)),
        ("top processes", _processes_text(episode)),
    ]


def compose(alert: DueAlert, episodes: Sequence[review.Episode], cooldown_minutes: float) -> AlertMessage:
    """The message of a due alert about `episodes` (read when sent, so it carries their newest state)."""
    lead = episodes[0]
    ids = [episode.id for episode in episodes]
    payload: dict[str, Any] = {
        "alert": alert.kind,
        "host": lead.source,
        "severity": alert.severity,
        "review": review_hint(ids),
        "episodes": [episode.as_json() for episode in episodes],
    }
    if alert.kind == "follow-up":
        metrics = alert.metrics_key.replace(",", ", ") or "the same metrics"
        title = (
            f"scops-tui: {len(episodes)} more episode(s) on {lead.source} ({metrics}) within {cooldown_minutes:g} min"
        )
        lines = [
            f"host: {lead.source}",
            f"severity: {alert.severity}",
            f"grouped: {len(episodes)} episode(s) on {metrics} within the {cooldown_minutes:g}-minute cooldown",
        ]
        for episode in episodes:
            facts = dict(_facts(episode))
            lines.append(
                f"episode {episode.id}: severity {facts['severity']}, peak score {facts['peak score']}, "
                f"started {facts['started']}, metrics {facts['metrics']}, top processes {facts['top processes']}"
            )
        lines.append(f"review: {review_hint(ids)}")
        return AlertMessage(title, "\n".join(lines), alert.severity, payload)
    verb = "escalated to" if alert.kind == "escalated" else "opened:"
    severity = lead.severity or alert.severity
    title = f"scops-tui: episode {lead.id} on {lead.source} {verb} {severity}"
    lines = [f"episode: {lead.id} ({alert.kind})", *(f"{name}: {value}" for name, value in _facts(lead))]
    lines.append(f"review: {review_hint(ids)}")
    return AlertMessage(title, "\n".join(lines), severity, payload)


def trial_message(host: str, now_ms: int) -> AlertMessage:
    """What `alerts test` sends to every channel."""
    body = f"host: {host}\ntime: {iso(now_ms)}\nThis is a test alert from scops-tui: this channel works."
    payload = {"alert": "test", "host": host, "time": iso(now_ms)}
    return AlertMessage(f"scops-tui: test alert from {host}", body, "low", payload)


def load_episodes(conn: sqlite3.Connection, episode_ids: Sequence[int]) -> list[review.Episode]:
    """The episodes of an alert, in its order; an episode deleted meanwhile (pruned) is left out."""
    found = []
    for episode_id in episode_ids:
        try:
            found.append(review.get_episode(conn, episode_id))
        except review.ReviewError:
            continue
    return found
