"""Settings and file locations: defaults < TOML config file < environment (SCOPS_*) < command-line flags."""

from __future__ import annotations

import math
import os
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from scops_tui.errors import ConfigError
from scops_tui.sync.target import secret_url

APP_NAME = "scops-tui"


@dataclass(frozen=True)
class Paths:
    """Where scops-tui keeps its files; `SCOPS_HOME` moves all of them under one directory."""

    home: Path | None
    """The `SCOPS_HOME` directory, or None when platformdirs decides."""
    config_dir: Path
    data_dir: Path
    config_file: Path
    """The TOML settings file (`SCOPS_CONFIG` overrides its location)."""
    default_db: Path
    backup_dir: Path


def resolve_paths(environ: Mapping[str, str] | None = None) -> Paths:
    """Compute every path from the environment, without creating anything."""
    env = os.environ if environ is None else environ
    home_text = env.get("SCOPS_HOME")
    if home_text:
        home: Path | None = Path(home_text).expanduser()
        assert home is not None
        config_dir = data_dir = home
    else:
        import platformdirs

        home = None
        config_dir = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
        data_dir = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    config_file = Path(env["SCOPS_CONFIG"]).expanduser() if env.get("SCOPS_CONFIG") else config_dir / "config.toml"
    return Paths(
        home=home,
        config_dir=config_dir,
        data_dir=data_dir,
        config_file=config_file,
        default_db=data_dir / "scops.db",
        backup_dir=data_dir / "backups",
    )


MAX_INTERVAL_SECONDS = 86_400.0
"""Longest `interval` and `flush_interval`: one day."""
MAX_BUSY_TIMEOUT_MS = 86_400_000
"""Longest `busy_timeout_ms`: one day (SQLite keeps it in a 32-bit int)."""
MAX_DAYS = 36_500.0
"""Longest `retention_days` (and `db prune --older-than`): 100 years, so every cut-off is a real date."""
MAX_SOURCE_CHARS = 100
"""Longest source name, as the schema stores it."""


def _show(value: Any) -> str:
    """A short printable form of a raw setting value (lone surrogates escaped, at most 60 characters)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return f"a {len(str(abs(value)))}-digit number"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bounded_float(minimum: float, maximum: float, *, above: bool = False) -> Callable[[Any], float]:
    """A converter to a finite float in [minimum, maximum] (or (minimum, maximum] when `above`)."""
    low = "above" if above else "at least"

    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("expected a number")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        except ValueError:
            raise ValueError("expected a number") from None
        too_low = number <= minimum if above else number < minimum
        if not math.isfinite(number) or too_low or number > maximum:
            raise ValueError(f"must be a finite number {low} {minimum:g} and at most {maximum:g}")
        return number

    return convert


def _optional_days(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    return _bounded_float(0.001, MAX_DAYS)(value)


def _bounded_int(minimum: int, maximum: int) -> Callable[[Any], int]:
    """A converter to a whole number in [minimum, maximum]."""

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("expected a whole number")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("expected a whole number")
        if isinstance(value, str):
            text = value.strip()
            if not text.lstrip("+-").isdigit() or not text.isascii():
                raise ValueError("expected a whole number")
            if len(text) > 30:
                raise ValueError(f"must be a whole number from {minimum} to {maximum}")
            value = text
        number = int(value)
        if not minimum <= number <= maximum:
            raise ValueError(f"must be a whole number from {minimum} to {maximum}")
        return number

    return convert


def check_text(value: str) -> str:
    """`value` if it is valid Unicode text; ValueError when it holds a lone surrogate (such as a non-UTF-8
    byte of a command-line argument), which SQLite, files and terminals cannot take."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"holds {value[exc.start]!r} at character {exc.start + 1}, which is not valid Unicode text"
        ) from None
    return value


def source_name(value: Any) -> str:
    """A source name: 1 to 100 characters of valid Unicode text, surrounding spaces removed."""
    text = check_text(str(value)).strip()
    if not 1 <= len(text) <= MAX_SOURCE_CHARS:
        raise ValueError(f"must be 1 to {MAX_SOURCE_CHARS} characters")
    return text


def _path(value: Any) -> Path:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        raise ValueError("is not a file name this system can use (it holds a lone surrogate)") from None
    return Path(text).expanduser()


@dataclass(frozen=True)
class Settings:
    """Every effective setting of scops-tui."""

    db: Path
    """The SQLite database file (`--db`, `SCOPS_DB`, `db`)."""
    source: str
    """The name this host's samples are recorded under (default: the host name)."""
    interval: float = 5.0
    """Seconds between persisted samples; at least 1."""
    flush_interval: float = 10.0
    """Seconds of samples buffered before one transaction writes them; a crash loses at most this much."""
    busy_timeout_ms: int = 5000
    """How long a command waits for a database locked by another process before giving up."""
    retention_days: float | None = None
    """Default age in days for pruning raw history (None: keep everything)."""
    pg_url: str | None = None
    """PostgreSQL sync target (`--url`, `SCOPS_PG_URL`, `pg_url`); in the config file only while it is mode 0600."""
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    """For each setting, where its value came from: default, config file, environment or flag."""


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "db": _path,
    "source": source_name,
    "interval": _bounded_float(1.0, MAX_INTERVAL_SECONDS),
    "flush_interval": _bounded_float(0.0, MAX_INTERVAL_SECONDS),
    "busy_timeout_ms": _bounded_int(0, MAX_BUSY_TIMEOUT_MS),
    "retention_days": _optional_days,
    "pg_url": secret_url,
}


_TABLES = ("keys", "tui")
"""TOML tables of the config file read elsewhere: `[keys]` (binding id = key) and `[tui]` by the terminal app."""


def setting_names() -> list[str]:
    """The names of all settings, in declaration order."""
    return [f.name for f in fields(Settings) if f.name != "origins"]


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file is empty, an unreadable or malformed one is a ConfigError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of the TOML config file (its tables, such as `[keys]`, are read by their users)."""
    data = read_toml(path)
    unknown = sorted(set(data) - set(_CONVERTERS) - set(_TABLES))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r} (known: {', '.join(_CONVERTERS)})")
    return {name: value for name, value in data.items() if name not in _TABLES}


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    paths: Paths | None = None,
) -> Settings:
    """Merge defaults, the config file, `SCOPS_*` variables and `overrides` (command-line flags)."""
    env = os.environ if environ is None else environ
    where = paths or resolve_paths(env)
    values: dict[str, Any] = {
        "db": where.default_db,
        "source": socket.gethostname() or "localhost",
        "interval": 5.0,
        "flush_interval": 10.0,
        "busy_timeout_ms": 5000,
        "retention_days": None,
        "pg_url": None,
    }
    origins = dict.fromkeys(values, "default")
    file_values = read_config_file(where.config_file)
    if "pg_url" in file_values:
        _refuse_shared_secret_file(where.config_file)
    layers: list[tuple[str, Mapping[str, Any]]] = [(f"config file {where.config_file}", file_values)]
    layers.append(
        (
            "environment",
            {name: env[f"SCOPS_{name.upper()}"] for name in values if f"SCOPS_{name.upper()}" in env},
        )
    )
    layers.append(("flag", {k: v for k, v in (overrides or {}).items() if v is not None}))
    for origin, layer in layers:
        for name, raw in layer.items():
            try:
                values[name] = _CONVERTERS[name](raw)
            except (TypeError, ValueError, OverflowError) as exc:
                label = f"SCOPS_{name.upper()}" if origin == "environment" else name
                raise ConfigError(f"{origin}: {label} = {_show(raw)}: {exc}") from exc
            origins[name] = origin
    return Settings(**values, origins=origins)


def _refuse_shared_secret_file(path: Path) -> None:
    """A config file holding a connection string (maybe a password) must not be readable by others."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(
            f"config file {path} holds pg_url but is readable by group or others (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )
