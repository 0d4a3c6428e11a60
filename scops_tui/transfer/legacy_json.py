"""Strict reading of the legacy JSON files: every problem (a key given twice, nesting deeper than 32
levels, a lone surrogate, a bad number) is an InputFileError naming the file, the record and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

from scops_tui.errors import InputFileError
from scops_tui.transfer.importer import lone_surrogate, show

__all__ = ["finite_number", "key_digest", "load_json"]

_MAX_DEPTH = 32
"""Deepest nesting of arrays and objects an imported JSON file may have (the legacy files have 4)."""


def _read_bytes(name: str) -> bytes:
    try:
        with open(name, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputFileError(name, "", f"cannot read file: {exc.strerror or exc}") from None


def load_json(name: str, *, walk: bool = False, secret_keys: bool = False) -> Any:
    """Parse a JSON file; every problem is an InputFileError naming the file and where.

    A key given twice in one object is refused (never last-one-wins). An integer literal too long for
    Python is read as a float (infinite: refused by the field's check). With `walk`, the whole document is
    also checked to be nested at most `_MAX_DEPTH` levels and to hold no lone surrogates (for files that
    are stored whole). `secret_keys`: the top-level keys are secrets, named by position and digest only.
    """
    data = _read_bytes(name)
    if not data.strip():
        raise InputFileError(name, "", "empty file (expected JSON)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputFileError(name, f"line {line}", f"not valid UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    repeated: list[tuple[dict[str, Any], str, int, int]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items) and not repeated:
            first: dict[str, int] = {}
            for position, (key, _value) in enumerate(items):
                if key in first:
                    repeated.append((result, key, first[key], position))
                    break
                first[key] = position
        return result

    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise InputFileError(name, f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}") from None
    except ValueError as exc:
        raise InputFileError(name, "", f"invalid JSON: {exc}") from None
    except RecursionError:
        line, column = _too_deep_at(text)
        raise InputFileError(
            name, f"line {line}, column {column}", f"invalid JSON: nested more than {_MAX_DEPTH} levels deep"
        ) from None
    if repeated:
        container, key, first, second = repeated[0]
        path = _path_to(document, container)
        if secret_keys and not path:
            where = f"record {second + 1} (key sha256 {key_digest(key)[:12]}...)"
            raise InputFileError(name, where, f"the same key appears twice (records {first + 1} and {second + 1})")
        raise InputFileError(
            name,
            _where(document, [*path, key], secret_keys=secret_keys),
            "this key appears twice in one object (each key may be given once)",
        )
    if walk:
        found = _first_unsafe(document)
        if found is not None:
            path, problem = found
            raise InputFileError(name, _where(document, path, secret_keys=secret_keys), problem)
    return document


def _parse_int(text: str) -> int | float:
    """An integer literal; one too long for Python's int parser (over 4,300 digits) becomes a float."""
    return int(text) if len(text) <= 4000 else float(text)


def _too_deep_at(text: str) -> tuple[int, int]:
    """(line, column) where `text` first nests deeper than `_MAX_DEPTH` (for the error message only)."""
    depth = 0
    in_string = escaped = False
    line, line_start = 1, 0
    for position, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return line, position - line_start + 1
        elif char in "]}":
            depth -= 1
        if char == "\n":
            line, line_start = line + 1, position + 1
    return line, 1


def _children(node: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(node, dict):
        yield from node.items()
    elif isinstance(node, list):
        yield from enumerate(node)


def _path_to(document: Any, target: object) -> list[str | int]:
    """The keys and indexes that lead from `document` to the object `target` (iterative: any depth)."""
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        stack.extend((child, [*path, key]) for key, child in _children(node))
    return []


def _first_unsafe(document: Any) -> tuple[list[str | int], str] | None:
    """The path and problem of the first place nested deeper than `_MAX_DEPTH`, or text with a lone surrogate."""
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str) and lone_surrogate(node):
            return path, f"value {show(node)} holds a lone surrogate (not valid Unicode text)"
        if not isinstance(node, dict | list):
            continue
        if len(path) >= _MAX_DEPTH:
            return path, f"nested more than {_MAX_DEPTH} levels deep"
        for key, child in reversed(list(_children(node))):
            if isinstance(key, str) and lone_surrogate(key):
                return [*path, key], "the key holds a lone surrogate (not valid Unicode text)"
            stack.append((child, [*path, key]))
    return None


def _where(document: Any, path: Sequence[str | int], *, secret_keys: bool = False) -> str:
    """`record N, field 'a.b[2]'` for a path into a parsed file (record: an item of a top-level array or,
    with `secret_keys`, a top-level key, named by number and digest prefix)."""
    parts: list[str] = []
    rest = list(path)
    if rest and isinstance(rest[0], int) and isinstance(document, list):
        parts.append(f"record {int(rest.pop(0)) + 1}")
    elif rest and secret_keys and isinstance(document, dict):
        key = str(rest.pop(0))
        index = list(document).index(key) + 1 if key in document else 1
        parts.append(f"record {index} (key sha256 {key_digest(key)[:12]}...)")
    if rest:
        field = ""
        if len(rest) > 6:  # a path into deep nesting: its start and depth say enough
            rest = [*rest[:3], f"...({len(rest) - 3} levels more)"]
        for step in rest:
            field += f"[{step}]" if isinstance(step, int) else (f".{step}" if field else step)
        parts.append(f"field {field!r}")
    return ", ".join(parts)


def key_digest(key: str) -> str:
    """The SHA-256 hex digest of a key: how a key is stored, and named in messages."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _refuse_constant(token: str) -> float:
    raise ValueError(f"{token} is not a JSON number")


def finite_number(value: object) -> float | None:
    """`value` as a float if it is a finite JSON number (not a bool), else None (huge integers included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
