"""The dashboard's process table source: CPU shares from one cheap scan per refresh, not two psutil scans.

`recording.processes.top_processes` (what alerts store) measures over its own half-second window: it walks
every process through psutil twice and sleeps between, about 36 ms of CPU a call on a host of a hundred
processes. The dashboard refreshes its table every few seconds for as long as the app is open, so it keeps
the previous scan instead and measures each process's CPU share since then (as top does): one walk of
`/proc/<pid>/stat` a refresh (`bench/tui.py --process-scan`), and the memory and user of only the processes it returns.
Where there is no /proc (not Linux) it falls back to `top_processes`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from scops_tui.recording.processes import ProcessUsage, top_processes

PROC = Path("/proc")
FIRST_WINDOW = 0.5
"""Seconds the first call measures over (there is no previous scan yet)."""

Scan = dict[int, tuple[int, bytes, float]]
"""pid -> (start time in clock ticks, the kernel's name of the process, CPU seconds used so far)."""


def read_small(path: str) -> bytes:
    """The first 4 KiB of a small file such as `/proc/<pid>/stat`: one open, one read, one close (no buffered
    file object; with string paths the scan takes about a third of the time it took with `open` and pathlib)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def scan_proc(proc: Path = PROC) -> Scan:
    """Every process's start time, name and CPU seconds (user + system), from one read of its stat file."""
    ticks = os.sysconf("SC_CLK_TCK")
    seen: Scan = {}
    base = str(proc)
    for entry in os.listdir(base):
        if not entry.isdigit():
            continue
        try:
            data = read_small(f"{base}/{entry}/stat")
        except OSError:
            continue  # gone since the listing, or not ours to read
        close = data.rfind(b")")
        fields = data[close + 2 :].split()
        if close < 0 or len(fields) < 20:
            continue
        # After the name: state, ppid, ... utime is field 14 of stat, stime 15, starttime 22 (1-based).
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        seen[int(entry)] = (int(fields[19]), data[data.find(b"(") + 1 : close], cpu)
    return seen


class ProcessReader:
    """Top processes by CPU since the previous call; callable as the app's `process_reader(limit)`.

    Call it from one worker at a time (a lock keeps two overlapping refreshes apart). The details that cost a
    read each (memory share, user, a full name where the kernel's is cut at 15 characters) are read only for
    the processes returned, and the user and name are kept per process for its lifetime.
    """

    def __init__(self, proc: Path = PROC, clock: Callable[[], float] = time.monotonic) -> None:
        self.proc = proc
        self.clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, Scan] | None = None
        self._known: dict[tuple[int, int], tuple[str, str | None]] = {}
        """(pid, start time) -> (name, user): stable while the process lives."""

    def __call__(self, limit: int) -> list[ProcessUsage]:
        """The `limit` processes that used the most CPU since the previous call (the first call waits 0.5 s)."""
        if not (self.proc / "self" / "stat").exists():
            return top_processes(limit, FIRST_WINDOW)
        with self._lock:
            if self._last is None:
                self._last = (self.clock(), scan_proc(self.proc))
                time.sleep(FIRST_WINDOW)
            then, before = self._last
            now, after = self.clock(), scan_proc(self.proc)
            self._last = (now, after)
            elapsed = max(now - then, 1e-6)
            used = []
            for pid, (started, _name, cpu) in after.items():
                old = before.get(pid)
                if old is not None and old[0] == started:
                    used.append((cpu - old[2], pid))
            used.sort(key=lambda item: (-item[0], item[1]))
            alive = {(pid, started) for pid, (started, _n, _c) in after.items()}
            self._known = {key: value for key, value in self._known.items() if key in alive}
            return [self._usage(pid, after[pid], cpu / elapsed) for cpu, pid in used[:limit]]

    def _usage(self, pid: int, scanned: tuple[int, bytes, float], share: float) -> ProcessUsage:
        started, kernel_name, _cpu = scanned
        key = (pid, started)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = (self._name(pid, kernel_name), self._user(pid))
        name, user = known
        return ProcessUsage(
            pid=pid,
            name=name,
            cpu_percent=round(100.0 * share, 1),
            memory_percent=round(self._memory_percent(pid), 2),
            username=user,
        )

    def _name(self, pid: int, kernel_name: bytes) -> str:
        name = kernel_name.decode(errors="replace")
        if len(kernel_name) < 15:
            return name
        # The kernel keeps 15 characters: take the program's own name from its command line when it starts so.
        try:
            argv0 = read_small(f"{self.proc}/{pid}/cmdline").split(b"\0", 1)[0]
        except OSError:
            return name
        program = os.path.basename(argv0.decode(errors="replace"))
        return program if program.startswith(name) else name

    def _user(self, pid: int) -> str | None:
        try:
            uid = os.stat(f"{self.proc}/{pid}").st_uid
        except OSError:
            return None
        try:
            import pwd

            return pwd.getpwuid(uid).pw_name
        except (ImportError, KeyError):
            return str(uid)

    def _memory_percent(self, pid: int) -> float:
        try:
            resident = int(read_small(f"{self.proc}/{pid}/statm").split()[1])
        except (OSError, IndexError, ValueError):
            return 0.0
        return 100.0 * resident * _PAGE / _total_memory()


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TOTAL: list[int] = []


def _total_memory() -> int:
    """Physical memory in bytes (read once)."""
    if not _TOTAL:
        import psutil

        _TOTAL.append(int(psutil.virtual_memory().total) or 1)
    return _TOTAL[0]
