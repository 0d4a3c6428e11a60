"""The processes using the most CPU right now, measured over a short window from their CPU-time deltas."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ProcessUsage:
    """One process's share of CPU over the measuring window, and its memory."""

    pid: int
    name: str
    cpu_percent: float
    """Percent of one CPU (can exceed 100 for a multi-threaded process)."""
    memory_percent: float
    username: str | None

    def as_json(self) -> dict[str, Any]:
        """A plain dict for JSON columns."""
        return asdict(self)


def top_processes(limit: int = 10, window: float = 0.5) -> list[ProcessUsage]:
    """The `limit` processes that used the most CPU during the next `window` seconds (blocks that long)."""
    import psutil

    def cpu_times() -> dict[int, tuple[psutil.Process, float]]:
        seen = {}
        for process in psutil.process_iter(["name"]):
            try:
                times = process.cpu_times()
                seen[process.pid] = (process, times.user + times.system)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return seen

    before = cpu_times()
    started = time.monotonic()
    time.sleep(window)
    after = cpu_times()
    elapsed = max(time.monotonic() - started, 1e-6)
    ranked = sorted(
        ((after[pid][1] - before[pid][1], pid) for pid in after if pid in before), key=lambda item: -item[0]
    )
    result = []
    for used, pid in ranked[:limit]:
        process = after[pid][0]
        try:
            with process.oneshot():
                memory = process.memory_percent()
                username = process.username()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            memory, username = 0.0, None
        result.append(
            ProcessUsage(
                pid=pid,
                name=str(process.info.get("name") or "?"),
                cpu_percent=round(100.0 * used / elapsed, 1),
                memory_percent=round(memory, 2),
                username=username,
            )
        )
    return result
