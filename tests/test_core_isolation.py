"""The headless core never imports Textual, and nothing heavy is imported until a code path needs it."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import scops_tui.core

HEAVY = ("textual", "rich", "sklearn", "scipy", "psycopg")


def core_modules() -> list[str]:
    return sorted(f"scops_tui.core.{m.name}" for m in pkgutil.iter_modules(scops_tui.core.__path__))


def loaded_after(imports: list[str], watched: tuple[str, ...]) -> list[str]:
    """Import `imports` in a fresh interpreter and return which `watched` modules got loaded."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {imports!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {watched!r} if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(result.stdout))


def test_there_are_core_modules_to_check() -> None:
    assert {"scops_tui.core.store", "scops_tui.core.recorder", "scops_tui.core.sampler"} <= set(core_modules())


def test_importing_every_core_module_does_not_import_textual_or_heavy_libraries() -> None:
    assert loaded_after(core_modules(), HEAVY) == []


def test_the_cli_imports_no_heavy_library_to_start() -> None:
    assert loaded_after(["scops_tui.cli"], (*HEAVY, "numpy")) == []
