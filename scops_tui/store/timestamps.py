"""The one timestamp representation of scops-tui: integer milliseconds since the Unix epoch, UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime, tzinfo

MIN_MS = 0
"""The earliest timestamp scops-tui takes: 1970-01-01T00:00:00.000Z."""
MAX_MS = 253_402_300_799_999
"""The latest timestamp scops-tui takes: 9999-12-31T23:59:59.999Z (the last ISO-8601 four-digit year)."""


def check_range(ms: int) -> int:
    """`ms` if it lies in 1970-01-01 .. 9999-12-31 (UTC); ValueError otherwise, so it always fits SQLite."""
    if not MIN_MS <= ms <= MAX_MS:
        raise ValueError("is outside 1970-01-01 .. 9999-12-31 (UTC)")
    return ms


def now_ms() -> int:
    """The current time as integer UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


def to_ms(moment: datetime) -> int:
    """Convert an aware datetime to epoch milliseconds; a naive one is refused, never guessed."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: a time zone is required")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso(ms: int) -> str:
    """ISO-8601 UTC text with millisecond precision and a `Z` suffix, e.g. `2026-11-25T15:43:36.123Z`."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def parse_timestamp(text: str, assume: tzinfo = UTC) -> int:
    """Parse ISO-8601 text (a trailing `Z` accepted) to epoch ms; a naive time is read in `assume`.

    ValueError when the text is not such a time or lies outside 1970-01-01 .. 9999-12-31 UTC.
    """
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=assume)
    ms = to_ms(moment)
    try:
        return check_range(ms)
    except ValueError as exc:
        raise ValueError(f"{text.strip()!r} {exc}") from None
