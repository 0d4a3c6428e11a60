"""How numbers, sizes and times read on screen; times in UTC or local time, as the `[tui]` table says."""

from __future__ import annotations

import time
from dataclasses import dataclass

RATE_UNITS = ("B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s")


@dataclass(frozen=True)
class TimeFormat:
    """Writes epoch milliseconds as wall-clock text, in UTC or in the local time zone."""

    utc: bool = True

    @property
    def zone(self) -> str:
        """`UTC`, or the local zone's abbreviation (`CET`)."""
        return "UTC" if self.utc else (time.strftime("%Z", time.localtime()) or "local")

    def struct(self, ms: int) -> time.struct_time:
        """The broken-down time of `ms` in this zone."""
        seconds = ms // 1000
        return time.gmtime(seconds) if self.utc else time.localtime(seconds)

    def offset_ms(self, ms: int) -> int:
        """This zone's offset from UTC at `ms`, in ms (0 for UTC)."""
        return 0 if self.utc else int(self.struct(ms).tm_gmtoff) * 1000

    def clock(self, ms: int) -> str:
        """`2026-11-25 15:43:36`."""
        return time.strftime("%Y-%m-%d %H:%M:%S", self.struct(ms))

    def short(self, ms: int) -> str:
        """`2026-11-25 15:43` (with the year: a short form is still unambiguous)."""
        return time.strftime("%Y-%m-%d %H:%M", self.struct(ms))

    def hm(self, ms: int) -> str:
        """`15:43`."""
        return time.strftime("%H:%M", self.struct(ms))

    def fmt(self, ms: int, pattern: str) -> str:
        """Any strftime pattern in this zone."""
        return time.strftime(pattern, self.struct(ms))


UTC = TimeFormat(utc=True)


def clock_time(ms: int) -> str:
    """`2026-11-25 15:43:36` in UTC."""
    return UTC.clock(ms)


def short_time(ms: int) -> str:
    """`2026-11-25 15:43` in UTC."""
    return UTC.short(ms)


def byte_size(value: float) -> str:
    """1536 -> `1.5 KiB`."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def rate(value: float) -> str:
    """Bytes per second, human-sized."""
    return f"{byte_size(value)}/s"


def compact_rate(value: float) -> str:
    """A rate in at most 6 characters: `512B`, `1.2K`, `34M` (binary units, per second)."""
    for unit in ("B", "K", "M", "G", "T"):
        if abs(value) < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if unit == "B" or abs(value) >= 100 else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.0f}T"


def rate_unit(peak: float) -> tuple[str, float]:
    """The rate unit an axis reaching `peak` bytes/s reads best in, and its size in bytes/s."""
    size = 1.0
    for unit in RATE_UNITS:
        if abs(peak) < size * 1024 or unit == RATE_UNITS[-1]:
            return unit, size
        size *= 1024
    return RATE_UNITS[-1], size


def span(ms: int) -> str:
    """A duration: `2s`, `15m`, `6h`, `7d`."""
    seconds = round(ms / 1000)
    if seconds < 3600:
        return f"{seconds // 60}m" if seconds >= 60 and seconds % 60 == 0 else _minutes_seconds(seconds)
    if seconds < 86_400 * 2:
        hours = seconds / 3600
        return f"{hours:.0f}h" if hours == int(hours) else f"{hours:.1f}h"
    return f"{seconds / 86_400:.0f}d" if seconds % 86_400 == 0 else f"{seconds / 86_400:.1f}d"


def _minutes_seconds(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def score(value: float | None) -> str:
    """An anomaly score with three decimals, or a dash."""
    return "-" if value is None else f"{value:.3f}"


def severity_word(severity: str | None, score_value: float | None) -> str:
    """The severity a person reads: `normal` below the lowest band of a live score, else the band."""
    from scops_tui.detection.episodes import SEVERITY_BANDS

    if score_value is not None and score_value < SEVERITY_BANDS[-1][0]:
        return "normal"
    return severity or "-"


def fraction(value: float | None) -> str:
    """A 0..1 quality figure, or a dash."""
    return "-" if value is None else f"{value:.2f}"


def short_path(path: object, limit: int = 40) -> str:
    """A path cut to its last `limit` characters (the file name matters most), `…` marking the cut."""
    text = str(path)
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]
