"""The root group imports a command's module only when that command runs; help still lists every command."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from scops_tui.cli.main import COMMANDS, main


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:", 1)[1].split()
    for name in COMMANDS:
        assert name in listed, name


def test_every_lazy_command_resolves_to_its_name() -> None:
    import click

    with click.Context(main) as ctx:
        for name in COMMANDS:
            command = main.get_command(ctx, name)
            assert command is not None and command.name == name
        assert main.get_command(ctx, "no-such-command") is None


def test_an_unknown_command_is_still_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scops_tui", "no-such-command"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "no such command" in result.stderr


def test_the_tui_command_imports_neither_the_other_commands_nor_heavy_libraries() -> None:
    # What `scops-tui tui` has imported when the app is about to run (the app itself not started).
    code = """
import json, sys
import click
from scops_tui.cli.main import main
with click.Context(main) as ctx:
    main.get_command(ctx, "tui")
import scops_tui.tui.app
print(json.dumps(sorted(sys.modules)))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(result.stdout))
    assert "scops_tui.cli.app" in loaded and "textual" in loaded
    for module in ("sklearn", "psycopg", "apprise", "numpy", "starlette", "uvicorn"):
        assert module not in loaded, module
    others = {target.split(":")[0] for name, target in COMMANDS.items() if name != "tui"}
    assert not others & loaded, sorted(others & loaded)
    assert "scops_tui.recording.recorder" not in loaded  # only when the app records
