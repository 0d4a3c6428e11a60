"""How numbers, sizes and times read on screen (UTC, so the screens look the same everywhere)."""

from __future__ import annotations

import time


def clock_time(ms: int) -> str:
    """`2026-11-25 15:43:36` in UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000))


def short_time(ms: int) -> str:
    """`11-25 15:43` in UTC."""
    return time.strftime("%m-%d %H:%M", time.gmtime(ms // 1000))


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


def span(ms: int) -> str:
    """A duration: `15m`, `6h`, `7d`."""
    seconds = ms // 1000
    if seconds < 3600:
        return f"{max(seconds // 60, 1)}m" if seconds >= 60 else f"{seconds}s"
    if seconds < 86_400 * 2:
        hours = seconds / 3600
        return f"{hours:.0f}h" if hours == int(hours) else f"{hours:.1f}h"
    return f"{seconds / 86_400:.0f}d" if seconds % 86_400 == 0 else f"{seconds / 86_400:.1f}d"


def score(value: float | None) -> str:
    """An anomaly score with three decimals, or a dash."""
    return "-" if value is None else f"{value:.3f}"


def fraction(value: float | None) -> str:
    """A 0..1 quality figure, or a dash."""
    return "-" if value is None else f"{value:.2f}"


def short_path(path: object, limit: int = 40) -> str:
    """A path cut to its last `limit` characters (the file name matters most), `…` marking the cut."""
    text = str(path)
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]
