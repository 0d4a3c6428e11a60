"""A model version's quality: sample and episode counts from the operator's verdicts and imported labels,
scoring the labelled samples, and `model evaluate`."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from scops_tui.detection.registry import (
    DETECTED_METRICS,
    LEARNED,
    STATISTICAL,
    ModelVersion,
    RegistryError,
    get_version,
    load_learned_model,
)
from scops_tui.store.database import transaction


@dataclass(frozen=True)
class Rates:
    """True and false positives and false negatives, and the precision, recall and F1 they give."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP), or None when nothing was flagged (and judged)."""
        flagged = self.true_positives + self.false_positives
        return None if flagged == 0 else self.true_positives / flagged

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN), or None without any true anomaly."""
        actual = self.true_positives + self.false_negatives
        return None if actual == 0 else self.true_positives / actual

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


@dataclass(frozen=True)
class Quality(Rates):
    """Quality of a version measured from the operator's verdicts (and imported labels), per sample."""

    true_negatives: int

    @property
    def labelled(self) -> int:
        """Predictions that carry a verdict."""
        return self.true_positives + self.false_positives + self.false_negatives + self.true_negatives

    @property
    def accuracy(self) -> float | None:
        """(TP + TN) / all, only when labelled normal samples exist (otherwise it would be meaningless)."""
        if self.true_negatives == 0:
            return None
        return (self.true_positives + self.true_negatives) / self.labelled


def measure_quality(conn: sqlite3.Connection, version_id: int) -> Quality:
    """Count the version's predictions by verdict."""
    counts = dict(
        conn.execute(
            "SELECT predicted_anomaly * 2 + actual_anomaly, count(*) FROM model_predictions "
            "WHERE model_version_id = ? AND actual_anomaly IS NOT NULL GROUP BY 1",
            (version_id,),
        ).fetchall()
    )
    return Quality(
        true_positives=counts.get(3, 0),
        false_positives=counts.get(2, 0),
        false_negatives=counts.get(1, 0),
        true_negatives=counts.get(0, 0),
    )


@dataclass(frozen=True)
class EpisodeQuality(Rates):
    """Quality counted in episodes (events), the way an operator meets them.

    A confirmed episode is one true positive and a false-positive verdict one false positive, however
    many samples they span; a span marked as missed is one false negative. Against imported labels, a
    labelled event (a run of consecutive labelled samples) that a predicted run overlaps is a true
    positive, one that none overlaps a false negative, and a predicted run that overlaps no labelled
    event a false positive.
    """


@dataclass(frozen=True)
class Evaluation:
    """What `model evaluate` measured: episode counts (stored on the version) and sample counts beside."""

    version: ModelVersion
    episodes: EpisodeQuality
    samples: Quality
    labels_source: str | None = None
    """The source whose imported labels the version was measured against, if any."""
    scored: int = 0
    """Labelled samples the version scored in this run (samples it had scored before are kept)."""


def _labels_version_id(conn: sqlite3.Connection, source: str) -> int | None:
    row = conn.execute(
        "SELECT v.id FROM ml_model_versions AS v JOIN ml_models AS m ON m.id = v.model_id "
        "WHERE m.model_name = ? AND v.version = '1'",
        (f"labels@{source}"[:100],),
    ).fetchone()
    return None if row is None else int(row[0])


def labelled_sources(conn: sqlite3.Connection) -> list[str]:
    """Sources with imported ground-truth labels (a `labels@<source>` model)."""
    rows = conn.execute("SELECT source FROM ml_models WHERE model_name LIKE 'labels@%' AND source IS NOT NULL")
    return sorted(str(row[0]) for row in rows)


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """(first, last) index of each run of consecutive True values."""
    runs, start = [], None
    for index, flag in enumerate(flags):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            runs.append((start, index - 1))
            start = None
    if start is not None:
        runs.append((start, len(flags) - 1))
    return runs


def _label_events(conn: sqlite3.Connection, version_id: int, labels_id: int) -> EpisodeQuality:
    """Episode counts of a version's predictions over the labelled samples, in time order."""
    rows = conn.execute(
        "SELECT l.actual_anomaly, coalesce(p.predicted_anomaly, 0) FROM model_predictions AS l "
        "JOIN metrics AS m ON m.id = l.metrics_id LEFT JOIN model_predictions AS p "
        "ON p.metrics_id = l.metrics_id AND p.model_version_id = ? "
        "WHERE l.model_version_id = ? AND l.actual_anomaly IS NOT NULL ORDER BY m.timestamp, m.id",
        (version_id, labels_id),
    ).fetchall()
    actual = _runs([bool(row[0]) for row in rows])
    predicted = _runs([bool(row[1]) for row in rows])

    def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
        return a[0] <= b[1] and b[0] <= a[1]

    found = sum(1 for event in actual if any(overlaps(event, run) for run in predicted))
    false = sum(1 for run in predicted if not any(overlaps(run, event) for event in actual))
    return EpisodeQuality(found, false, len(actual) - found)


def _verdict_events(conn: sqlite3.Connection, version_id: int, labelled: int | None) -> EpisodeQuality:
    """Episode counts from the operator: verdicts on the version's episodes, and marked missed spans."""
    counts = dict(
        conn.execute(
            "SELECT a.verdict, count(*) FROM anomaly_predictions AS a WHERE a.verdict IS NOT NULL AND "
            "(a.model_version_id = ? OR (a.model_version_id IS NULL AND EXISTS (SELECT 1 FROM ml_model_versions "
            "AS v JOIN ml_models AS m ON m.id = v.model_id WHERE v.id = ? AND m.model_name = a.model_name "
            "AND v.version = a.model_version))) GROUP BY a.verdict",
            (version_id, version_id),
        ).fetchall()
    )
    # One `anomalies`/TUI "missed" mark writes one feedback time for all its samples: one span each.
    # Samples that carry imported labels are counted with the labels, not here.
    spans = conn.execute(
        "SELECT count(*) FROM (SELECT DISTINCT p.feedback_provided_at, p.feedback_provided_by "
        "FROM model_predictions AS p WHERE p.model_version_id = ? AND p.predicted_anomaly = 0 "
        "AND p.actual_anomaly = 1 AND NOT EXISTS (SELECT 1 FROM model_predictions AS l "
        "WHERE l.metrics_id = p.metrics_id AND l.model_version_id = ?))",
        (version_id, -1 if labelled is None else labelled),
    ).fetchone()[0]
    return EpisodeQuality(counts.get("confirmed", 0), counts.get("false_positive", 0), int(spans))


def score_labelled(conn: sqlite3.Connection, version: ModelVersion, labels_source: str, created_by: bytes) -> int:
    """Score `labels_source`'s labelled samples with `version` (those it has not scored yet) and store the
    predictions with the label as the actual value. Returns how many were scored."""
    if version.kind == "rule_based":
        from scops_tui.detection.rules import evaluate_rules

        return evaluate_rules(conn, version.id, labels_source, created_by)
    if version.kind not in (STATISTICAL, LEARNED):
        raise RegistryError(f"model version {version.id} ({version.kind}) cannot score samples")
    labels_id = _labels_version_id(conn, labels_source)
    if labels_id is None:
        raise RegistryError(f"no imported labels for source {labels_source!r}")
    from scops_tui.detection.config import DetectorConfig
    from scops_tui.detection.detector import StreamingDetector
    from scops_tui.store.database import METRIC_SCALES
    from scops_tui.store.timestamps import now_ms as clock

    known = {f.name for f in dataclasses.fields(DetectorConfig)}
    stored = version.config.get("detector", {})
    config = DetectorConfig(**{k: v for k, v in stored.items() if k in known})
    config = dataclasses.replace(config, auto_train=False)
    detector = StreamingDetector(len(DETECTED_METRICS), config, model=load_learned_model(conn, version))
    threshold = float(version.thresholds.get("anomaly_score", 0.45))
    columns = ", ".join(f"m.{name}" for name in DETECTED_METRICS)
    rows = conn.execute(
        f"SELECT m.id, m.timestamp, l.actual_anomaly, {columns} FROM model_predictions AS l "  # noqa: S608
        "JOIN metrics AS m ON m.id = l.metrics_id WHERE l.model_version_id = ? ORDER BY m.timestamp, m.id",
        (labels_id,),
    ).fetchall()
    done = {
        int(row[0])
        for row in conn.execute("SELECT metrics_id FROM model_predictions WHERE model_version_id = ?", (version.id,))
    }
    now, written = clock(), []
    # The whole labelled series is scored in time order (a score depends on the samples before it);
    # only the samples this version has no prediction for yet are written.
    for metrics_id, timestamp, actual, *scaled in rows:
        values = [
            0.0 if value is None else value / METRIC_SCALES.get(name, 1)
            for name, value in zip(DETECTED_METRICS, scaled, strict=True)
        ]
        score = detector.score(int(timestamp), values).value
        if int(metrics_id) in done:
            continue
        written.append((version.id, metrics_id, int(score >= threshold), round(score, 6), actual, now, created_by))
    with transaction(conn):
        conn.executemany(
            "INSERT INTO model_predictions (model_version_id, metrics_id, predicted_anomaly, confidence_score, "
            "prediction_time_ms, actual_anomaly, feedback_provided_at, feedback_provided_by) "
            "VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
            written,
        )
    return len(written)


def evaluate(
    conn: sqlite3.Connection,
    version_id: int,
    *,
    labels_source: str | None = None,
    created_by: bytes | None = None,
) -> Evaluation:
    """Measure a version and store its episode-level precision, recall and F1 (and the sample-level
    accuracy when labelled normal samples exist) on it.

    Evidence: the operator's verdicts and missed marks on the version's episodes, plus imported labels
    (`labels@<source>`): those of `labels_source`, or by default of the version's own source (or the only
    labelled source, for a version without a source). With `created_by`, the version first scores the
    labelled samples it has not scored yet, as that user. A labels version is
    the ground truth itself and is refused: measuring it against itself would only say 1.0.
    """
    version = get_version(conn, version_id)
    if version.kind == "imported_labels":
        raise RegistryError(
            f"model version {version_id} ({version.model_name}) holds imported ground-truth labels; it is what "
            "other versions are measured against, not a detector: evaluate a detector version with "
            f"--labels {version.source or '<source>'}"
        )
    if labels_source is None and version.source is not None and _labels_version_id(conn, version.source):
        labels_source = version.source
    if labels_source is None and version.source is None:
        candidates = labelled_sources(conn)
        labels_source = candidates[0] if len(candidates) == 1 else None
    labels_id = None if labels_source is None else _labels_version_id(conn, labels_source)
    if labels_source is not None and labels_id is None:
        raise RegistryError(f"no imported labels for source {labels_source!r}")
    scored = 0
    if labels_source is not None and created_by is not None:
        scored = score_labelled(conn, version, labels_source, created_by)
    verdicts = _verdict_events(conn, version_id, labels_id)
    labelled = EpisodeQuality(0, 0, 0) if labels_id is None else _label_events(conn, version_id, labels_id)
    episodes = EpisodeQuality(
        verdicts.true_positives + labelled.true_positives,
        verdicts.false_positives + labelled.false_positives,
        verdicts.false_negatives + labelled.false_negatives,
    )
    with transaction(conn):
        samples = measure_quality(conn, version_id)
        conn.execute(
            "UPDATE ml_model_versions SET accuracy = ?, precision_score = ?, recall_score = ?, f1_score = ? "
            "WHERE id = ?",
            (samples.accuracy, episodes.precision, episodes.recall, episodes.f1, version_id),
        )
    return Evaluation(get_version(conn, version_id), episodes, samples, labels_source, scored)
