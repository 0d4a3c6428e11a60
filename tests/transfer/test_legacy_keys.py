"""The legacy API key file: only hashes stored, and a bad record never shows its key."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scops_tui.errors import InputFileError
from scops_tui.transfer import legacy_keys
from tests.conftest import data_file
from tests.transfer.helpers import system_user


def test_api_keys_store_only_hashes(conn: sqlite3.Connection, db_path: Path) -> None:
    path = data_file("legacy", "api_keys_db.json")
    keys: dict[str, dict[str, object]] = json.loads(path.read_text())
    report = legacy_keys.import_api_keys(conn, path, created_by=system_user(conn))
    assert report.added == 3
    rows = {
        row[0]: row[1:]
        for row in conn.execute("SELECT key_hash, key_name, permissions, rate_limit_per_hour, created_at FROM api_keys")
    }
    assert len(rows) == 3
    for key, details in keys.items():
        name, permissions, limit, created = rows[hashlib.sha256(key.encode()).hexdigest()]
        assert name == details["name"]
        assert json.loads(permissions)[-1] == details["level"]
        assert limit == details["rate_limit"]
        assert created == int(datetime.fromisoformat(str(details["created"])).replace(tzinfo=UTC).timestamp() * 1000)
    assert legacy_keys.import_api_keys(conn, path, created_by=system_user(conn)).present == 3
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith(db_path.name))
    for key in keys:
        for form in (key.encode(), key.upper().encode(), bytes.fromhex(key), key.encode("utf-16-le")):
            assert form not in stored


def test_bad_api_key_record_never_shows_the_key(conn: sqlite3.Connection, tmp_path: Path) -> None:
    secret = "f" * 64
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({secret: {"name": "x", "level": "root", "created": "2025-01-01T00:00:00"}}))
    with pytest.raises(InputFileError) as caught:
        legacy_keys.import_api_keys(conn, path, created_by=system_user(conn))
    assert "record 1" in str(caught.value) and "field 'level'" in str(caught.value)
    assert secret not in str(caught.value)
