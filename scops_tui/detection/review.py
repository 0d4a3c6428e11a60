"""The review queue: episodes in anomaly_predictions, and the operator's acknowledgements and verdicts."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from scops_tui.detection.episodes import EpisodeSnapshot
from scops_tui.errors import ScopsError
from scops_tui.store.database import fits_in_sqlite, transaction, user_id
from scops_tui.store.timestamps import iso, now_ms

Status = Literal["open", "acknowledged", "resolved", "all"]
SEVERITIES = ("low", "medium", "high", "critical")


class ReviewError(ScopsError):
    """An episode does not exist or cannot take the requested action."""


@dataclass(frozen=True)
class Episode:
    """One row of the review queue."""

    id: int
    timestamp: int
    end_timestamp: int | None
    source: str
    severity: str | None
    confidence_score: float
    peak_score: float | None
    samples: int
    model_name: str
    model_version: str
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: int | None
    verdict: str | None
    resolved_at: int | None
    resolution_notes: str | None
    contributing_metrics: list[dict[str, Any]]
    top_processes: list[dict[str, Any]]

    @property
    def status(self) -> str:
        """open, acknowledged or resolved."""
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged else "open"

    def as_json(self) -> dict[str, Any]:
        """The object printed by `anomalies list --json`."""
        return {
            "id": self.id,
            "timestamp": iso(self.timestamp),
            "end_timestamp": None if self.end_timestamp is None else iso(self.end_timestamp),
            "source": self.source,
            "severity": self.severity,
            "confidence_score": self.confidence_score,
            "peak_score": self.peak_score,
            "samples": self.samples,
            "status": self.status,
            "acknowledged": self.acknowledged,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": None if self.acknowledged_at is None else iso(self.acknowledged_at),
            "verdict": self.verdict,
            "resolution_notes": self.resolution_notes,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "contributing_metrics": self.contributing_metrics,
            "top_processes": self.top_processes,
        }


_SELECT = """
SELECT a.id, a.timestamp, a.end_timestamp, a.source, a.severity, a.confidence_score, a.peak_score,
       a.sample_count, a.model_name, a.model_version, a.acknowledged, u.username, a.acknowledged_at,
       a.verdict, a.resolved_at, a.resolution_notes, a.contributing_metrics, a.top_processes
FROM anomaly_predictions AS a LEFT JOIN users AS u ON u.id = a.acknowledged_by
"""

_STATUS_FILTER = {
    "open": "a.acknowledged = 0 AND a.resolved_at IS NULL",
    "acknowledged": "a.acknowledged = 1 AND a.resolved_at IS NULL",
    "resolved": "a.resolved_at IS NOT NULL",
    "all": "1 = 1",
}


def _episode(row: tuple[Any, ...]) -> Episode:
    return Episode(
        id=row[0],
        timestamp=row[1],
        end_timestamp=row[2],
        source=row[3],
        severity=row[4],
        confidence_score=row[5],
        peak_score=row[6],
        samples=row[7],
        model_name=row[8],
        model_version=row[9],
        acknowledged=bool(row[10]),
        acknowledged_by=row[11],
        acknowledged_at=row[12],
        verdict=row[13],
        resolved_at=row[14],
        resolution_notes=row[15],
        contributing_metrics=json.loads(row[16]) if row[16] else [],
        top_processes=json.loads(row[17]) if row[17] else [],
    )


def list_episodes(
    conn: sqlite3.Connection, status: Status = "open", severity: str | None = None, limit: int | None = None
) -> list[Episode]:
    """Episodes with this status (and severity), newest first."""
    if status not in _STATUS_FILTER:
        raise ReviewError(f"unknown status {status!r} (open, acknowledged, resolved or all)")
    where, params = [_STATUS_FILTER[status]], []
    if severity is not None:
        if severity not in SEVERITIES:
            raise ReviewError(f"unknown severity {severity!r} (low, medium, high or critical)")
        where.append("a.severity = ?")
        params.append(severity)
    sql = _SELECT + " WHERE " + " AND ".join(where) + " ORDER BY a.timestamp DESC, a.id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_episode(row) for row in conn.execute(sql, params)]


def get_episode(conn: sqlite3.Connection, episode_id: int) -> Episode:
    """One episode by id; ReviewError when there is none (an id beyond SQLite's 64-bit range included)."""
    if not fits_in_sqlite(episode_id):
        raise ReviewError(f"no anomaly episode with id {episode_id} (beyond the 64-bit id range)")
    row = conn.execute(_SELECT + " WHERE a.id = ?", (episode_id,)).fetchone()
    if row is None:
        raise ReviewError(f"no anomaly episode with id {episode_id}")
    return _episode(row)


def _contributions_json(snapshot: EpisodeSnapshot, limit: int = 5) -> str:
    return json.dumps([{"metric": name, "deviation": round(value, 3)} for name, value in snapshot.deviations[:limit]])


def open_episode(
    conn: sqlite3.Connection,
    snapshot: EpisodeSnapshot,
    *,
    source: str,
    model_name: str,
    model_version: str,
    model_version_id: int | None,
) -> int:
    """Insert the row of a newly opened episode (inside the caller's transaction); return its id."""
    cursor = conn.execute(
        "INSERT INTO anomaly_predictions (timestamp, end_timestamp, source, anomaly_detected, severity, "
        "confidence_score, peak_score, sample_count, model_name, model_version, model_version_id, "
        "contributing_metrics) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            snapshot.start_ms,
            snapshot.end_ms,
            source,
            snapshot.severity,
            round(snapshot.peak_score, 4),
            snapshot.peak_score,
            snapshot.samples,
            model_name,
            model_version,
            model_version_id,
            _contributions_json(snapshot),
        ),
    )
    return int(cursor.lastrowid or 0)


def update_episode(conn: sqlite3.Connection, episode_id: int, snapshot: EpisodeSnapshot) -> None:
    """Carry an episode's growth (end, peak, severity, samples, deviations) into its row."""
    conn.execute(
        "UPDATE anomaly_predictions SET end_timestamp = ?, severity = ?, confidence_score = ?, peak_score = ?, "
        "sample_count = ?, contributing_metrics = ? WHERE id = ?",
        (
            snapshot.end_ms,
            snapshot.severity,
            round(snapshot.peak_score, 4),
            snapshot.peak_score,
            snapshot.samples,
            _contributions_json(snapshot),
            episode_id,
        ),
    )


def set_top_processes(conn: sqlite3.Connection, episode_id: int, processes: list[dict[str, Any]]) -> None:
    """Store the top processes measured when the episode was detected."""
    conn.execute("UPDATE anomaly_predictions SET top_processes = ? WHERE id = ?", (json.dumps(processes), episode_id))


def _acknowledge(conn: sqlite3.Connection, episode_id: int, who: bytes, when: int) -> None:
    conn.execute(
        "UPDATE anomaly_predictions SET acknowledged = 1, acknowledged_by = ?, acknowledged_at = ? "
        "WHERE id = ? AND acknowledged = 0",
        (who, when, episode_id),
    )


def _check_note(note: str | None) -> None:
    """Refuse, before anything is written, a note SQLite cannot store (a lone surrogate is not Unicode text)."""
    if note is None:
        return
    try:
        note.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ReviewError(
            f"the note holds {note[exc.start]!r} at character {exc.start + 1}, which is not valid Unicode text"
        ) from None


def _append_note(conn: sqlite3.Connection, episode_id: int, note: str | None, who: str, when: int) -> None:
    if note is None or not note.strip():
        return
    line = f"[{iso(when)} {who}] {note.strip()}"
    conn.execute(
        "UPDATE anomaly_predictions SET resolution_notes = CASE WHEN resolution_notes IS NULL OR "
        "resolution_notes = '' THEN ? ELSE resolution_notes || char(10) || ? END WHERE id = ?",
        (line, line, episode_id),
    )


def acknowledge(conn: sqlite3.Connection, episode_id: int, username: str, note: str | None = None) -> Episode:
    """Mark an episode as seen by `username`."""
    _check_note(note)
    get_episode(conn, episode_id)
    who, when = user_id(conn, username), now_ms()
    with transaction(conn):
        _acknowledge(conn, episode_id, who, when)
        _append_note(conn, episode_id, note, username, when)
    return get_episode(conn, episode_id)


def give_verdict(
    conn: sqlite3.Connection, episode_id: int, username: str, confirmed: bool, note: str | None = None
) -> Episode:
    """Confirm an episode as a true anomaly or mark it a false positive (acknowledging it too).

    The verdict is copied onto the model's predictions for the episode's samples, so it feeds the
    quality figures of the version that made them.
    """
    _check_note(note)
    episode = get_episode(conn, episode_id)
    who, when = user_id(conn, username), now_ms()
    verdict = "confirmed" if confirmed else "false_positive"
    with transaction(conn):
        _acknowledge(conn, episode_id, who, when)
        conn.execute(
            "UPDATE anomaly_predictions SET verdict = ?, verdict_by = ?, verdict_at = ? WHERE id = ?",
            (verdict, who, when, episode_id),
        )
        conn.execute(
            "UPDATE model_predictions SET actual_anomaly = ?, feedback_provided_at = ?, feedback_provided_by = ? "
            "WHERE predicted_anomaly = 1 AND metrics_id IN (SELECT id FROM metrics WHERE source = ? "
            "AND timestamp BETWEEN ? AND ?)",
            (
                1 if confirmed else 0,
                when,
                who,
                episode.source,
                episode.timestamp,
                episode.end_timestamp if episode.end_timestamp is not None else episode.timestamp,
            ),
        )
        _append_note(conn, episode_id, note, username, when)
    return get_episode(conn, episode_id)


def resolve(conn: sqlite3.Connection, episode_id: int, username: str, note: str | None = None) -> Episode:
    """Close an episode in the queue (acknowledging it if needed), with an optional note."""
    _check_note(note)
    get_episode(conn, episode_id)
    who, when = user_id(conn, username), now_ms()
    with transaction(conn):
        _acknowledge(conn, episode_id, who, when)
        conn.execute(
            "UPDATE anomaly_predictions SET resolved_at = ?, resolved_by = ? WHERE id = ? AND resolved_at IS NULL",
            (when, who, episode_id),
        )
        _append_note(conn, episode_id, note, username, when)
    return get_episode(conn, episode_id)


def mark_missed(
    conn: sqlite3.Connection, source: str, start_ms: int, end_ms: int, username: str, model_version_id: int
) -> int:
    """Record that the samples of `source` in [start, end] were an anomaly the detector did not flag.

    Each such sample gets a prediction row (predicted 0, actual 1) for the version that scored it, so
    the miss counts against that version's recall. Returns the number of samples marked.
    """
    if end_ms < start_ms:
        raise ReviewError("the end of a missed-anomaly span is before its start")
    who, when = user_id(conn, username), now_ms()
    with transaction(conn):
        cursor = conn.execute(
            "INSERT INTO model_predictions (model_version_id, metrics_id, predicted_anomaly, confidence_score, "
            "prediction_time_ms, actual_anomaly, feedback_provided_at, feedback_provided_by) "
            "SELECT ?, m.id, 0, coalesce(m.anomaly_score, 0) / 10000.0, 0, 1, ?, ? FROM metrics AS m "
            "WHERE m.source = ? AND m.timestamp BETWEEN ? AND ? AND m.is_anomaly = 0 AND NOT EXISTS "
            "(SELECT 1 FROM model_predictions p WHERE p.metrics_id = m.id AND p.model_version_id = ?)",
            (model_version_id, when, who, source, start_ms, end_ms, model_version_id),
        )
    return cursor.rowcount
