"""Click parameter types that refuse a bad argument before any file is touched, with one error line.

Each type checks a value the way SQLite and the core need it: ids and counts in SQLite's 64-bit integer
range, times in 1970-01-01 .. 9999-12-31, finite numbers within their setting's bounds, and text that is
valid Unicode (a non-UTF-8 byte of a command-line argument arrives as a lone surrogate, which SQLite,
files and terminals refuse). A refused value ends the command with one line, ``scops-tui: error:
invalid value for NAME: ... (see scops-tui COMMAND --help)``, and exit status 2, like any other usage
error (the root group, `cli/group.py`, prints it).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from scops_tui import config
from scops_tui.store.timestamps import check_range

SQLITE_MAX_INT = 2**63 - 1
"""The largest integer SQLite stores (a signed 64-bit integer)."""

_WHOLE = re.compile(r"[+-]?[0-9]+")

if TYPE_CHECKING:
    _ParamType = click.ParamType[Any]  # generic in click >= 8.2 only
else:
    _ParamType = click.ParamType


def shown(value: Any) -> str:
    """A short printable form of an argument: lone surrogates escaped, long text cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class BadArgument(click.BadParameter):
    """A refused argument or option value: one line `scops-tui: error: invalid value for ...` and exit 2."""

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the one error line on stderr (no usage block), as the root group does."""
        from scops_tui.cli.group import usage_line

        click.echo(f"scops-tui: error: {usage_line(self)}", err=True)


class _CheckedType(_ParamType):
    """A parameter type whose refusals are :class:`BadArgument` (one line)."""

    def fail(self, message: str, param: click.Parameter | None = None, ctx: click.Context | None = None) -> NoReturn:
        """Refuse the value with `message`."""
        raise BadArgument(message, ctx=ctx, param=param)


class WholeNumber(_CheckedType):
    """A whole number in [minimum, maximum], by default any id SQLite can store (1 .. 2**63 - 1)."""

    def __init__(self, minimum: int = 1, maximum: int = SQLITE_MAX_INT, what: str = "id") -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.name = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """The number, or a one-line refusal naming the range."""
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if not _WHOLE.fullmatch(text):
                self.fail(f"{shown(value)} is not an integer", param, ctx)
            digits = text.lstrip("+-").lstrip("0") or "0"
            # Past 20 digits the value is out of range whatever it is (and int() of huge text is capped).
            number = self.maximum + 1 if len(digits) > 20 else int(digits)
            if text.startswith("-"):
                number = -number
        if not self.minimum <= number <= self.maximum:
            self.fail(f"{shown(value)} is outside the {self.name} range {self.minimum} to {self.maximum}", param, ctx)
        return number


class FiniteNumber(_CheckedType):
    """A finite number in [minimum, maximum] (above `minimum` when `above`), e.g. seconds or days."""

    def __init__(self, minimum: float, maximum: float, *, above: bool = False, unit: str = "") -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.above = above
        self.unit = unit
        self.name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """The number, or a one-line refusal naming the bounds."""
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(f"{shown(value)} is not a number", param, ctx)
        too_low = number <= self.minimum if self.above else number < self.minimum
        if not math.isfinite(number) or too_low or number > self.maximum:
            self.fail(f"{shown(value)}: expected {self._expected()}", param, ctx)
        return number

    def _expected(self) -> str:
        unit = f" of {self.unit}" if self.unit else ""
        if self.above and self.minimum == 0:
            return f"a positive finite number{unit}, at most {self.maximum:g}"
        low = "above" if self.above else "from"
        return f"a finite number{unit} {low} {self.minimum:g} to {self.maximum:g}"


class TimeBound(_CheckedType):
    """`--since`/`--until`: ISO-8601 (naive = UTC), epoch seconds or an age (30m, 24h, 7d) to epoch ms,
    within 1970-01-01 .. 9999-12-31."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """Epoch milliseconds, or a one-line refusal saying which forms are accepted or that it is out of range."""
        if isinstance(value, int) and not isinstance(value, bool):
            ms = value
        else:
            from scops_tui.errors import ScopsError
            from scops_tui.transfer import export

            try:
                ms = export.parse_time_bound(str(value), param.opts[0] if param and param.opts else "time")
            except (ScopsError, ValueError, OverflowError):
                self.fail(
                    f"{shown(value)}: expected an ISO-8601 time (2025-08-08T12:00:00Z), epoch seconds, "
                    "or an age such as 30m, 24h, 7d",
                    param,
                    ctx,
                )
        try:
            return check_range(ms)
        except ValueError as exc:
            self.fail(f"{shown(value)} {exc}", param, ctx)


class Text(_CheckedType):
    """Free text (a note) that must be valid Unicode."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The text, or a one-line refusal pointing at the character that is not valid Unicode."""
        try:
            return config.check_text(str(value))
        except ValueError as exc:
            self.fail(f"{shown(value)} {exc}", param, ctx)


class SourceName(_CheckedType):
    """A source name: 1 to 100 characters of valid Unicode (surrounding spaces removed)."""

    name = "source"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The name, or a one-line refusal saying why it cannot be a source."""
        try:
            return config.source_name(value)
        except ValueError as exc:
            self.fail(f"{shown(value)} {exc}", param, ctx)


SQLITE_ID = WholeNumber()
"""An id of a row (episode, model version, key): 1 to 2**63 - 1."""
COUNT = WholeNumber(1, SQLITE_MAX_INT, "count")
"""A positive count such as `--limit`."""
DAYS = FiniteNumber(0.0, config.MAX_DAYS, above=True, unit="days")
"""An age in days (`db prune --older-than`), bounded like `retention_days`."""
INTERVAL = FiniteNumber(1.0, config.MAX_INTERVAL_SECONDS, unit="seconds")
"""Seconds between samples, bounded like the `interval` setting."""
DURATION = FiniteNumber(0.0, config.MAX_DAYS * 86_400, above=True, unit="seconds")
"""How long to run, in seconds (at most 100 years)."""
TIME = TimeBound()
"""A `--since`/`--until` time."""
SOURCE = SourceName()
"""A `--source` name."""
TEXT = Text()
"""Free text such as `--note`."""

FILE = click.Path(dir_okay=False, path_type=Path)
"""A file argument or option: a path that is not a directory."""
