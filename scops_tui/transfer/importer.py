"""What every import shares: its report, the option errors, and the checks of text and times read from a file.

Every import is all or nothing: records are validated and written inside one transaction, and the first
bad record rolls it back and raises :class:`~scops_tui.errors.InputFileError` naming the file, the
record (JSON, counted from 1) or line (CSV, the header is line 1), the field, the value and why. Nothing
from a bad file is ever committed. Importing the same file twice adds nothing the second time.
The imports: metrics (`metrics_import`, reading `legacy_metrics` or `csv_metrics`), models
(`legacy_models`) and API keys (`legacy_keys`).
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scops_tui.errors import ScopsError
from scops_tui.transfer.series_csv import parse_timestamp_ms

__all__ = [
    "MAX_MS",
    "ImportOptionError",
    "ImportReport",
    "Progress",
    "check_option",
    "check_text",
    "lone_surrogate",
    "parse_time",
    "resolve_timezone",
    "show",
]

Progress = Callable[[int], None]
"""Called with the amount of work done since the last call (records, or bytes for CSV)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
MAX_MS = 253_402_300_799_999
"""The latest time an import stores: 9999-12-31T23:59:59.999Z, in epoch milliseconds."""
_EPOCH_SECONDS = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_SURROGATE = re.compile("[\ud800-\udfff]")


class ImportOptionError(ScopsError):
    """An import cannot run (bad option, unknown format); problems inside a file are InputFileErrors."""


@dataclass(frozen=True)
class ImportReport:
    """What one import did."""

    path: str
    noun: str
    """What was counted: `rows`, `model versions`, `API keys`."""
    added: int
    present: int
    """Records skipped because a row with the same key was stored before this import."""
    notes: tuple[str, ...] = ()
    duplicates: int = 0
    """Records that repeat an earlier record of the same file exactly (imported once)."""

    def summary(self) -> str:
        """One line for the user, e.g. `file.json: 0 new rows, 145 already present`."""
        text = f"{self.path}: {self.added:,} new {self.noun}, {self.present:,} already present"
        if self.duplicates:
            text += f", {self.duplicates:,} duplicates in the file (imported once)"
        return text + "".join(f"; {note}" for note in self.notes)


def resolve_timezone(name: str | None) -> tzinfo:
    """The zone naive timestamps are read in: UTC by default, else any IANA name."""
    if name is None or name.strip().upper() in ("UTC", "Z", ""):
        return UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportOptionError(
            f"unknown time zone {name!r} (expected an IANA name such as Europe/Berlin, or UTC)"
        ) from None


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlong = 60


def check_option(option: str, value: str | None) -> None:
    """Refuse a `--source` or `--name` value that cannot be stored: 1 to 100 characters of valid Unicode."""
    if value is None:
        return
    try:
        check_text(value, 1, 100)
    except ValueError as exc:
        raise ImportOptionError(f"{option}: {exc}") from None


def show(value: object) -> str:
    """A short printable form of a value: never deeper than 3 levels, lone surrogates escaped, at most 60 chars."""
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def lone_surrogate(text: str) -> bool:
    """True when `text` holds a UTF-16 surrogate on its own (JSON's "\\ud800"): not Unicode, SQLite refuses it."""
    return _SURROGATE.search(text) is not None


def check_text(value: object, low: int, high: int) -> str:
    """`value` if it is text of `low` to `high` characters that is valid Unicode; else ValueError saying why."""
    if not isinstance(value, str):
        raise ValueError(f"value {show(value)} is not text")
    if lone_surrogate(value):
        raise ValueError(f"value {show(value)} holds a lone surrogate (not valid Unicode text)")
    if not low <= len(value) <= high:
        raise ValueError(f"value {show(value)} must be {low} to {high} characters")
    return value


def parse_time(text: str, zone: tzinfo, *, allow_epoch: bool = True) -> int:
    """ISO-8601 (naive read in `zone`) or, if allowed, epoch seconds to UTC epoch ms; ValueError when unusable."""
    if not allow_epoch and _EPOCH_SECONDS.match(text):
        raise ValueError(f"value {show(text)} is not an ISO-8601 time")
    if zone is UTC or _EPOCH_SECONDS.match(text):
        ms = parse_timestamp_ms(text)
    else:
        stripped = text.strip()
        try:
            moment = datetime.fromisoformat(stripped)
        except ValueError:
            raise ValueError(f"unparseable timestamp {stripped!r} (expected ISO-8601 or epoch seconds)") from None
        if moment.tzinfo is None:
            moment = _local_moment(moment, zone, stripped)
        ms = (moment - _EPOCH) // _ONE_MS
    if not 0 <= ms <= MAX_MS:
        raise ValueError(f"timestamp {text.strip()!r} is outside 1970-01-01 .. 9999-12-31")
    return ms


def _local_moment(naive: datetime, zone: tzinfo, text: str) -> datetime:
    """`naive` read in `zone`; ValueError for a wall time that a daylight-saving change skips or repeats.

    Such a time has no single UTC instant (it would collide with, or be read as, another sample), so it is
    refused rather than guessed: give it an offset in the file, or read the file in UTC.
    """
    early = naive.replace(tzinfo=zone, fold=0)
    late = naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early
    round_trip = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    name = getattr(zone, "key", str(zone))
    if round_trip != naive:
        raise ValueError(
            f"local time {text!r} does not exist in {name} (skipped by a daylight-saving change); "
            "give its UTC offset in the file"
        )
    raise ValueError(
        f"local time {text!r} occurs twice in {name} (repeated by a daylight-saving change), so it is ambiguous; "
        "give its UTC offset in the file"
    )
