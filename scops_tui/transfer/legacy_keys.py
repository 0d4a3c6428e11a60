"""Import the legacy API key file (raw key -> {name, level, created, rate_limit}) as ``api_keys`` rows.

Only the SHA-256 hex digest of each key is stored. Error messages name a key by its record number and
digest prefix, never by the key.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, tzinfo
from typing import Any

from scops_tui.errors import InputFileError
from scops_tui.store.database import transaction
from scops_tui.transfer.importer import ImportReport, Progress, check_text, parse_time, show
from scops_tui.transfer.legacy_json import key_digest, load_json

__all__ = ["import_api_keys"]

_LEVELS = {"read": ["read"], "write": ["read", "write"], "admin": ["read", "write", "admin"]}
"""A legacy level grants itself and every lower level."""


def import_api_keys(
    conn: sqlite3.Connection,
    path: str | os.PathLike[str],
    *,
    created_by: bytes,
    timezone: tzinfo = UTC,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the legacy key file; only each key's SHA-256 digest is stored, never the key."""
    name = os.fspath(path)
    document = load_json(name, secret_keys=True)
    if not isinstance(document, dict):
        raise InputFileError(
            name, "", f"expected a JSON object from key to key details, found {type(document).__name__}"
        )
    if not document:
        raise InputFileError(name, "", "the object holds no keys")
    rows: list[tuple[Any, ...]] = []
    for index, (key, details) in enumerate(document.items(), start=1):
        digest = key_digest(key)
        where = f"record {index} (key sha256 {digest[:12]}...)"
        if not 16 <= len(key) <= 512 or not key.isprintable() or key != key.strip():
            raise InputFileError(
                name, where, "the key must be 16 to 512 printable characters without surrounding spaces"
            )
        if not isinstance(details, dict):
            raise InputFileError(name, where, f"expected an object of key details, found {type(details).__name__}")
        field = "name"
        try:
            key_name = check_text(details.get("name"), 1, 100)
            field = "level"
            level = details.get("level")
            if not isinstance(level, str) or level not in _LEVELS:
                raise ValueError(f"value {show(level)} is not one of read, write, admin")
            field = "created"
            created = details.get("created")
            if not isinstance(created, str):
                raise ValueError(f"value {show(created)} is not an ISO-8601 string")
            created_ms = parse_time(created, timezone, allow_epoch=False)
            field = "rate_limit"
            limit = details.get("rate_limit")
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit < 2**31):
                raise ValueError(f"value {show(limit)} is not a positive whole number of requests per hour")
            unknown = sorted(set(details) - {"name", "level", "created", "rate_limit"})
            if unknown:
                field = unknown[0]
                raise ValueError("not a key detail this import understands (name, level, created, rate_limit)")
        except ValueError as exc:
            raise InputFileError(name, f"{where}, field {field!r}", str(exc)) from None
        description = f"imported from {os.path.basename(name)} (legacy level {level})"
        rows.append(
            (key_name, digest, json.dumps(_LEVELS[level]), description, limit, created_ms, created_ms, created_by)
        )
    digests = [row[1] for row in rows]
    if len(set(digests)) != len(digests):
        raise InputFileError(name, "", "the same key appears twice")
    with transaction(conn):
        before = conn.total_changes
        conn.executemany(
            "INSERT INTO api_keys (key_name, key_hash, permissions, description, rate_limit_per_hour, created_at, "
            "updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING",
            rows,
        )
        added = conn.total_changes - before
        if progress:
            progress(len(rows))
    return ImportReport(name, "API keys", added, len(rows) - added)
