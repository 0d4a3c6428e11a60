"""Samples the host: CPU percent and disk/network rates computed from counter deltas between two reads."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from scops_tui.store.records import MetricRecord


@dataclass(frozen=True, slots=True)
class CounterReading:
    """Raw readings of the host at one instant; cumulative counters are totals since boot."""

    cpu_busy_seconds: float
    cpu_total_seconds: float
    memory_percent: float
    disk_percent: float
    load: tuple[float, float, float]
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int


class CounterSource(Protocol):
    """Something that reads the host's counters (psutil in production, a fake in tests)."""

    def read(self) -> CounterReading:
        """Read every counter once."""
        ...


class PsutilCounters:
    """Reads counters with psutil; loopback traffic is left out of the network rates."""

    def __init__(self, disk_path: str = "/") -> None:
        import psutil

        self._psutil = psutil
        self._disk_path = disk_path

    def read(self) -> CounterReading:
        """Read cpu times, memory, filesystem use, load and the disk and network counters."""
        ps = self._psutil
        times = ps.cpu_times()
        # psutil's own busy-time rule: guest time is already inside user time; idle and iowait are not busy.
        total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
        busy = total - times.idle - getattr(times, "iowait", 0.0)
        disk_io = ps.disk_io_counters(perdisk=False, nowrap=True)
        rx = tx = 0
        for name, nic in ps.net_io_counters(pernic=True, nowrap=True).items():
            if name != "lo":
                rx += nic.bytes_recv
                tx += nic.bytes_sent
        return CounterReading(
            cpu_busy_seconds=busy,
            cpu_total_seconds=total,
            memory_percent=ps.virtual_memory().percent,
            disk_percent=ps.disk_usage(self._disk_path).percent,
            load=os.getloadavg() if hasattr(os, "getloadavg") else ps.getloadavg(),
            disk_read_bytes=disk_io.read_bytes if disk_io else 0,
            disk_write_bytes=disk_io.write_bytes if disk_io else 0,
            net_rx_bytes=rx,
            net_tx_bytes=tx,
        )


def _clamp_percent(value: float) -> float:
    return min(max(value, 0.0), 100.0)


class HostSampler:
    """Turns successive counter readings into MetricRecords (rates over the time between readings)."""

    def __init__(
        self,
        source: str,
        counters: CounterSource | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.source = source
        self._counters = counters if counters is not None else PsutilCounters()
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._previous: CounterReading | None = None
        self._previous_at = 0.0
        self._last_timestamp_ms = -1
        self.shifted_ms = 0
        """How many ms the last sample's timestamp was moved past its wall time (0: stamped at wall time)."""
        self.restamped = 0
        """Samples stamped 1 ms after the previous one because the wall clock was at or before it."""

    def continue_after(self, timestamp_ms: int) -> None:
        """Stamp every later sample after `timestamp_ms` (e.g. the newest stored sample of this source)."""
        self._last_timestamp_ms = max(self._last_timestamp_ms, timestamp_ms)

    def prime(self) -> None:
        """Take the baseline reading that the first sample's rates are measured against."""
        self._previous = self._counters.read()
        self._previous_at = self._monotonic()

    def sample(self) -> MetricRecord:
        """Read the counters and return the sample since the previous reading (priming first if needed)."""
        if self._previous is None:
            self.prime()
        started = self._monotonic()
        reading = self._counters.read()
        finished = self._monotonic()
        timestamp_ms = int(self._wall_clock() * 1000)
        # A source's timestamps only ever increase, even if the wall clock steps back (NTP, a VM resumed
        # from a snapshot): until the clock catches up, each sample is stamped 1 ms after the previous one.
        self.shifted_ms = max(self._last_timestamp_ms + 1 - timestamp_ms, 0)
        if self.shifted_ms:
            timestamp_ms = self._last_timestamp_ms + 1
            self.restamped += 1
        self._last_timestamp_ms = timestamp_ms
        previous = self._previous
        assert previous is not None
        elapsed = max(finished - self._previous_at, 1e-6)
        total = reading.cpu_total_seconds - previous.cpu_total_seconds
        busy = reading.cpu_busy_seconds - previous.cpu_busy_seconds
        cpu = _clamp_percent(100.0 * busy / total) if total > 0 else 0.0
        self._previous, self._previous_at = reading, finished

        def rate(now: int, before: int) -> int:
            # A counter that went backwards (device removed, reset) gives no rate for this interval.
            return max(round((now - before) / elapsed), 0)

        return MetricRecord(
            timestamp_ms=timestamp_ms,
            source=self.source,
            cpu_usage=round(cpu, 2),
            memory_usage=round(_clamp_percent(reading.memory_percent), 2),
            disk_usage=round(_clamp_percent(reading.disk_percent), 2),
            load_1m=round(max(reading.load[0], 0.0), 4),
            load_5m=round(max(reading.load[1], 0.0), 4),
            load_15m=round(max(reading.load[2], 0.0), 4),
            disk_io_read=rate(reading.disk_read_bytes, previous.disk_read_bytes),
            disk_io_write=rate(reading.disk_write_bytes, previous.disk_write_bytes),
            network_rx=rate(reading.net_rx_bytes, previous.net_rx_bytes),
            network_tx=rate(reading.net_tx_bytes, previous.net_tx_bytes),
            response_time=round((finished - started) * 1000, 3),
        )
