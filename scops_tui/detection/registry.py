"""The model registry: one detector model per source, its versions' lifecycle, artifacts and quality."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scops_tui.errors import ScopsError
from scops_tui.store.database import transaction
from scops_tui.store.timestamps import now_ms

if TYPE_CHECKING:
    from scops_tui.detection.detector import DetectorConfig, LearnedModel

DETECTED_METRICS = (
    "cpu_usage",
    "memory_usage",
    "disk_usage",
    "load_1m",
    "disk_io_read",
    "disk_io_write",
    "network_rx",
    "network_tx",
)
"""The metrics columns the host detector reads, in the order of its feature vector."""

STATISTICAL = "robust_statistical"
LEARNED = "isolation_forest"


class RegistryError(ScopsError):
    """A model or version does not exist, or cannot make the requested move."""


@dataclass(frozen=True)
class ModelVersion:
    """One version of a source's detector, as the registry holds it."""

    id: int
    model_id: int
    model_name: str
    source: str | None
    version: str
    kind: str
    """`robust_statistical` (median/MAD only) or `isolation_forest` (with a learned model)."""
    status: str
    is_deployed: bool
    training_timestamp: int
    training_data_start: int
    training_data_end: int
    training_data_size: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    config: dict[str, Any]
    thresholds: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The object printed by `model list --json`."""
        from scops_tui.store.timestamps import iso

        return {
            "id": self.id,
            "model_name": self.model_name,
            "source": self.source,
            "version": self.version,
            "kind": self.kind,
            "status": self.status,
            "is_deployed": self.is_deployed,
            "training_timestamp": iso(self.training_timestamp),
            "training_data_start": iso(self.training_data_start),
            "training_data_end": iso(self.training_data_end),
            "training_data_size": self.training_data_size,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


_SELECT_VERSION = """
SELECT v.id, v.model_id, m.model_name, m.source, v.version, v.status, v.is_deployed, v.training_timestamp,
       v.training_data_start, v.training_data_end, v.training_data_size, v.accuracy, v.precision_score,
       v.recall_score, v.f1_score, v.model_config, v.thresholds
FROM ml_model_versions AS v JOIN ml_models AS m ON m.id = v.model_id
"""


def _version_from_row(row: tuple[Any, ...]) -> ModelVersion:
    config = json.loads(row[15])
    return ModelVersion(
        id=row[0],
        model_id=row[1],
        model_name=row[2],
        source=row[3],
        version=row[4],
        kind=str(config.get("kind", "unknown")),
        status=row[5],
        is_deployed=bool(row[6]),
        training_timestamp=row[7],
        training_data_start=row[8],
        training_data_end=row[9],
        training_data_size=row[10],
        accuracy=row[11],
        precision=row[12],
        recall=row[13],
        f1=row[14],
        config=config,
        thresholds=json.loads(row[16]),
    )


def model_name_for(source: str) -> str:
    """The name of a source's detector model."""
    return f"detector@{source}"[:100]


def ensure_model(conn: sqlite3.Connection, source: str, created_by: bytes) -> int:
    """The id of `source`'s detector model, creating the ml_models row if needed (inside the caller's txn)."""
    name = model_name_for(source)
    row = conn.execute("SELECT id FROM ml_models WHERE model_name = ?", (name,)).fetchone()
    if row:
        return int(row[0])
    cursor = conn.execute(
        "INSERT INTO ml_models (model_name, model_type, description, is_active, created_by, source) "
        "VALUES (?, 'ensemble', ?, 1, ?, ?)",
        (
            name,
            f"Host detector for {source}: robust median/MAD statistics, joined by an isolation forest "
            "trained on the host's own history once enough exists.",
            created_by,
            source,
        ),
    )
    return int(cursor.lastrowid or 0)


def get_version(conn: sqlite3.Connection, version_id: int) -> ModelVersion:
    """One version by id; RegistryError when there is none (an id beyond SQLite's 64-bit range included)."""
    if not -(2**63) <= version_id < 2**63:
        raise RegistryError(f"no model version with id {version_id} (beyond the 64-bit id range)")
    row = conn.execute(_SELECT_VERSION + " WHERE v.id = ?", (version_id,)).fetchone()
    if row is None:
        raise RegistryError(f"no model version with id {version_id}")
    return _version_from_row(row)


def deployed_version(conn: sqlite3.Connection, source: str) -> ModelVersion | None:
    """The version that scores `source` now, if any."""
    row = conn.execute(
        _SELECT_VERSION + " WHERE m.model_name = ? AND v.is_deployed = 1", (model_name_for(source),)
    ).fetchone()
    return None if row is None else _version_from_row(row)


def list_versions(conn: sqlite3.Connection, source: str | None = None) -> list[ModelVersion]:
    """All versions (of one source's model, if given), newest first."""
    if source is None:
        rows = conn.execute(_SELECT_VERSION + " ORDER BY v.id DESC").fetchall()
    else:
        rows = conn.execute(
            _SELECT_VERSION + " WHERE m.model_name = ? ORDER BY v.id DESC", (model_name_for(source),)
        ).fetchall()
    return [_version_from_row(row) for row in rows]


def _next_version(conn: sqlite3.Connection, model_id: int) -> str:
    numbers = [
        int(v)
        for (v,) in conn.execute("SELECT version FROM ml_model_versions WHERE model_id = ?", (model_id,))
        if v.isdigit()
    ]
    return str(max(numbers, default=0) + 1)


def _config_json(kind: str, config: DetectorConfig, extra: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {
        "kind": kind,
        "metrics": list(DETECTED_METRICS),
        "detector": dataclasses.asdict(config),
    }
    body.update(extra or {})
    return json.dumps(body, sort_keys=True)


def _thresholds_json(threshold: float) -> str:
    return json.dumps({"anomaly_score": threshold, "severity": {"medium": 0.4, "high": 0.6, "critical": 0.8}})


def register_statistical(
    conn: sqlite3.Connection,
    source: str,
    config: DetectorConfig,
    *,
    threshold: float,
    window: tuple[int, int],
    rows: int,
    created_by: bytes,
) -> ModelVersion:
    """Register and deploy the statistical detector as `source`'s first version (inside the caller's txn)."""
    model_id = ensure_model(conn, source, created_by)
    cursor = conn.execute(
        "INSERT INTO ml_model_versions (model_id, version, training_timestamp, training_data_start, "
        "training_data_end, training_data_size, model_config, thresholds, status, is_deployed, "
        "deployment_notes, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'deployed', 1, ?, ?)",
        (
            model_id,
            _next_version(conn, model_id),
            now_ms(),
            window[0],
            window[1],
            max(rows, 1),
            _config_json(STATISTICAL, config),
            _thresholds_json(threshold),
            "statistical detector: scores from the first samples, until a learned model is trained",
            created_by,
        ),
    )
    return get_version(conn, int(cursor.lastrowid or 0))


def register_learned(
    conn: sqlite3.Connection,
    source: str,
    model: LearnedModel,
    config: DetectorConfig,
    *,
    threshold: float,
    created_by: bytes,
    deploy: bool,
) -> ModelVersion:
    """Record a trained model: a version row (training), its artifact, then ready; deployed if asked."""
    with transaction(conn):
        model_id = ensure_model(conn, source, created_by)
        cursor = conn.execute(
            "INSERT INTO ml_model_versions (model_id, version, training_timestamp, training_data_start, "
            "training_data_end, training_data_size, model_config, thresholds, status, model_path, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'training', ?, ?)",
            (
                model_id,
                _next_version(conn, model_id),
                now_ms(),
                model.trained_from_ms,
                model.trained_to_ms,
                model.trained_rows,
                _config_json(LEARNED, config, {"use_time_of_day": model.use_time_of_day}),
                _thresholds_json(threshold),
                "sqlite:model_artifacts",
                created_by,
            ),
        )
        version_id = int(cursor.lastrowid or 0)
        body = json.dumps(model.to_dict(), separators=(",", ":"))
        conn.execute(
            "INSERT INTO model_artifacts (model_version_id, format, body, sha256) VALUES (?, ?, ?, ?)",
            (version_id, str(model.to_dict()["format"]), body, hashlib.sha256(body.encode()).hexdigest()),
        )
        conn.execute("UPDATE ml_model_versions SET status = 'ready' WHERE id = ?", (version_id,))
        if deploy:
            _deploy(conn, version_id)
    return get_version(conn, version_id)


def _deploy(conn: sqlite3.Connection, version_id: int) -> None:
    version = get_version(conn, version_id)
    if version.status == "training":
        raise RegistryError(f"model version {version_id} is still training and cannot be deployed")
    if version.kind == "imported_labels":
        raise RegistryError(
            f"model version {version_id} holds imported labels; it does not score and cannot be deployed"
        )
    conn.execute(
        "UPDATE ml_model_versions SET status = 'deprecated', is_deployed = 0 "
        "WHERE model_id = ? AND is_deployed = 1 AND id != ?",
        (version.model_id, version_id),
    )
    conn.execute("UPDATE ml_model_versions SET status = 'deployed', is_deployed = 1 WHERE id = ?", (version_id,))


def deploy(conn: sqlite3.Connection, version_id: int) -> ModelVersion:
    """Deploy a version: it scores its source from now on, and the previously deployed one is deprecated."""
    with transaction(conn):
        _deploy(conn, version_id)
    return get_version(conn, version_id)


def load_learned_model(conn: sqlite3.Connection, version: ModelVersion) -> LearnedModel | None:
    """The learned model of a version (None for the statistical detector), checked against its hash.

    The artifact is JSON read by `LearnedModel.from_dict`: loading it cannot run code.
    """
    if version.kind != LEARNED:
        return None
    from scops_tui.detection.detector import LearnedModel

    row = conn.execute("SELECT body, sha256 FROM model_artifacts WHERE model_version_id = ?", (version.id,)).fetchone()
    if row is None:
        raise RegistryError(f"model version {version.id} has no stored artifact")
    body, digest = row
    if hashlib.sha256(body.encode()).hexdigest() != digest:
        raise RegistryError(f"model version {version.id}: the stored artifact does not match its hash")
    try:
        return LearnedModel.from_dict(json.loads(body))
    except ValueError as exc:
        raise RegistryError(f"model version {version.id}: unusable artifact: {exc}") from exc


@dataclass(frozen=True)
class Quality:
    """Quality of a version measured from the operator's verdicts (and imported labels)."""

    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def labelled(self) -> int:
        """Predictions that carry a verdict."""
        return self.true_positives + self.false_positives + self.false_negatives + self.true_negatives

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP), or None without flagged predictions that have a verdict."""
        flagged = self.true_positives + self.false_positives
        return None if flagged == 0 else self.true_positives / flagged

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN), or None without any true anomaly among the verdicts."""
        actual = self.true_positives + self.false_negatives
        return None if actual == 0 else self.true_positives / actual

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

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
class EpisodeQuality:
    """Quality counted in episodes (events), the way an operator meets them.

    A confirmed episode is one true positive and a false-positive verdict one false positive, however
    many samples they span; a span marked as missed is one false negative. Against imported labels, a
    labelled event (a run of consecutive labelled samples) that a predicted run overlaps is a true
    positive, one that none overlaps a false negative, and a predicted run that overlaps no labelled
    event a false positive.
    """

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP), or None without any judged episode."""
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
    from scops_tui.detection.detector import DetectorConfig, StreamingDetector
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
