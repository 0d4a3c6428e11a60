"""The PostgreSQL side of sync: connecting (errors masked), applying the server schema, the roles of a host."""

from __future__ import annotations

import os
import re
import uuid
from typing import TYPE_CHECKING, Any

from scops_tui.errors import ConfigError, ScopsError
from scops_tui.store.migrations import load_migrations
from scops_tui.sync.target import SyncTarget

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_S = 5
APPLICATION_NAME = "scops-tui sync"

_VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

# Serializes concurrent `--init-server` runs against one database.
_INIT_LOCK = 0x5C0B5_0001


class SyncError(ScopsError):
    """The sync could not do its job; the message is one line with the password masked."""


class ServerUnreachable(SyncError):
    """The server could not be reached or the connection was lost (worth retrying later)."""

    exit_code = 3


class AuthenticationFailed(SyncError):
    """The server refused the login (wrong password, unknown or NOLOGIN role): a configuration error.

    Retrying with the same credentials cannot succeed, so `sync --watch` stops on it.
    """

    exit_code = 2


class DatabaseMissing(SyncError):
    """The server is up but the database the target names does not exist: create it, then init the server.

    Retrying cannot help, so it is a configuration error (exit 2) and `sync --watch` stops on it.
    """

    exit_code = 2


_MISSING_DATABASE = re.compile(r'database "(?P<name>[^"]*)" does not exist', re.IGNORECASE)


def _missing_database(exc: BaseException, target: SyncTarget) -> DatabaseMissing | None:
    """DatabaseMissing, with the `createdb` line that makes it, for a connection refused for that reason."""
    state = getattr(exc, "sqlstate", None) or ""
    found = _MISSING_DATABASE.search(one_line(exc, target))
    if found is None and state != "3D000":
        return None
    name = found["name"] if found else "DBNAME"
    return DatabaseMissing(
        f'database "{name}" does not exist on {target.display}; create it with `{createdb_command(target, name)}`, '
        "then run `scops-tui sync --init-server`"
    )


def createdb_command(target: SyncTarget, name: str) -> str:
    """The `createdb` command for database `name` on the target's server (host, port, user; never a password)."""
    import shlex

    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(target.conninfo) if target.conninfo else {}
    except Exception:  # only for a message
        params = {}
    parts = ["createdb"]
    for flag, key in (("-h", "host"), ("-p", "port"), ("-U", "user")):
        if params.get(key):
            parts += [flag, str(params[key])]
    return shlex.join([*parts, name])


# What libpq says when the server refuses a login (SQLSTATE class 28, which psycopg does not expose for
# a failed connection): a wrong password, an unknown role, a role without LOGIN, no pg_hba.conf entry.
_AUTH_FAILURES = re.compile(
    r'authentication failed for user "(?P<a>[^"]*)"'
    r'|role "(?P<b>[^"]*)" (?:does not exist|is not permitted to log in)'
    r'|no pg_hba\.conf entry for host "[^"]*", user "(?P<c>[^"]*)"'
    r"|fe_sendauth: no password supplied",
    re.IGNORECASE,
)


def _authentication_failure(exc: BaseException, target: SyncTarget) -> AuthenticationFailed | None:
    """AuthenticationFailed for a refused login (one line, masked), else None."""
    state = getattr(exc, "sqlstate", None) or ""
    text = one_line(exc, target)
    found = _AUTH_FAILURES.search(text)
    if found is None and not state.startswith("28"):
        return None
    user = (found and (found["a"] or found["b"] or found["c"])) or _conninfo_user(target)
    detail = text.split("FATAL:", 1)[-1].strip()
    return AuthenticationFailed(f'authentication failed for user "{user}" at {target.display}: {detail}')


def _conninfo_user(target: SyncTarget) -> str:
    """The user a connection string logs in as (libpq's default: PGUSER, else the OS user)."""
    import getpass

    from psycopg.conninfo import conninfo_to_dict

    try:
        user = conninfo_to_dict(target.conninfo).get("user")
    except Exception:  # only for a message
        user = None
    return str(user or os.environ.get("PGUSER") or getpass.getuser())


def one_line(exc: BaseException, target: SyncTarget) -> str:
    """A psycopg error as one masked line (libpq messages span lines and may echo the connection string)."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip()) or type(exc).__name__
    return target.mask(text)


def connect(target: SyncTarget, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """Open a connection to the target, or raise ServerUnreachable with one masked line."""
    import psycopg

    try:
        return psycopg.connect(
            target.conninfo,
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=APPLICATION_NAME,
        )
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"invalid sync target {target.display}: {one_line(exc, target)}") from None
    except psycopg.Error as exc:
        refused = _authentication_failure(exc, target)
        if refused is not None:
            raise refused from None
        missing = _missing_database(exc, target)
        if missing is not None:
            raise missing from None
        raise ServerUnreachable(f"cannot reach sync target {target.display}: {one_line(exc, target)}") from None


def server_version(conn: psycopg.Connection[Any]) -> int:
    """The scops-tui schema version of the server database: 0 when it has none."""
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(found[0]) if found else 0


def require_schema(conn: psycopg.Connection[Any], target: SyncTarget) -> None:
    """Refuse a server whose scops-tui schema is missing or at another version than this program's."""
    version = server_version(conn)
    latest = len(load_migrations("postgres"))
    if version == 0:
        raise SyncError(
            f"{target.display} has no scops-tui schema; its admin runs `scops-tui sync --init-server --url URL`"
        )
    if version < latest:
        raise SyncError(
            f"{target.display} is at server schema version {version}, this program needs {latest}; "
            "its admin runs `scops-tui sync --init-server --url URL`"
        )
    if version > latest:
        raise SyncError(f"{target.display} is at server schema version {version}, newer than this program knows")


def init_server(target: SyncTarget) -> tuple[list[str], int]:
    """Apply (or upgrade to) the server schema, one transaction per migration; return what ran and the version.

    Idempotent: migrations already recorded in the server's `schema_migrations` are skipped.
    """
    import psycopg

    migrations = load_migrations("postgres")
    conn = connect(target, autocommit=True)
    applied: list[str] = []
    try:
        conn.execute(_VERSIONS_TABLE)
        for migration in migrations:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INIT_LOCK,))
                done = {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}
                if max(done, default=0) > len(migrations):
                    raise SyncError(
                        f"{target.display} is at server schema version {max(done)}, newer than this program knows"
                    )
                if migration.version in done:
                    continue
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            applied.append(f"{migration.version:04d}_{migration.name}")
        conn.execute("GRANT SELECT ON schema_migrations TO scops_ingest, scops_reader")
        version = server_version(conn)
    except psycopg.Error as exc:
        raise SyncError(f"cannot apply the server schema on {target.display}: {one_line(exc, target)}") from None
    finally:
        conn.close()
    return applied, version


def host_role_name(database_id: uuid.UUID) -> str:
    """The login role of the host whose local database is `database_id`."""
    return f"scops_host_{database_id.hex[:12]}"


def host_role_sql(database_id: uuid.UUID) -> str:
    """SQL (for the server's admin) making the login role that may sync only this database's rows."""
    role = host_role_name(database_id)
    return "\n".join(
        [
            f"-- the ingest role of the host whose scops-tui database is {database_id}",
            f"CREATE ROLE {role} LOGIN IN ROLE scops_ingest;",
            f"INSERT INTO sync_host_roles (role_name, source_db) VALUES ('{role}', '{database_id}') "  # noqa: S608
            "ON CONFLICT DO NOTHING;",
            f"-- give it a password without echoing it (psql): \\password {role}",
            "-- a reader (dashboards, reports) sees every host's rows:",
            "-- CREATE ROLE scops_dashboard LOGIN IN ROLE scops_reader;",
        ]
    )
