"""Errors that end a command with one clear line for the user instead of a traceback."""

from __future__ import annotations


class ScopsError(Exception):
    """A problem the user can act on; its message is shown as one line, and the exit status is non-zero."""

    exit_code = 1


class ConfigError(ScopsError):
    """A setting has a value that cannot be used (wrong type, out of range, unreadable file)."""

    exit_code = 2


class DatabaseError(ScopsError):
    """The database file cannot be used: missing, not SQLite, corrupt, locked, full or too new."""


class InputFileError(ScopsError):
    """An input file (CSV, JSON) is malformed; the message names the file, line or record, and field."""

    exit_code = 2

    def __init__(self, path: str, where: str, problem: str) -> None:
        self.path = path
        self.where = where
        self.problem = problem
        location = f"{path}: {where}" if where else path
        super().__init__(f"{location}: {problem}")
