"""Plain data that moves between the sampler, the store and the readers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricRecord:
    """One sample of a host (or of an imported series) in plain units."""

    timestamp_ms: int
    """Collection time, UTC epoch milliseconds."""
    source: str
    """Which host or imported series the sample belongs to."""
    cpu_usage: float
    """Percent of all CPUs busy, 0 to 100."""
    memory_usage: float
    """Percent of memory in use, 0 to 100."""
    disk_usage: float
    """Percent of the watched filesystem in use, 0 to 100."""
    load_1m: float
    load_5m: float
    load_15m: float | None
    disk_io_read: int
    """Bytes/s read from block devices."""
    disk_io_write: int
    """Bytes/s written to block devices."""
    network_rx: int
    """Bytes/s received on all interfaces but loopback."""
    network_tx: int
    """Bytes/s sent on all interfaces but loopback."""
    response_time: float
    """How long the sample took to collect, in milliseconds."""
    error_rate: float | None = None
    is_anomaly: bool = False
    anomaly_score: float | None = None
