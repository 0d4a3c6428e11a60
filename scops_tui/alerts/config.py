"""The `[alerts]` table of the config file: severity floor, cooldown, channels (apprise URLs, a command)."""

from __future__ import annotations

import hashlib
import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scops_tui.config import Paths, read_toml, resolve_paths
from scops_tui.errors import ConfigError

SEVERITIES = ("low", "medium", "high", "critical")
"""Severity bands in rising order (as anomaly_predictions.severity)."""

DEFAULT_MIN_SEVERITY = "medium"
DEFAULT_COOLDOWN_MINUTES = 15.0
MAX_COOLDOWN_MINUTES = 7 * 24 * 60.0
"""Longest cooldown: one week."""

_KEYS = ("min_severity", "cooldown_minutes", "urls", "command")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
MASK = "***"


@dataclass(frozen=True)
class Channel:
    """One place alerts go: an apprise URL or the local command."""

    kind: str
    """`url` (delivered by apprise) or `command` (run with the alert as JSON on stdin)."""
    target: str
    """The URL or command line itself: may hold a token, never printed."""

    @property
    def id(self) -> str:
        """A stable name for the channel's delivery records: a hash, so the database holds no token."""
        return hashlib.sha256(f"{self.kind}:{self.target}".encode()).hexdigest()[:16]

    @property
    def display(self) -> str:
        """The channel as it may be printed: URLs masked, a command shown by its program only."""
        if self.kind == "command":
            words = shlex.split(self.target)
            program = words[0] if words else self.target
            return f"command {program}" + (f" {MASK}" if len(words) > 1 else "")
        return mask_url(self.target)


@dataclass(frozen=True)
class AlertSettings:
    """The effective `[alerts]` settings."""

    min_severity: str = DEFAULT_MIN_SEVERITY
    """Episodes at or above this severity are alerted (low, medium, high or critical)."""
    cooldown_minutes: float = DEFAULT_COOLDOWN_MINUTES
    """Further episodes on the same metrics within this many minutes of an alert are grouped into one follow-up."""
    urls: tuple[str, ...] = ()
    """apprise URLs (json://, ntfy://, slack://, mailto:// ...); they may hold tokens."""
    command: str | None = None
    """A local command run with the alert as JSON on stdin (split like a shell, run without one)."""

    @property
    def channels(self) -> tuple[Channel, ...]:
        """Every channel: each URL, then the command."""
        found = tuple(Channel("url", url) for url in self.urls)
        return found + ((Channel("command", self.command),) if self.command else ())

    @property
    def enabled(self) -> bool:
        """True when at least one channel is configured."""
        return bool(self.channels)

    @property
    def cooldown_ms(self) -> int:
        """The cooldown in milliseconds."""
        return round(self.cooldown_minutes * 60_000)

    def reaches(self, severity: str | None) -> bool:
        """True when `severity` is at or above `min_severity`."""
        return severity in SEVERITIES and SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)

    def describe(self) -> dict[str, Any]:
        """The settings as `config` prints them: channels masked."""
        return {
            "min_severity": self.min_severity,
            "cooldown_minutes": self.cooldown_minutes,
            "channels": [channel.display for channel in self.channels],
        }


def mask_url(url: str) -> str:
    """An apprise URL with everything that can hold a secret replaced by ***.

    Only the scheme and a host that looks like one (a dotted name or address, localhost) and its port
    stay: user and password, path segments (Slack, Discord and Telegram put tokens there; an ntfy topic
    is itself a secret), query and fragment are masked.
    """
    match = _SCHEME.match(url)
    if match is None:
        return MASK
    scheme, rest = match.group(0), url[match.end() :]
    authority, slash, tail = rest.partition("/")
    authority, hash_mark, _fragment = authority.partition("#")
    authority, question, _query = authority.partition("?")
    _user, at, host = authority.rpartition("@")
    shown = scheme + (f"{MASK}@" if at else "")
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    plain_host = bool(hostname) and ("." in hostname or hostname == "localhost" or hostname.startswith("["))
    shown += host if plain_host else (MASK if host else "")
    if slash and (tail or not plain_host):
        shown += "/" + (MASK if tail.strip("/") else "")
    if question or hash_mark:
        shown += "?" + MASK
    return shown


def _severity(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in SEVERITIES:
        raise ValueError("must be low, medium, high or critical")
    return value.strip().lower()


def _cooldown(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number of minutes")
    number = float(value)
    if not math.isfinite(number) or not 0 <= number <= MAX_COOLDOWN_MINUTES:
        raise ValueError(f"must be a number of minutes from 0 to {MAX_COOLDOWN_MINUTES:g}")
    return number


def _urls(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("expected a list of apprise URLs")
    found = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, str) or not _SCHEME.match(item.strip()):
            raise ValueError(f"entry {index} is not a URL of the form scheme://... (see the apprise URL list)")
        if any(ch.isspace() for ch in item.strip()):
            raise ValueError(f"entry {index} holds white space")
        found.append(item.strip())
    if len(set(found)) != len(found):
        raise ValueError("lists the same URL twice")
    return tuple(found)


def _command(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("expected a command line (text)")
    text = value.strip()
    if not text:
        return None
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot be split into words: {exc}") from None
    if not words:
        return None
    return text


_CONVERTERS = {"min_severity": _severity, "cooldown_minutes": _cooldown, "urls": _urls, "command": _command}


def _masked(name: str, raw: Any) -> str:
    if name == "urls":
        return "[...]"
    if name == "command":
        return "'...'"
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_alerts(table: Any, path: Path) -> AlertSettings:
    """The `[alerts]` table of the config file at `path` as settings; ConfigError naming the field."""
    if table is None:
        return AlertSettings()
    if not isinstance(table, Mapping):
        raise ConfigError(f"config file {path}: alerts must be a table ([alerts])")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(f"config file {path}: [alerts] unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")
    values: dict[str, Any] = {}
    for name, raw in table.items():
        try:
            values[name] = _CONVERTERS[name](raw)
        except ValueError as exc:
            raise ConfigError(f"config file {path}: [alerts] {name} = {_masked(name, raw)}: {exc}") from None
    return AlertSettings(**values)


def holds_channels(data: Mapping[str, Any]) -> bool:
    """True when a parsed config file names alert channels (URLs or a command): it must then be mode 0600."""
    table = data.get("alerts")
    return isinstance(table, Mapping) and bool(table.get("urls") or table.get("command"))


def load_alert_settings(paths: Paths | None = None) -> AlertSettings:
    """The `[alerts]` settings of the config file (defaults, with no channel, when it has none)."""
    where = paths or resolve_paths()
    return parse_alerts(read_toml(where.config_file).get("alerts"), where.config_file)
