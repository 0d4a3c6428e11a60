"""Import legacy model descriptions (``real_data_model.json``, ``production_model.json``): each becomes an
``ml_models`` row and a ``ready`` version.

Legacy rule-based types map to ``rule_based`` (the original type is kept in the version's config); any
other type is refused with a message, never dropped. :func:`~scops_tui.detection.rules.score_with_thresholds`
scores a sample with such a version exactly as the legacy engine did.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from scops_tui.detection.rules import ANY_THRESHOLD, THRESHOLD_METRICS, WEIGHTED
from scops_tui.errors import InputFileError
from scops_tui.store.database import transaction
from scops_tui.transfer.importer import (
    ImportOptionError,
    ImportReport,
    Progress,
    check_option,
    check_text,
    parse_time,
    show,
)
from scops_tui.transfer.legacy_json import finite_number, load_json

__all__ = ["import_models"]

_ALLOWED_TYPES = ("isolation_forest", "prophet", "rule_based", "ensemble", "robust_statistical")
_LEGACY_NAMES = {"rule_based_real_data": "real_data_anomaly_detector"}
"""Model names the original migration gave (others are named after their legacy type)."""
_THRESHOLD_KEYS = dict(
    zip(("cpu_threshold", "memory_threshold", "load_threshold", "disk_threshold"), THRESHOLD_METRICS, strict=True)
)
_PERFORMANCE_KEYS = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1_score": "f1"}


def _map_model_type(legacy: str) -> tuple[str, str]:
    """(schema model_type, rule set) of a legacy type; ValueError for a type with no mapping."""
    if legacy == "rule_based_real_data" or legacy == "rule_based":
        return "rule_based", ANY_THRESHOLD
    if legacy.startswith("enhanced_rule_based"):
        return "rule_based", WEIGHTED
    if legacy in _ALLOWED_TYPES:
        raise ValueError(
            f"a legacy {legacy!r} model cannot be imported: its learned artifact is not in the file "
            "(only rule-based models, whose thresholds are the whole model, can be)"
        )
    raise ValueError(
        f"model type {legacy!r} is not one of {', '.join(_ALLOWED_TYPES)} and has no mapping (known legacy "
        "types: rule_based_real_data, enhanced_rule_based_v2); nothing was imported"
    )


@dataclass(frozen=True)
class _LegacyModel:
    name: str
    version: str
    model_type: str
    description: str | None
    training_ms: int
    training_size: int
    performance: dict[str, float | None]
    thresholds: dict[str, float]
    config: dict[str, Any]


def _parse_model(document: dict[str, Any], zone: tzinfo, name_override: str | None, path: str) -> _LegacyModel:
    field = "model_type"
    try:
        legacy_type = document.get("model_type")
        if not isinstance(legacy_type, str) or not legacy_type:
            raise ValueError(f"value {show(legacy_type)} is not a model type name")
        model_type, rules = _map_model_type(legacy_type)
        field = "version"
        version = check_text(document.get("version", "1.0.0"), 1, 20)
        field = "training_timestamp"
        stamp = document.get("training_timestamp")
        if not isinstance(stamp, str):
            raise ValueError(f"value {show(stamp)} is not an ISO-8601 string")
        training_ms = parse_time(stamp, zone, allow_epoch=False)
        field = "training_data_size"
        size = document.get("training_data_size")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size < 2**63:
            raise ValueError(f"value {show(size)} is not a positive whole number")
        field = "thresholds"
        raw_thresholds = document.get("thresholds")
        if not isinstance(raw_thresholds, dict):
            raise ValueError(f"value {show(raw_thresholds)} is not an object of thresholds")
        thresholds: dict[str, float] = {}
        for key, metric in _THRESHOLD_KEYS.items():
            field = f"thresholds.{key}"
            value = raw_thresholds.get(key)
            number = finite_number(value)
            if number is None or number < 0:
                raise ValueError(f"value {show(value)} is not a finite number >= 0")
            thresholds[metric] = number
        field = "performance"
        raw_performance = document.get("performance", {})
        if not isinstance(raw_performance, dict):
            raise ValueError(f"value {show(raw_performance)} is not an object")
        performance: dict[str, float | None] = {}
        for key, target in _PERFORMANCE_KEYS.items():
            field = f"performance.{key}"
            value = raw_performance.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
            ):
                raise ValueError(f"value {show(value)} is not a number between 0 and 1")
            performance[target] = None if value is None else float(value)
        field = "description"
        description = document.get("description")
        if description is not None:
            description = check_text(description, 0, 10_000)
    except ValueError as exc:
        raise InputFileError(path, f"field {field!r}", str(exc)) from None
    name = name_override or _LEGACY_NAMES.get(legacy_type, legacy_type)
    config = {
        "kind": "rule_based",
        "rules": rules,
        "legacy_model_type": legacy_type,
        "metrics": list(_THRESHOLD_KEYS.values()),
        "imported_from": os.path.basename(path),
        "legacy": {key: value for key, value in document.items() if key not in ("thresholds",)},
    }
    return _LegacyModel(
        name=name[:100],
        version=version,
        model_type=model_type,
        description=description or f"Imported legacy {legacy_type} model (thresholds on cpu, memory, load, disk)",
        training_ms=training_ms,
        training_size=size,
        performance=performance,
        thresholds=thresholds,
        config=config,
    )


def import_models(
    conn: sqlite3.Connection,
    path: str | os.PathLike[str],
    *,
    created_by: bytes,
    timezone: tzinfo = UTC,
    name: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one legacy model description (or a JSON array of them) as models and `ready` versions."""
    path_text = os.fspath(path)
    check_option("--name", name)
    document = load_json(path_text, walk=True)
    documents = document if isinstance(document, list) else [document]
    if not documents:
        raise InputFileError(path_text, "", "the array holds no model descriptions")
    if name is not None and len(documents) > 1:
        raise ImportOptionError("--name applies to a file with one model description")
    models: list[_LegacyModel] = []
    for index, item in enumerate(documents, start=1):
        if not isinstance(item, dict):
            raise InputFileError(
                path_text, f"record {index}", f"expected a model description object, found {show(item)}"
            )
        try:
            models.append(_parse_model(item, timezone, name, path_text))
        except InputFileError as exc:
            if len(documents) == 1:
                raise
            raise InputFileError(path_text, f"record {index}, {exc.where}", exc.problem) from None
    added = present = 0
    with transaction(conn):
        for index, model in enumerate(models, start=1):
            if _store_model(conn, model, created_by, path_text, index if len(models) > 1 else None):
                added += 1
            else:
                present += 1
            if progress:
                progress(1)
    return ImportReport(path_text, "model versions", added, present)


def _store_model(
    conn: sqlite3.Connection, model: _LegacyModel, created_by: bytes, path: str, index: int | None
) -> bool:
    where = f"record {index}, field 'model_type'" if index else "field 'model_type'"
    row = conn.execute("SELECT id, model_type FROM ml_models WHERE model_name = ?", (model.name,)).fetchone()
    if row is None:
        model_id = int(
            conn.execute(
                "INSERT INTO ml_models (model_name, model_type, description, is_active, created_by) "
                "VALUES (?, ?, ?, 1, ?)",
                (model.name, model.model_type, model.description, created_by),
            ).lastrowid
            or 0
        )
    else:
        model_id, existing_type = int(row[0]), row[1]
        if existing_type != model.model_type:
            raise InputFileError(
                path,
                where,
                f"model {model.name!r} already exists with type {existing_type!r}, not {model.model_type!r}",
            )
    thresholds = json.dumps(model.thresholds, sort_keys=True)
    config = json.dumps(model.config, sort_keys=True)
    existing = conn.execute(
        "SELECT thresholds, model_config FROM ml_model_versions WHERE model_id = ? AND version = ?",
        (model_id, model.version),
    ).fetchone()
    if existing is not None:
        if (
            json.loads(existing[0]) != model.thresholds
            or json.loads(existing[1]).get("legacy") != model.config["legacy"]
        ):
            raise InputFileError(
                path,
                where.replace("model_type", "version"),
                f"version {model.version!r} of model {model.name!r} already exists with different content",
            )
        return False
    conn.execute(
        "INSERT INTO ml_model_versions (model_id, version, training_timestamp, training_data_start, "
        "training_data_end, training_data_size, model_config, thresholds, accuracy, precision_score, "
        "recall_score, f1_score, status, deployment_notes, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ready', ?, ?)",
        (
            model_id,
            model.version,
            model.training_ms,
            model.training_ms,
            model.training_ms,
            model.training_size,
            config,
            thresholds,
            model.performance["accuracy"],
            model.performance["precision"],
            model.performance["recall"],
            model.performance["f1"],
            f"imported from {os.path.basename(path)}: scores with its thresholds (rules {model.config['rules']})",
            created_by,
        ),
    )
    return True
