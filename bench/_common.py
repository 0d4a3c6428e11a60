"""Helpers shared by the scops-tui benchmarks: machine description, command line, realistic synthetic rows."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import random
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from scops_tui.recording.sampler import HostSampler
from scops_tui.store.records import MetricRecord

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "bench" / "out"


def invocation() -> str:
    """The command line that ran this script, paths relative to the repository root where possible."""
    parts = []
    for index, part in enumerate([sys.executable, *sys.argv]):
        path = Path(part)
        if index == 0 and path.is_relative_to(REPO / ".venv"):
            parts.append(".venv/bin/python")
        elif path.is_absolute() and path.is_relative_to(REPO):
            parts.append(str(path.relative_to(REPO)))
        else:
            parts.append(part)
    return shlex.join(parts)


def filesystem_of(path: Path) -> str:
    """`fstype device` of the filesystem holding `path` (from df)."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["df", "--output=fstype,source", str(path)], capture_output=True, text=True, check=True
        ).stdout
        return " ".join(out.splitlines()[-1].split())
    return "?"


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], total


class HostLoad:
    """How busy the whole host was between `start()` and `stop()` (other work skews timings)."""

    def __init__(self) -> None:
        self.begin = cpu_ticks()
        self.load_begin = os.getloadavg()

    def stop(self) -> dict[str, object]:
        busy, total = cpu_ticks()
        return {
            "host_cpu_busy_percent": round(100 * (busy - self.begin[0]) / max(total - self.begin[1], 1), 1),
            "loadavg_begin": [round(x, 2) for x in self.load_begin],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        }


def write_json(name: str, report: dict[str, object], out_dir: Path = OUT_DIR) -> Path:
    """Write `report` to `out_dir/<name>-<UTC time>.json` and return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(report, indent=2))
    return path


def shown(path: Path) -> str:
    """`path` relative to the repository when inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def real_samples(source: str, count: int, interval: float) -> list[MetricRecord]:
    """`count` real samples of this host from HostSampler, `interval` seconds apart."""
    sampler = HostSampler(source)
    sampler.prime()
    samples = []
    for _ in range(count):
        time.sleep(interval)
        samples.append(sampler.sample())
    return samples


def synthesise(seeds: list[MetricRecord], count: int, *, seed: int = 42, step_ms: int = 1000) -> list[MetricRecord]:
    """`count` records one `step_ms` apart that vary around the real `seeds` as a quiet host does.

    The seeds' means are clamped to a plausible range (a seed taken while the host is saturated would
    otherwise pin every row at 100 %). CPU wanders around its mean with noise and rare spikes
    (2 decimals), memory drifts slowly around its mean (2 decimals), disk use is nearly constant, loads
    follow the kernel's exponential averages (4 decimals), the I/O and network rates are small integers
    (often 0 for reads), response time is a few tenths of a ms.
    """
    rng = random.Random(seed)
    n = len(seeds)

    def mean(attr: str, low: float, high: float) -> float:
        """The seeds' mean of `attr`, kept within what a quiet-to-busy host shows."""
        return min(max(sum(getattr(s, attr) for s in seeds) / n, low), high)

    cpu_mean = mean("cpu_usage", 1.0, 60.0)
    mem_mean = mem = mean("memory_usage", 1.0, 95.0)
    disk = mean("disk_usage", 0.0, 100.0)
    load1 = mean("load_1m", 0.0, 64.0)
    load5 = mean("load_5m", 0.0, 64.0)
    load15 = mean("load_15m", 0.0, 64.0)
    write_mean = mean("disk_io_write", 2_000.0, 200_000.0)
    rx_mean = mean("network_rx", 150.0, 50_000.0)
    tx_mean = mean("network_tx", 100.0, 50_000.0)
    rt_mean = mean("response_time", 0.2, 5.0)
    ncpu = os.cpu_count() or 1
    e1, e5, e15 = math.exp(-1 / 60), math.exp(-1 / 300), math.exp(-1 / 900)
    source = seeds[0].source
    start = seeds[-1].timestamp_ms + step_ms
    cpu = cpu_mean
    out = []
    for i in range(count):
        cpu += 0.3 * (cpu_mean - cpu) + rng.gauss(0, max(cpu_mean * 0.3, 0.5))
        value = cpu + (rng.uniform(20, 90) if rng.random() < 0.005 else 0.0)
        value = min(max(value, 0.0), 100.0)
        mem = min(max(mem + 0.01 * (mem_mean - mem) + rng.gauss(0, 0.03), 0.0), 100.0)
        if rng.random() < 0.001:
            disk = min(disk + 0.01, 100.0)
        runnable = value / 100 * ncpu + rng.gauss(0, 0.05)
        load1 = load1 * e1 + max(runnable, 0.0) * (1 - e1)
        load5 = load5 * e5 + max(runnable, 0.0) * (1 - e5)
        load15 = load15 * e15 + max(runnable, 0.0) * (1 - e15)
        out.append(
            MetricRecord(
                timestamp_ms=start + i * step_ms + rng.randint(0, 3),
                source=source,
                cpu_usage=round(value, 2),
                memory_usage=round(mem, 2),
                disk_usage=round(disk, 2),
                load_1m=round(load1, 4),
                load_5m=round(load5, 4),
                load_15m=round(load15, 4),
                disk_io_read=0 if rng.random() < 0.85 else rng.randint(1, 16) * 4096,
                disk_io_write=0 if rng.random() < 0.3 else int(rng.expovariate(1 / write_mean)),
                network_rx=int(rng.expovariate(1 / rx_mean)),
                network_tx=int(rng.expovariate(1 / tx_mean)),
                response_time=round(max(rng.gauss(rt_mean, rt_mean * 0.2), 0.05), 3),
            )
        )
    return out
