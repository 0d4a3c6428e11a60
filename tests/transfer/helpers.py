"""What the import tests share: the system user, the legacy records, a JSON file writer, the legacy
models imported, and a fingerprint of a whole database."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from scops_tui.detection import registry
from scops_tui.store import database as store
from scops_tui.transfer import legacy_models
from tests.conftest import data_file


def system_user(conn: sqlite3.Connection) -> bytes:
    """The id of the system user, who owns imported rows."""
    return store.user_id(conn, store.SYSTEM_USERNAME)


def database_fingerprint(conn: sqlite3.Connection) -> tuple[dict[str, int], str]:
    """Row counts of the eight tables and one hash of every row in them."""
    digest = hashlib.sha256()
    for table in store.TABLES:
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):  # noqa: S608
            digest.update(repr(tuple(row)).encode())
    return store.table_counts(conn), digest.hexdigest()


def legacy_records() -> list[dict[str, object]]:
    """The records of the legacy metrics file."""
    records: list[dict[str, object]] = json.loads(data_file("legacy", "real_training_data.json").read_text())
    return records


def write_json(path: Path, document: object) -> Path:
    """Write `document` to `path` as JSON and return the path."""
    path.write_text(json.dumps(document))
    return path


def import_legacy_models(conn: sqlite3.Connection) -> list[registry.ModelVersion]:
    """Import both legacy model files; return their rule-based versions."""
    for name in ("real_data_model.json", "production_model.json"):
        legacy_models.import_models(conn, data_file("legacy", name), created_by=system_user(conn))
    return [v for v in registry.list_versions(conn) if v.kind == "rule_based"]
