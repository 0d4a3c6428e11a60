"""Run the command line with `python -m scops_tui`."""

from scops_tui.cli.main import run

run()
