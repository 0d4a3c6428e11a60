"""The model registry: one detector model per source, its versions' lifecycle and artifacts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scops_tui.errors import ScopsError
from scops_tui.store.database import fits_in_sqlite, transaction
from scops_tui.store.timestamps import now_ms

if TYPE_CHECKING:
    from scops_tui.detection.config import DetectorConfig
    from scops_tui.detection.forest import LearnedModel

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
    if not fits_in_sqlite(version_id):
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
    from scops_tui.detection.forest import LearnedModel

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
