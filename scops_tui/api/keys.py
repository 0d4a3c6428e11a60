"""API keys: made once and shown once, stored only as a SHA-256 hash, listed, revoked and verified.

Plain SQLite, no HTTP: the CLI (`scops-tui keys`) and the server share these functions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from scops_tui.api.users import ROLE_CEILING, UserError
from scops_tui.errors import ScopsError
from scops_tui.store.database import transaction, user_id
from scops_tui.store.timestamps import iso, now_ms

KEY_PREFIX = "scops_"
"""Every key made here starts so, which makes a leaked key recognisable (secret scanners, logs)."""
KEY_RANDOM_BYTES = 32
"""Random bytes after the prefix (URL-safe base64, 43 characters)."""
PERMISSIONS = ("read", "write", "admin")
"""Permission levels, each including the ones before it (admin ⊃ write ⊃ read)."""
DEFAULT_RATE_LIMIT = 1000
"""Requests per hour of a new key unless `--rate-limit` says otherwise."""
MAX_RATE_LIMIT = 2**31 - 1


class ApiKeyError(ScopsError):
    """A key does not exist or cannot be made as asked."""


def new_secret() -> str:
    """A fresh key: the prefix, then 32 bytes from the system's CSPRNG, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)


def hash_key(secret: str) -> str:
    """The SHA-256 hex digest stored for a key (the same as `import api-keys` stores)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def granted(permission: str) -> list[str]:
    """The permissions a level grants: itself and every lower one."""
    return list(PERMISSIONS[: PERMISSIONS.index(permission) + 1])


def level_of(permissions: str | list[Any]) -> str:
    """The highest level in a stored permissions array (`["read", "write"]` is write); "none" if empty."""
    values = json.loads(permissions) if isinstance(permissions, str) else permissions
    held = [p for p in PERMISSIONS if p in values]
    return held[-1] if held else "none"


def allows(level: str, needed: str) -> bool:
    """Whether a key of `level` may call an endpoint needing `needed`."""
    return level in PERMISSIONS and PERMISSIONS.index(level) >= PERMISSIONS.index(needed)


@dataclass(frozen=True)
class ApiKey:
    """A key's metadata, never the key."""

    id: int
    name: str
    permission: str
    username: str | None
    user_active: bool
    created_at: int
    expires_at: int | None
    last_used_at: int | None
    usage_count: int
    rate_limit_per_hour: int | None
    is_active: bool

    def status(self, at_ms: int) -> str:
        """active, revoked, expired or `user disabled`."""
        if not self.is_active:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= at_ms:
            return "expired"
        if not self.user_active:
            return "user disabled"
        return "active"

    def as_json(self, at_ms: int) -> dict[str, Any]:
        """The object printed by `keys list --json`."""
        status = self.status(at_ms)
        return {
            "id": self.id,
            "name": self.name,
            "permission": self.permission,
            "user": self.username,
            "created_at": iso(self.created_at),
            "expires_at": None if self.expires_at is None else iso(self.expires_at),
            "last_used_at": None if self.last_used_at is None else iso(self.last_used_at),
            "usage_count": self.usage_count,
            "rate_limit_per_hour": self.rate_limit_per_hour,
            "active": status == "active",
            "status": status,
        }


@dataclass(frozen=True)
class NewKey:
    """A key just made: `secret` is shown once and exists nowhere else."""

    key: ApiKey
    secret: str


_SELECT_KEYS = """
SELECT k.id, k.key_name, k.permissions, u.username, coalesce(u.is_active, 1), k.created_at, k.expires_at,
       k.last_used_at, k.usage_count, k.rate_limit_per_hour, k.is_active
FROM api_keys AS k LEFT JOIN users AS u ON u.id = k.user_id
"""


def _key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        id=int(row[0]),
        name=row[1],
        permission=level_of(row[2]),
        username=row[3],
        user_active=bool(row[4]),
        created_at=int(row[5]),
        expires_at=None if row[6] is None else int(row[6]),
        last_used_at=None if row[7] is None else int(row[7]),
        usage_count=int(row[8]),
        rate_limit_per_hour=None if row[9] is None else int(row[9]),
        is_active=bool(row[10]),
    )


def list_keys(conn: sqlite3.Connection) -> list[ApiKey]:
    """Every key's metadata, by id."""
    return [_key(row) for row in conn.execute(_SELECT_KEYS + " ORDER BY k.id")]


def get_key(conn: sqlite3.Connection, key_id: int) -> ApiKey:
    """One key's metadata by id; ApiKeyError when there is none."""
    row = conn.execute(_SELECT_KEYS + " WHERE k.id = ?", (key_id,)).fetchone() if key_id < 2**63 else None
    if row is None:
        raise ApiKeyError(f"no API key with id {key_id}")
    return _key(row)


def create_key(
    conn: sqlite3.Connection,
    name: str,
    *,
    username: str,
    created_by: str,
    permission: str = "read",
    expires_days: float | None = None,
    rate_limit: int | None = DEFAULT_RATE_LIMIT,
    description: str | None = None,
) -> NewKey:
    """Make a key for `username`; only its hash is stored. `rate_limit` None: no hourly limit."""
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise ApiKeyError(f"key name {name!r}: must be 1 to 100 printable characters")
    if permission not in PERMISSIONS:
        raise ApiKeyError(f"permission {permission!r}: must be one of {', '.join(PERMISSIONS)}")
    if rate_limit is not None and not 1 <= rate_limit <= MAX_RATE_LIMIT:
        raise ApiKeyError(f"rate limit {rate_limit}: must be 1 to {MAX_RATE_LIMIT} requests per hour")
    created = now_ms()
    expires = None if expires_days is None else created + round(expires_days * 86_400_000)
    secret = new_secret()
    with transaction(conn):
        row = conn.execute("SELECT id, role, is_active FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise UserError(f"no user named {username!r} (add one with `scops-tui users add`)")
        owner, role, active = bytes(row[0]), row[1], bool(row[2])
        if not active:
            raise UserError(f"user {username!r} is disabled; a key for it would not work")
        if not allows(ROLE_CEILING[role], permission):
            raise ApiKeyError(
                f"user {username!r} has role {role}, which allows keys up to {ROLE_CEILING[role]}, not {permission}"
            )
        cursor = conn.execute(
            "INSERT INTO api_keys (key_name, key_hash, permissions, user_id, description, expires_at, "
            "rate_limit_per_hour, created_at, updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                hash_key(secret),
                json.dumps(granted(permission)),
                owner,
                description,
                expires,
                rate_limit,
                created,
                created,
                user_id(conn, created_by),
            ),
        )
        key_id = int(cursor.lastrowid or 0)
    return NewKey(key=get_key(conn, key_id), secret=secret)


def revoke_key(conn: sqlite3.Connection, key_id: int) -> tuple[ApiKey, bool]:
    """Revoke a key for good; return it and whether it was active until now."""
    with transaction(conn):
        key = get_key(conn, key_id)
        if key.is_active:
            conn.execute("UPDATE api_keys SET is_active = 0 WHERE id = ?", (key_id,))
    return get_key(conn, key_id), key.is_active


@dataclass(frozen=True)
class Credential:
    """What a presented key turned out to be: its row, and why it is refused (None: it may be used)."""

    key_id: int
    permission: str
    """The level it may use now: its own, capped by its user's role."""
    rate_limit_per_hour: int | None
    refused: str | None


def verify_key(conn: sqlite3.Connection, secret: str, at_ms: int) -> Credential | None:
    """Look a presented key up by its hash; None when no key has that hash.

    The lookup goes through the unique index on the hash (learning which hashes exist needs the key's
    preimage), and the stored hash is then compared with `hmac.compare_digest`, in constant time.
    """
    digest = hash_key(secret)
    row = conn.execute(
        "SELECT k.id, k.key_hash, k.permissions, k.rate_limit_per_hour, k.is_active, k.expires_at, "
        "u.is_active, u.role FROM api_keys AS k LEFT JOIN users AS u ON u.id = k.user_id WHERE k.key_hash = ?",
        (digest,),
    ).fetchone()
    if row is None or not hmac.compare_digest(str(row[1]), digest):
        return None
    key_id, _, permissions, limit, active, expires, user_active, role = row
    level = level_of(permissions)
    if role is not None and not allows(ROLE_CEILING.get(role, "read"), level):
        level = ROLE_CEILING.get(role, "read")
    refused = None
    if not active:
        refused = "the API key has been revoked"
    elif expires is not None and expires <= at_ms:
        refused = "the API key has expired"
    elif user_active is not None and not user_active:
        refused = "the API key's user is disabled"
    return Credential(int(key_id), level, None if limit is None else int(limit), refused)
