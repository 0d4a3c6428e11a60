"""The `users` table made usable: list, add, disable and enable accounts (plain SQLite, no HTTP)."""

from __future__ import annotations

import socket
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from scops_tui.errors import ScopsError
from scops_tui.store.database import transaction
from scops_tui.store.timestamps import iso

ROLES = ("admin", "operator", "viewer")
"""Account roles, most powerful first."""

ROLE_CEILING = {"admin": "admin", "operator": "write", "viewer": "read"}
"""The highest key permission a user of each role can hold (and use)."""


class UserError(ScopsError):
    """A user does not exist, already exists, or cannot take the requested change."""


@dataclass(frozen=True)
class User:
    """One account."""

    username: str
    email: str
    role: str
    is_active: bool
    created_at: int
    last_login_at: int | None
    active_keys: int

    def as_json(self) -> dict[str, Any]:
        """The object printed by `users list --json`."""
        return {
            "username": self.username,
            "email": self.email,
            "role": self.role,
            "active": self.is_active,
            "created_at": iso(self.created_at),
            "last_login_at": None if self.last_login_at is None else iso(self.last_login_at),
            "active_keys": self.active_keys,
        }


_SELECT_USERS = """
SELECT u.username, u.email, u.role, u.is_active, u.created_at, u.last_login_at,
       (SELECT count(*) FROM api_keys AS k WHERE k.user_id = u.id AND k.is_active = 1)
FROM users AS u
"""


def _user(row: tuple[Any, ...]) -> User:
    return User(
        username=row[0],
        email=row[1],
        role=row[2],
        is_active=bool(row[3]),
        created_at=int(row[4]),
        last_login_at=None if row[5] is None else int(row[5]),
        active_keys=int(row[6]),
    )


def list_users(conn: sqlite3.Connection) -> list[User]:
    """Every account, oldest first."""
    return [_user(row) for row in conn.execute(_SELECT_USERS + " ORDER BY u.created_at, u.username")]


def get_user(conn: sqlite3.Connection, username: str) -> User:
    """One account by name; UserError when there is none."""
    row = conn.execute(_SELECT_USERS + " WHERE u.username = ?", (username,)).fetchone()
    if row is None:
        raise UserError(f"no user named {username!r}")
    return _user(row)


def check_username(username: str) -> str:
    """A user name: 1 to 100 printable characters without surrounding spaces."""
    if not 1 <= len(username) <= 100 or not username.isprintable() or username != username.strip():
        raise UserError(f"user name {username!r}: must be 1 to 100 printable characters without surrounding spaces")
    return username


def add_user(conn: sqlite3.Connection, username: str, *, role: str = "viewer", email: str | None = None) -> User:
    """Create an account; its email defaults to NAME@hostname, like the two seeded accounts."""
    check_username(username)
    if role not in ROLES:
        raise UserError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    address = email if email is not None else f"{username}@{socket.gethostname() or 'localhost'}"
    if not 3 <= len(address) <= 255 or "@" not in address or not address.isprintable():
        raise UserError(f"email {address!r}: must be 3 to 255 printable characters with an @")
    with transaction(conn):
        if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            raise UserError(f"a user named {username!r} exists already")
        if conn.execute("SELECT 1 FROM users WHERE email = ?", (address,)).fetchone():
            raise UserError(f"the email {address!r} belongs to another user")
        conn.execute(
            "INSERT INTO users (id, username, email, role) VALUES (?, ?, ?, ?)",
            (uuid.uuid4().bytes, username, address, role),
        )
    return get_user(conn, username)


def set_active(conn: sqlite3.Connection, username: str, active: bool) -> tuple[User, bool]:
    """Disable or enable an account; return it and whether anything changed. A disabled user's keys stop working."""
    with transaction(conn):
        row = conn.execute("SELECT is_active FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise UserError(f"no user named {username!r}")
        changed = bool(row[0]) != active
        if changed:
            conn.execute("UPDATE users SET is_active = ? WHERE username = ?", (int(active), username))
    return get_user(conn, username), changed
