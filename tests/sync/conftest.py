"""The sync tests' PostgreSQL fixtures (`tests.pg`), bound once for the folder."""

from tests.pg import pg_server, pg_url

__all__ = ["pg_server", "pg_url"]
