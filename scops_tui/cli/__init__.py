"""The `scops-tui` command line: a thin click shell over the core.

`main.py` holds the root group; each command group has a module of its own.
"""
