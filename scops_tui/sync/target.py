"""The PostgreSQL sync target: where its connection string comes from, and how it is shown (password masked)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scops_tui.errors import ConfigError

MASK = "***"

# libpq variables that make an empty connection string meaningful (libpq reads them itself).
_LIBPQ_ENV = ("PGSERVICE", "PGSERVICEFILE", "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER")

_URI_PASSWORD = re.compile(r"(?P<head>postgres(?:ql)?://[^:/@\s]*:)(?P<secret>[^@\s]*)(?P<tail>@)", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s'&]+)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<secret>[^&\s]*)", re.IGNORECASE)


def mask_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with every password (in a URI, `password=` keyword or a known secret) replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, MASK)
    text = _URI_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", text)
    text = _QUERY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


class SecretUrl(str):
    """A connection string that prints masked: its text is the masked form, `.secret` the real one.

    Anything that formats settings (`scops-tui config`, its JSON, a repr in a log) shows the masked text;
    only the sync reads `.secret`.
    """

    secret: str

    def __new__(cls, value: str) -> SecretUrl:
        real = getattr(value, "secret", value)
        made = super().__new__(cls, mask_text(real))
        made.secret = real
        return made


def secret_url(value: Any) -> SecretUrl | None:
    """Setting converter for `pg_url`: empty means unset."""
    text = getattr(value, "secret", None) or str(value).strip()
    return SecretUrl(text) if text else None


def reveal(url: str | None) -> str:
    """The real connection string behind a SecretUrl (or plain text)."""
    if url is None:
        return ""
    return str(getattr(url, "secret", url))


@dataclass(frozen=True)
class SyncTarget:
    """Where the sync connects: the connection string (never shown) and how to name it (masked)."""

    conninfo: str
    display: str
    origin: str

    def mask(self, text: str) -> str:
        """`text` (an error message, say) with this target's password masked."""
        return mask_text(text, _passwords(self.conninfo))


def _passwords(conninfo: str) -> tuple[str, ...]:
    """The password in `conninfo`, decoded and raw, so that messages echoing either are masked."""
    from urllib.parse import unquote

    found: list[str] = []
    for pattern in (_URI_PASSWORD, _KEYWORD_PASSWORD, _QUERY_PASSWORD):
        for match in pattern.finditer(conninfo):
            raw = match["secret"].strip("'")
            found.extend([raw, unquote(raw)])
    return tuple(found)


def resolve_target(url: str | None, origin: str = "flag", environ: Mapping[str, str] | None = None) -> SyncTarget:
    """The target from `url` (flag, SCOPS_PG_URL or config file), or libpq's own environment and files.

    An empty `url` is accepted when PGSERVICE, PGHOST or another libpq variable says where to go (libpq
    also reads ~/.pg_service.conf and ~/.pgpass by itself); otherwise it is a configuration error.
    """
    env = os.environ if environ is None else environ
    conninfo = reveal(url).strip()
    if conninfo:
        return SyncTarget(conninfo=conninfo, display=mask_text(conninfo), origin=origin)
    present = [name for name in _LIBPQ_ENV if env.get(name)]
    if not present:
        raise ConfigError(
            "no sync target: pass --url, set SCOPS_PG_URL or pg_url in the config file (mode 0600), "
            "or PGSERVICE/PGHOST for libpq"
        )
    described = ", ".join(f"{name}={env[name]}" for name in present)
    return SyncTarget(conninfo="", display=f"libpq defaults ({described})", origin="libpq environment")


def target_for(settings: Any) -> SyncTarget:
    """The target of effective settings (`pg_url` from flag, environment or config; else libpq's environment).

    The TUI's Sync screen and the CLI use this; raises ConfigError when nothing names a target.
    """
    origins = getattr(settings, "origins", {}) or {}
    return resolve_target(settings.pg_url, str(origins.get("pg_url", "default")))
