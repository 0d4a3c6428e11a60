"""The sampler: exact rates from a fake counter source, and a contract test against real psutil."""

from __future__ import annotations

import itertools

from scops_tui.recording.sampler import CounterReading, HostSampler, PsutilCounters
from scops_tui.store.records import MetricRecord


class FakeCounters:
    """Returns prepared readings in order."""

    def __init__(self, readings: list[CounterReading]) -> None:
        self._readings = iter(readings)

    def read(self) -> CounterReading:
        return next(self._readings)


def reading(busy: float, total: float, disk_r: int, disk_w: int, rx: int, tx: int) -> CounterReading:
    return CounterReading(
        cpu_busy_seconds=busy,
        cpu_total_seconds=total,
        memory_percent=41.234,
        disk_percent=63.5,
        load=(0.51234, 0.4, 0.3),
        disk_read_bytes=disk_r,
        disk_write_bytes=disk_w,
        net_rx_bytes=rx,
        net_tx_bytes=tx,
    )


def fixed_clock(values: list[float]) -> object:
    iterator = iter(values)
    return lambda: next(iterator)


def test_rates_and_cpu_percent_come_from_counter_deltas() -> None:
    counters = FakeCounters([reading(10, 100, 1000, 2000, 5000, 6000), reading(13, 104, 3000, 2000, 9000, 6500)])
    # monotonic: prime at 0.0; sample reads start 1.999, finish 2.0 (2 s after the baseline).
    sampler = HostSampler(
        "host-a",
        counters,
        wall_clock=lambda: 1_700_000_000.25,
        monotonic=fixed_clock([0.0, 1.999, 2.0]),  # type: ignore[arg-type]
    )
    sampler.prime()
    record = sampler.sample()
    assert record == MetricRecord(
        timestamp_ms=1_700_000_000_250,
        source="host-a",
        cpu_usage=75.0,
        memory_usage=41.23,
        disk_usage=63.5,
        load_1m=0.5123,
        load_5m=0.4,
        load_15m=0.3,
        disk_io_read=1000,
        disk_io_write=0,
        network_rx=2000,
        network_tx=250,
        response_time=1.0,
    )


def test_counter_going_backwards_gives_zero_not_negative() -> None:
    counters = FakeCounters([reading(10, 100, 5000, 5000, 5000, 5000), reading(11, 102, 100, 100, 100, 100)])
    sampler = HostSampler("h", counters, wall_clock=lambda: 1.0, monotonic=fixed_clock([0.0, 1.0, 1.0]))  # type: ignore[arg-type]
    sampler.prime()
    record = sampler.sample()
    assert (record.disk_io_read, record.disk_io_write, record.network_rx, record.network_tx) == (0, 0, 0, 0)
    assert record.cpu_usage == 50.0


def test_timestamps_strictly_increase_even_if_the_wall_clock_steps_back() -> None:
    readings = [reading(i, 10 * i, 0, 0, 0, 0) for i in range(1, 5)]
    sampler = HostSampler(
        "h",
        FakeCounters(readings),
        wall_clock=fixed_clock([100.0, 99.0, 99.0]),  # type: ignore[arg-type]
        monotonic=lambda: float(next(counter)),
    )
    counter = itertools.count()
    stamps = [sampler.sample().timestamp_ms for _ in range(3)]
    assert stamps == [100_000, 100_001, 100_002]


def test_real_psutil_readings_satisfy_the_contract() -> None:
    sampler = HostSampler("contract", PsutilCounters())
    sampler.prime()
    records = [sampler.sample() for _ in range(3)]
    for record in records:
        for percent in (record.cpu_usage, record.memory_usage, record.disk_usage):
            assert isinstance(percent, float)
            assert 0.0 <= percent <= 100.0
        assert record.memory_usage > 0.0
        assert record.disk_usage > 0.0
        for load in (record.load_1m, record.load_5m, record.load_15m):
            assert isinstance(load, float)
            assert load >= 0.0
        for rate in (record.disk_io_read, record.disk_io_write, record.network_rx, record.network_tx):
            assert isinstance(rate, int)
            assert rate >= 0
        assert 0.0 <= record.response_time < 5000.0
        assert record.timestamp_ms > 1_600_000_000_000
    assert [r.timestamp_ms for r in records] == sorted({r.timestamp_ms for r in records})
