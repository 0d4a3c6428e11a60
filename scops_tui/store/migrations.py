"""Numbered SQL migrations shipped with the package: find them, apply them in order, record them."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from scops_tui.errors import DatabaseError
from scops_tui.store.timestamps import now_ms

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT
"""


@dataclass(frozen=True)
class Migration:
    """One numbered schema step."""

    version: int
    name: str
    sql: str


def schema_dir(dialect: str) -> Path:
    """The directory of `dialect`'s migrations: inside the installed package, or the source checkout's."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "schema" / dialect, here.parents[2] / "schema" / dialect):
        if candidate.is_dir():
            return candidate
    raise DatabaseError(f"the {dialect} schema files are missing from this installation ({here.parents[1]})")


def load_migrations(dialect: str = "sqlite") -> list[Migration]:
    """All migrations of `dialect`, in version order, checked to be numbered 1, 2, 3 ... without gaps."""
    found = []
    for path in schema_dir(dialect).iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise DatabaseError(f"the {dialect} migrations are not numbered 1..N: {[m.version for m in found]}")
    return found


def latest_version(dialect: str = "sqlite") -> int:
    """The newest schema version this program knows."""
    return len(load_migrations(dialect))


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database: 0 for an empty file."""
    # One statement, one snapshot: another connection may commit the first migration between two reads.
    has_table, other = conn.execute(
        "SELECT coalesce(sum(type = 'table' AND name = 'schema_migrations'), 0), "
        "coalesce(sum(name NOT LIKE 'sqlite_%'), 0) FROM sqlite_master"
    ).fetchone()
    if not has_table:
        if other:
            raise DatabaseError("the file is an SQLite database but not a scops-tui one (no schema_migrations table)")
        return 0
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def apply_migrations(conn: sqlite3.Connection, target: int | None = None) -> list[Migration]:
    """Bring the database up to `target` (default: the latest), one transaction per migration.

    A migration that fails is rolled back whole, so the file stays at the last version that succeeded.
    """
    migrations = load_migrations("sqlite")
    goal = len(migrations) if target is None else target
    version = current_version(conn)
    if version > len(migrations):
        raise DatabaseError(
            f"the database is at schema version {version}, "
            f"newer than this program knows ({len(migrations)}); "
            "upgrade scops-tui"
        )
    applied = []
    for migration in migrations[version:goal]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another connection (another thread or process opening the same new file) may have applied
            # this step since the version was read: read it again under the write lock.
            if current_version(conn) >= migration.version:
                conn.execute("COMMIT")
                continue
            conn.execute(VERSIONS_TABLE)
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, now_ms()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(migration)
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration into complete statements (triggers keep their inner semicolons)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--") and not current.strip():
            continue
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
