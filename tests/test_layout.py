"""Only `tui/` imports Textual, nothing heavy is imported until a code path needs it, and no import cycles."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import scops_tui

HEAVY = (
    "textual",
    "rich",
    "sklearn",
    "scipy",
    "psycopg",
    "starlette",
    "uvicorn",
    "fastapi",
    "prometheus_client",
    "apprise",
)
HTTP_MODULES = ("scops_tui.api.app", "scops_tui.api.prometheus", "scops_tui.api.server")
"""The modules of `serve` that import the HTTP stack; only `scops-tui serve` imports them (lazily)."""
PACKAGE_DIR = Path(scops_tui.__file__).parent


def modules_of(package: str) -> list[str]:
    """Every module of `scops_tui.<package>` (or of the top level, for "")."""
    if not package:
        return sorted(f"scops_tui.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE_DIR)]) if not m.ispkg)
    folder = PACKAGE_DIR / package.replace(".", "/")
    prefix = f"scops_tui.{package}."
    return sorted(m.name for m in pkgutil.walk_packages([str(folder)], prefix) if not m.name.endswith("__main__"))


def headless_modules() -> list[str]:
    """Every module outside `tui/`, except `__main__` (which runs the command line) and the HTTP modules."""
    found = [m for m in modules_of("") if m != "scops_tui.__main__"]
    for package in ("store", "recording", "detection", "transfer", "sync", "alerts", "api", "cli"):
        found += [m for m in modules_of(package) if m not in HTTP_MODULES]
    return found


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


def test_there_are_modules_to_check_in_every_package() -> None:
    names = set(headless_modules())
    for expected in (
        "scops_tui.store.database",
        "scops_tui.recording.recorder",
        "scops_tui.detection.detector",
        "scops_tui.transfer.importer",
        "scops_tui.sync.push",
        "scops_tui.alerts.sender",
        "scops_tui.api.keys",
        "scops_tui.api.usage",
        "scops_tui.cli.main",
        "scops_tui.cli.serve",
        "scops_tui.config",
    ):
        assert expected in names


def test_no_module_outside_tui_imports_textual_or_a_heavy_library() -> None:
    assert loaded_after(headless_modules(), HEAVY) == []


def test_store_recording_transfer_and_cli_each_import_nothing_heavy() -> None:
    for package in ("store", "recording", "transfer", "alerts", "cli"):
        assert loaded_after(modules_of(package), HEAVY) == [], package


def test_only_the_serve_modules_load_the_http_stack() -> None:
    assert set(HTTP_MODULES) <= set(modules_of("api"))
    assert loaded_after([m for m in modules_of("api") if m not in HTTP_MODULES], HEAVY) == []
    assert set(loaded_after(["scops_tui.api.server"], HEAVY)) == {"starlette", "uvicorn", "prometheus_client"}


def test_the_cli_imports_no_heavy_library_to_start() -> None:
    assert loaded_after(["scops_tui.cli.main"], (*HEAVY, "numpy")) == []


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the scops_tui modules it imports at module level (imports inside functions are lazy)."""
    modules = {_module_name(path): path for path in PACKAGE_DIR.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                continue
            for child in ast.walk(node) if not isinstance(node, ast.FunctionDef | ast.ClassDef) else []:
                if isinstance(child, ast.Import):
                    targets.update(alias.name for alias in child.names)
                elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                    for alias in child.names:
                        full = f"{child.module}.{alias.name}"
                        targets.add(full if full in modules else child.module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_there_is_no_import_cycle() -> None:
    graph = import_graph()
    assert graph.get("scops_tui.cli.main")
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_lower_packages_never_import_higher_ones() -> None:
    # store < detection < recording, transfer, sync, alerts < api < cli, tui: a lower room never imports a higher one.
    rank = {
        "store": 0,
        "detection": 1,
        "recording": 2,
        "transfer": 2,
        "sync": 2,
        "alerts": 2,
        "api": 3,
        "cli": 4,
        "tui": 4,
    }
    problems = []
    for module, targets in import_graph().items():
        parts = module.split(".")
        if len(parts) < 3 or parts[1] not in rank:
            continue
        for target in targets:
            target_parts = target.split(".")
            if len(target_parts) >= 2 and target_parts[1] in rank and rank[target_parts[1]] > rank[parts[1]]:
                problems.append(f"{module} imports {target}")
    assert problems == []


def test_only_the_alert_channels_module_imports_apprise() -> None:
    importers = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "apprise" or name.startswith("apprise.") for name in names):
                importers.add(_module_name(path))
    assert importers == {"scops_tui.alerts.channels"}
