"""The review queue: listing by status and severity, acknowledgements, verdicts that feed quality, notes."""

from __future__ import annotations

import sqlite3

import pytest

from scops_tui.detection import registry, review
from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.episodes import EpisodeSnapshot
from scops_tui.detection.quality import evaluate
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord

T0 = 1_800_000_000_000


def add_episode(conn: sqlite3.Connection, start: int, peak: float, samples: int = 3) -> int:
    snapshot = EpisodeSnapshot(
        start, start + (samples - 1) * 1000, peak, samples, (("cpu_usage", 12.0), ("disk_io_read", 3.0))
    )
    with store.transaction(conn):
        return review.open_episode(
            conn, snapshot, source="host", model_name="detector@host", model_version="1", model_version_id=None
        )


@pytest.fixture
def operator(conn: sqlite3.Connection) -> str:
    return store.operator_username()


def test_list_filters_by_status_and_severity_newest_first(conn: sqlite3.Connection, operator: str) -> None:
    low = add_episode(conn, T0, 0.45)
    critical = add_episode(conn, T0 + 60_000, 0.9)
    high = add_episode(conn, T0 + 120_000, 0.7)
    assert [e.id for e in review.list_episodes(conn, "open")] == [high, critical, low]
    assert [e.id for e in review.list_episodes(conn, "open", "critical")] == [critical]
    review.acknowledge(conn, critical, operator)
    review.resolve(conn, low, operator, "disk cleanup finished")
    assert [e.id for e in review.list_episodes(conn, "open")] == [high]
    assert [e.id for e in review.list_episodes(conn, "acknowledged")] == [critical]
    assert [e.id for e in review.list_episodes(conn, "resolved")] == [low]
    assert len(review.list_episodes(conn, "all")) == 3
    with pytest.raises(review.ReviewError):
        review.list_episodes(conn, "open", "urgent")


def test_acknowledge_records_who_and_when(conn: sqlite3.Connection, operator: str) -> None:
    episode = review.acknowledge(conn, add_episode(conn, T0, 0.6), operator, note="looking")
    assert episode.acknowledged and episode.acknowledged_by == operator and episode.acknowledged_at
    assert episode.status == "acknowledged"
    assert episode.resolution_notes is not None and episode.resolution_notes.endswith(f"{operator}] looking")
    payload = episode.as_json()
    for key in ("id", "timestamp", "source", "severity", "confidence_score", "acknowledged"):
        assert key in payload


def test_unknown_episode_is_a_clear_error(conn: sqlite3.Connection, operator: str) -> None:
    with pytest.raises(review.ReviewError, match="no anomaly episode with id 42"):
        review.acknowledge(conn, 42, operator)


def test_verdicts_reach_the_predictions_and_the_versions_quality(conn: sqlite3.Connection, operator: str) -> None:
    system = store.user_id(conn, "system")
    with store.transaction(conn):
        version = registry.register_statistical(
            conn, "host", DetectorConfig(), threshold=0.5, window=(T0, T0), rows=1, created_by=system
        )
    records = [MetricRecord(T0 + i * 1000, "host", 90.0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1.0) for i in range(6)]
    first = store.insert_metrics(conn, records, created_by=system, created_at=T0).first_id
    assert first is not None
    for offset in range(6):
        conn.execute(
            "INSERT INTO model_predictions (model_version_id, metrics_id, predicted_anomaly, confidence_score, "
            "prediction_time_ms) VALUES (?, ?, 1, 0.8, 0.2)",
            (version.id, first + offset),
        )
    true_episode = add_episode(conn, T0, 0.8, samples=3)  # samples 0..2
    false_episode = add_episode(conn, T0 + 3000, 0.6, samples=2)  # samples 3..4; sample 5 stays unreviewed
    review.give_verdict(conn, true_episode, operator, confirmed=True)
    episode = review.give_verdict(conn, false_episode, operator, confirmed=False, note="backup job")
    assert episode.verdict == "false_positive" and episode.acknowledged
    labels = [row[0] for row in conn.execute("SELECT actual_anomaly FROM model_predictions ORDER BY metrics_id")]
    assert labels == [1, 1, 1, 0, 0, None]
    who = conn.execute("SELECT DISTINCT feedback_provided_by FROM model_predictions WHERE actual_anomaly IS NOT NULL")
    assert [row[0] for row in who] == [store.user_id(conn, operator)]
    marked = review.mark_missed(conn, "host", T0 + 5000, T0 + 5000, operator, version.id)
    assert marked == 0  # sample 5 was flagged: it is not a miss
    result = evaluate(conn, version.id)
    # Counted in episodes: one confirmed, one false positive, however many samples each spans.
    assert (result.episodes.true_positives, result.episodes.false_positives) == (1, 1)
    assert result.version.precision == pytest.approx(0.5)
    assert result.version.recall == pytest.approx(1.0)
    # Sample-level figures beside: 3 confirmed samples, 2 false-positive ones.
    assert (result.samples.true_positives, result.samples.false_positives) == (3, 2)


def test_a_missed_anomaly_counts_against_recall(conn: sqlite3.Connection, operator: str) -> None:
    system = store.user_id(conn, "system")
    with store.transaction(conn):
        version = registry.register_statistical(
            conn, "host", DetectorConfig(), threshold=0.5, window=(T0, T0), rows=1, created_by=system
        )
    records = [MetricRecord(T0 + i * 1000, "host", 10.0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1.0) for i in range(4)]
    store.insert_metrics(conn, records, created_by=system, created_at=T0)
    assert review.mark_missed(conn, "host", T0 + 1000, T0 + 2000, operator, version.id) == 2
    assert review.mark_missed(conn, "host", T0 + 1000, T0 + 2000, operator, version.id) == 0  # idempotent
    result = evaluate(conn, version.id)
    assert result.episodes.false_negatives == 1  # one marked span, of 2 samples
    assert result.samples.false_negatives == 2
    assert result.episodes.recall == 0.0
    with pytest.raises(review.ReviewError):
        review.mark_missed(conn, "host", T0 + 2000, T0, operator, version.id)
