"""The root command's conventions: every error is one `scops-tui: error: ...` line, a closed pipe is quiet.

* A user error (`ScopsError`, an unusable database, an unreadable file) ends the command with one line
  on stderr and its exit status.
* A usage error that click finds (a bad value, an unknown option, a missing argument) is one line too,
  exit 2: `scops-tui: error: invalid value for VERSION_ID: 'abc' is not an integer (see scops-tui model
  deploy --help)`.
* A reader that stops early (`scops-tui db status | head -1`) is not an error: what could be written
  was, and the command exits 0 without a word.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import click

from scops_tui.errors import ScopsError


def fail(message: str, code: int) -> NoReturn:
    """End the command with `scops-tui: error: MESSAGE` on stderr and exit status `code`."""
    with contextlib.suppress(OSError):  # stderr itself closed: the exit status still tells
        click.echo(f"scops-tui: error: {message}", err=True)
    sys.exit(code)


def quiet_closed_pipe() -> NoReturn:
    """Stop after the reader of stdout went away: no message, exit 0.

    Standard output is pointed at /dev/null first, so the interpreter's own flush at exit has somewhere
    to go and does not complain about the broken pipe.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    sys.exit(0)


def _parameter_name(exc: click.BadParameter) -> str | None:
    """How the user spelled the refused parameter: `--since`, `VERSION_ID`."""
    if exc.param_hint is not None:
        hint = exc.param_hint
        return " / ".join(hint) if not isinstance(hint, str) else hint
    param = exc.param
    if isinstance(param, click.Option) and param.opts:
        long_names = [name for name in param.opts if name.startswith("--")]
        return (long_names or param.opts)[0]
    if param is not None:
        return param.human_readable_name
    return None


def _sentence(text: str) -> str:
    """Click's messages as a clause of our line: no capital to start (unless an acronym), no final period."""
    text = " ".join(text.split())
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


def usage_line(exc: click.ClickException) -> str:
    """The one line that reports a usage error, ending with where to read the command's help."""
    if isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter):
        name = _parameter_name(exc)
        problem = _sentence(exc.message)
        text = f"invalid value for {name}: {problem}" if name else f"invalid value: {problem}"
    else:
        text = _sentence(exc.format_message())
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        text += f" (see {exc.ctx.command_path} --help)"
    return text


class ScopsGroup(click.Group):
    """A click group that ends any user or usage error with one line on stderr and a non-zero status.

    Its commands may be given as `lazy_commands`, name -> "module:attribute", imported only when that
    command is looked up: `scops-tui tui` imports the app's command module and not the fifteen others
    (nor what they import), while `--help` and shell completion, which list every command, import them all.
    """

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, the lazy ones included, sorted as click sorts them."""
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command called `cmd_name`, importing its module on first use (None: no such command)."""
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in self.lazy_commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return command

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; usage errors become one line and exit 2, a closed pipe exits 0."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            fail(usage_line(exc), exc.exit_code)
        except click.Abort:
            fail("aborted", 1)
        except BrokenPipeError:
            quiet_closed_pipe()
        # Without standalone mode click returns the exit status of `ctx.exit(code)` (--help, --version).
        sys.exit(result if isinstance(result, int) else 0)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Parse the root's arguments; a `--help` or `--version` cut short by a closed pipe is quiet."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError:
            quiet_closed_pipe()

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn known errors into `scops-tui: error: ...` lines."""
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            quiet_closed_pipe()
        except ScopsError as exc:
            fail(str(exc), exc.exit_code)
        except sqlite3.Error as exc:
            from scops_tui.store.database import explain_sqlite_error

            settings = ctx.obj.get("settings") if isinstance(ctx.obj, dict) else None
            fail(str(explain_sqlite_error(exc, settings.db if settings else "?")), 1)
        except OSError as exc:
            fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", 1)
        except KeyboardInterrupt:
            fail("interrupted", 130)
