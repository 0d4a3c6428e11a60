"""`/metrics`: the Prometheus text exposition (prometheus_client), node_exporter style: one `scops_`
prefix, base units, ratios 0-1, `_total` only on counters, a `source` label on host series."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scops_tui.api import readings
from scops_tui.store.recorder_lock import RecorderLock
from scops_tui.store.timestamps import now_ms

log = logging.getLogger("scops_tui.api")

# `_created` series double every counter and histogram; Prometheus does not need them.
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CACHE_SECONDS = 1.0
"""Host series are read from the database at most once a second (samples come every few seconds)."""

# (metric name, help, record field, scale to base units)
HOST_GAUGES = (
    ("scops_cpu_usage_ratio", "Share of all CPUs busy (0-1) in the newest sample.", "cpu_usage", 0.01),
    ("scops_memory_usage_ratio", "Share of memory in use (0-1) in the newest sample.", "memory_usage", 0.01),
    ("scops_disk_usage_ratio", "Share of the watched filesystem in use (0-1).", "disk_usage", 0.01),
    ("scops_load1", "1-minute load average.", "load_1m", 1.0),
    ("scops_load5", "5-minute load average.", "load_5m", 1.0),
    ("scops_load15", "15-minute load average.", "load_15m", 1.0),
    ("scops_disk_read_bytes_per_second", "Bytes read from block devices per second.", "disk_io_read", 1.0),
    ("scops_disk_written_bytes_per_second", "Bytes written to block devices per second.", "disk_io_write", 1.0),
    (
        "scops_network_receive_bytes_per_second",
        "Bytes received per second on all interfaces but loopback.",
        "network_rx",
        1.0,
    ),
    (
        "scops_network_transmit_bytes_per_second",
        "Bytes sent per second on all interfaces but loopback.",
        "network_tx",
        1.0,
    ),
    ("scops_anomaly_score", "Anomaly score (0-1) of the newest sample.", "anomaly_score", 1.0),
)


class StoreCollector(Collector):
    """Reads host series from the database at scrape time (cached for `CACHE_SECONDS`)."""

    def __init__(self, db_path: Path, reader: Callable[[], sqlite3.Connection]) -> None:
        self.db_path = db_path
        self._reader = reader
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._cached_at = float("-inf")

    def describe(self) -> list[Metric]:
        """Nothing up front: the series depend on the database (keeps registration free of queries)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The host series, read afresh at most once a second."""
        with self._lock:
            if time.monotonic() - self._cached_at >= CACHE_SECONDS:
                self._cached = self._read()
                self._cached_at = time.monotonic()
            yield from self._cached

    def _read(self) -> list[Metric]:
        conn = self._reader()
        newest = readings.newest_samples(conn)
        opened, total = readings.episode_counts(conn)
        now = now_ms()
        families: list[Metric] = []
        for name, text, field, scale in HOST_GAUGES:
            family = GaugeMetricFamily(name, text, labels=["source"])
            for source, sample in newest.items():
                if sample.get(field) is not None:
                    family.add_metric([source], float(sample[field]) * scale)
            families.append(family)
        stamp = GaugeMetricFamily(
            "scops_last_sample_timestamp_seconds", "Unix time of the newest sample.", labels=["source"]
        )
        age = GaugeMetricFamily(
            "scops_newest_sample_age_seconds", "Seconds since the newest sample.", labels=["source"]
        )
        for source, sample in newest.items():
            stamp.add_metric([source], sample["timestamp_ms"] / 1000)
            age.add_metric([source], max(now - sample["timestamp_ms"], 0) / 1000)
        open_family = GaugeMetricFamily(
            "scops_anomaly_episodes_open",
            "Anomaly episodes neither acknowledged nor resolved, by severity.",
            labels=["source", "severity"],
        )
        opened_family = CounterMetricFamily(
            "scops_anomaly_episodes_opened",
            "Anomaly episodes opened, by severity (pruning old episodes lowers it, which reads as a reset).",
            labels=["source", "severity"],
        )
        for source in sorted({s for s, _ in total} | set(newest)):
            for severity in readings.SEVERITIES:
                open_family.add_metric([source, severity], opened.get((source, severity), 0))
                opened_family.add_metric([source, severity], total.get((source, severity), 0))
        running = GaugeMetricFamily("scops_recorder_running", "1 while a recorder is writing this database.")
        running.add_metric([], 1.0 if RecorderLock(self.db_path).held_by_other() else 0.0)
        return [*families, stamp, age, open_family, opened_family, running]


class ApiMetrics:
    """The API's own series and the exposition of everything."""

    def __init__(self, db_path: Path, reader: Callable[[], sqlite3.Connection], usage: Any = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "scops_api_requests",
            "HTTP requests served by scops-tui serve, by endpoint, method and status code.",
            ["endpoint", "method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "scops_api_request_duration_seconds",
            "Time to serve a request, by endpoint.",
            ["endpoint"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.registry.register(StoreCollector(db_path, reader))
        if usage is not None:
            self.registry.register(_UsageCollector(usage))

    def observe(self, endpoint: str, method: str, code: int, seconds: float) -> None:
        """Count one request and its duration."""
        self.requests.labels(endpoint, method, str(code)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def exposition(self) -> bytes:
        """The text format of every series."""
        return generate_latest(self.registry)


class _UsageCollector(Collector):
    def __init__(self, usage: Any) -> None:
        self.usage = usage

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        written = CounterMetricFamily("scops_api_usage_rows_written", "Rows of api_key_usage committed by this server.")
        written.add_metric([], float(self.usage.written))
        dropped = CounterMetricFamily(
            "scops_api_usage_rows_dropped", "Usage rows given up because the database refused writes too long."
        )
        dropped.add_metric([], float(self.usage.dropped))
        yield written
        yield dropped
