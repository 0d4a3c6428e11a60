"""The user's key remapping: a `[keys]` table of binding id = key (or "key1,key2") in a TOML file, checked.

Checked at start: every id must name a binding of the app, every key must be one Textual can deliver, and
a remapped key must not take a key another binding of the same screen already answers to (remapping
`anomalies.acknowledge` to `enter` would make `enter` stop opening the detail).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from pathlib import Path

from scops_tui.config import read_toml
from scops_tui.errors import ConfigError

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
NAMED_KEYS = frozenset(
    {
        "enter", "escape", "tab", "space", "backspace", "delete", "insert", "home", "end", "pageup",
        "pagedown", "up", "down", "left", "right", *(f"f{n}" for n in range(1, 25)),
    }
)  # fmt: skip


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


def key_names() -> frozenset[str]:
    """Every key name a binding can use besides single printable characters."""
    from textual.keys import Keys, _character_to_key

    names = {key.value for key in Keys} | set(NAMED_KEYS)
    names |= {_character_to_key(char) for char in string.printable if char not in "\t\n\r\x0b\x0c"}
    return frozenset(names)


def normal_key(key: str) -> str:
    """The name Textual matches a key by: `?` -> `question_mark`, `ctrl+x` stays."""
    from textual.keys import _character_to_key

    parts = key.split("+")
    base = parts[-1]
    if len(base) == 1:
        base = _character_to_key(base)
    return "+".join([*parts[:-1], base])


def check_key(key: str) -> str | None:
    """Why `key` is not a key Textual can deliver, or None when it is."""
    parts = key.split("+")
    if key.endswith("+") or any(not part for part in parts):
        return "is empty around a +"
    *modifiers, base = parts
    unknown = [m for m in modifiers if m not in MODIFIERS]
    if unknown:
        return f"has an unknown modifier {unknown[0]!r} (ctrl, shift, alt, meta, super)"
    if len(base) == 1 and base.isprintable():
        return None
    if base in key_names():
        return None
    return f"has an unknown key name {base!r} (a character, or a name such as enter, escape, f5, question_mark)"


def check_keymap(keymap: Mapping[str, str], scopes: Mapping[str, Sequence[tuple[str, str]]], origin: str) -> None:
    """Raise one ConfigError for the first unknown binding id, unusable key, or clash with another binding.

    `scopes` maps each screen to the (binding id, default keys) pairs active there, global ones included.
    """
    known = sorted({binding_id for pairs in scopes.values() for binding_id, _keys in pairs})
    for binding_id, keys in keymap.items():
        if binding_id not in known:
            raise ConfigError(f"{origin}: keys.{binding_id}: unknown binding id (the Help screen, `?`, lists every id)")
        for key in keys.split(","):
            problem = check_key(key.strip())
            if problem:
                raise ConfigError(f'{origin}: keys."{binding_id}" = "{keys}": "{key.strip()}" {problem}')
    for screen, pairs in scopes.items():
        owner: dict[str, str] = {}
        for binding_id, default in pairs:
            for key in keymap.get(binding_id, default).split(","):
                name = normal_key(key.strip())
                other = owner.get(name)
                if other is not None and other != binding_id and (binding_id in keymap or other in keymap):
                    remapped, clashing = (binding_id, other) if binding_id in keymap else (other, binding_id)
                    raise ConfigError(
                        f'{origin}: keys."{remapped}" = "{keymap[remapped]}" clashes with {clashing} on the '
                        f"{screen} screen, which {key.strip()} already does; remap {clashing} too or pick "
                        "another key"
                    )
                owner[name] = binding_id
