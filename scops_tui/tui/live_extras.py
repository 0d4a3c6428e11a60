"""Live host figures the dashboard shows beside the stored metrics, read from psutil and never stored.

Per-core CPU, swap, and per-disk and per-interface rates, all from counter deltas between two reads
(psutil's own `cpu_percent` keeps hidden per-thread state and answers 0.0 on a first call).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DeviceRate:
    """Bytes per second in and out of one disk (read, write) or interface (rx, tx)."""

    name: str
    incoming: float
    outgoing: float


@dataclass(frozen=True)
class LiveExtras:
    """One reading of the live extras; rates and per-core figures are empty on the first reading."""

    cores: list[float] = field(default_factory=list)
    swap_used: int = 0
    swap_total: int = 0
    disks: list[DeviceRate] = field(default_factory=list)
    interfaces: list[DeviceRate] = field(default_factory=list)


class LiveExtrasReader:
    """Reads `LiveExtras` from psutil; each call measures since the previous one (call from one thread)."""

    def __init__(self) -> None:
        self._last: tuple[float, Any, Any, Any] | None = None

    def read(self) -> LiveExtras:
        """Per-core CPU percent, swap, and disk and interface rates since the previous call."""
        import psutil

        now = time.monotonic()
        cores = psutil.cpu_times(percpu=True)
        disks = psutil.disk_io_counters(perdisk=True, nowrap=True) or {}
        nics = psutil.net_io_counters(pernic=True, nowrap=True) or {}
        swap = psutil.swap_memory()
        previous, self._last = self._last, (now, cores, disks, nics)
        if previous is None:
            return LiveExtras(swap_used=int(swap.used), swap_total=int(swap.total))
        then, old_cores, old_disks, old_nics = previous
        elapsed = max(now - then, 1e-6)
        return LiveExtras(
            cores=[_busy_percent(old, new) for old, new in zip(old_cores, cores, strict=False)],
            swap_used=int(swap.used),
            swap_total=int(swap.total),
            disks=[
                DeviceRate(
                    name,
                    max(value.read_bytes - old_disks[name].read_bytes, 0) / elapsed,
                    max(value.write_bytes - old_disks[name].write_bytes, 0) / elapsed,
                )
                for name, value in sorted(disks.items())
                if name in old_disks and not name.startswith(("loop", "ram"))
            ],
            interfaces=[
                DeviceRate(
                    name,
                    max(value.bytes_recv - old_nics[name].bytes_recv, 0) / elapsed,
                    max(value.bytes_sent - old_nics[name].bytes_sent, 0) / elapsed,
                )
                for name, value in sorted(nics.items())
                if name in old_nics and name != "lo"
            ],
        )


def _busy_percent(old: Any, new: Any) -> float:
    """Percent of one core busy between two `cpu_times` readings."""
    idle_fields = ("idle", "iowait")
    total = _total(new) - _total(old)
    if total <= 0:
        return 0.0
    idle = sum(getattr(new, f, 0.0) - getattr(old, f, 0.0) for f in idle_fields)
    return min(max(100.0 * (total - idle) / total, 0.0), 100.0)


def _total(times: Any) -> float:
    # Linux counts guest time inside user and nice as well: leave it out once.
    return float(sum(times)) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
