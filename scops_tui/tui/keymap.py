"""The user's key remapping: a `[keys]` table of binding id = key (or "key1,key2") in a TOML file."""

from __future__ import annotations

from pathlib import Path

from scops_tui.config import read_toml
from scops_tui.errors import ConfigError


def parse_keymap(data: dict[str, object], origin: str = "keymap") -> dict[str, str]:
    """The `[keys]` table of parsed TOML, checked: every value a non-empty string."""
    table = data.get("keys", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: [keys] must be a table of binding id = key")
    keymap: dict[str, str] = {}
    for binding_id, key in table.items():
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f'{origin}: keys.{binding_id} must be a key name such as "x" or "ctrl+x"')
        keymap[str(binding_id)] = key.strip()
    return keymap


def load_keymap(path: Path) -> dict[str, str]:
    """Read the `[keys]` table of a TOML file (the config file); a missing file means no remapping."""
    return parse_keymap(read_toml(path), str(path))
