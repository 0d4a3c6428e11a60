"""The dashboard: status line, live charts fed by the recorder, top processes, and read-only mode."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Label

from scops_tui.config import Settings
from scops_tui.detection.live import DetectionSettings
from scops_tui.recording.sampler import CounterReading, HostSampler
from scops_tui.store.recorder_lock import RecorderLock
from scops_tui.tui.app import ScopsApp
from scops_tui.tui.widgets.chart import MetricChart
from scops_tui.tui.widgets.process_table import ProcessTable
from scops_tui.tui.widgets.text_line import TextLine
from tests.tui.conftest import SAMPLES
from tests.tui.helpers import wait_for, workers_done

SIZE = (120, 40)


class SteadyCounters:
    """A host with a steady 25 % CPU and growing disk and network counters."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self) -> CounterReading:
        self.reads += 1
        n = self.reads
        return CounterReading(
            cpu_busy_seconds=0.5 * n,
            cpu_total_seconds=2.0 * n,
            memory_percent=42.0,
            disk_percent=61.0,
            load=(0.3, 0.2, 0.1),
            disk_read_bytes=1000 * n,
            disk_write_bytes=3000 * n,
            net_rx_bytes=700 * n,
            net_tx_bytes=200 * n,
        )


def status_text(app: ScopsApp) -> str:
    return str(app.screen.query_one("#status-line", Label).render())


async def test_status_line_shows_database_model_anomalies_and_sync(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "open anomalies" in status_text(app), "the status facts")
        text = status_text(app)
    assert "not recording" in text
    assert "db scops.db" in text
    assert "KiB" in text or "MiB" in text
    assert "model v1" in text
    assert "open anomalies: 3" in text
    assert "sync: not configured" in text


async def test_charts_fill_from_stored_samples_and_processes_show(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        cpu = app.screen.query_one("#chart-cpu", MetricChart)
        # Ten minutes and a minute's margin of 5-s samples: the stored samples fill the live charts.
        assert app.live_points == 132
        await wait_for(pilot, lambda: len(cpu.values) == app.live_points, "the stored samples")
        table = app.screen.query_one("#processes", ProcessTable)
        await wait_for(pilot, lambda: table.row_count == 3, "the processes")
        assert table.column_values(1) == ["stress-ng", "postgres", "python3"]
        for key in ("memory", "disk", "load", "diskio", "network"):
            assert len(app.screen.query_one(f"#chart-{key}", MetricChart).values) == app.live_points
        assert "anomaly score" in str(app.screen.query_one("#anomaly-score", TextLine).render())
        assert len(app.recent) == app.live_points


async def test_recording_feeds_the_live_charts_and_writes_the_database(
    make_app: Callable[..., ScopsApp], seeded_db: Path
) -> None:
    sampler = HostSampler("livehost", SteadyCounters())
    detection = DetectionSettings(train_in_background=False, capture_processes=False)
    app = make_app(record=True, sampler=sampler, detection=detection)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "recording" in status_text(app), "the recorder to start")
        await wait_for(pilot, lambda: any(r.source == "livehost" for r in app.recent), "a live sample")
        live = [r for r in app.recent if r.source == "livehost"]
        assert live[-1].cpu_usage == 25.0
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, "the app to exit")
    conn = sqlite3.connect(seeded_db)
    try:
        stored = conn.execute("SELECT count(*) FROM metrics WHERE source = 'livehost'").fetchone()[0]
        total = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
    finally:
        conn.close()
    assert stored >= 1
    assert total == SAMPLES + stored
    assert not RecorderLock(seeded_db).held_by_other()


async def test_only_reads_when_another_process_records(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    other = RecorderLock(seeded_db)
    other.acquire()
    try:
        sampler = HostSampler("livehost", SteadyCounters())
        app = make_app(record=True, sampler=sampler)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "another process records" in status_text(app), "the read-only notice")
            await workers_done(app)
            assert app.is_running
    finally:
        other.release()
    conn = sqlite3.connect(seeded_db)
    try:
        assert conn.execute("SELECT count(*) FROM metrics WHERE source = 'livehost'").fetchone()[0] == 0
    finally:
        conn.close()


async def test_ctrl_r_rereads_the_status(make_app: Callable[..., ScopsApp], seeded_db: Path) -> None:
    from scops_tui.detection import review
    from scops_tui.store import database as store

    app = make_app(refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "open anomalies: 3" in status_text(app), "the status facts")
        conn = store.open_database(seeded_db)
        try:
            review.acknowledge(conn, 1, store.operator_username())
        finally:
            conn.close()
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "open anomalies: 2" in status_text(app), "the new count")


async def test_first_run_records_into_a_new_database(tmp_path: Path) -> None:
    from scops_tui.config import Settings
    from scops_tui.tui.app import create_app
    from tests.tui.conftest import fixed_processes

    db = tmp_path / "fresh" / "new.db"
    app = create_app(
        Settings(db=db, source="livehost"),
        sampler=HostSampler("livehost", SteadyCounters()),
        detection=DetectionSettings(train_in_background=False, capture_processes=False),
        process_reader=fixed_processes,
        refresh_seconds=3600,
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "open anomalies: 0" in status_text(app), "the status of the new database")
        assert "recording" in status_text(app)
        await wait_for(pilot, lambda: len(app.recent) >= 1, "a live sample")
    assert db.exists()


async def test_processes_sort_and_filter(make_app: Callable[..., ScopsApp]) -> None:
    from tests.tui.helpers import table_column

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#processes", ProcessTable)
        await wait_for(pilot, lambda: table.row_count == 3, "the processes")
        assert table_column(table, "name") == ["stress-ng", "postgres", "python3"]  # cpu, largest first
        title = app.screen.query_one("#processes-title")
        await pilot.press("o")  # memory
        assert table_column(table, "name") == ["postgres", "python3", "stress-ng"]
        assert "by memory" in str(title.render())
        await pilot.press("o")  # pid
        assert table_column(table, "pid") == ["777", "1001", "4242"]
        await pilot.press("o")  # name
        assert table_column(table, "name") == ["postgres", "python3", "stress-ng"]
        await pilot.press("slash", *"post")
        await wait_for(pilot, lambda: table_column(table, "name") == ["postgres"], "the filter")
        assert 'filter "post"' in str(title.render())
        await pilot.press("enter")  # keeps the filter, back to the table
        assert table_column(table, "name") == ["postgres"]
        await pilot.press("escape")
        assert table.row_count == 3


async def test_live_extras_toggle(make_app: Callable[..., ScopsApp]) -> None:
    from textual.widgets import Static

    from scops_tui.tui.screens.dashboard import DashboardScreen

    app = make_app(refresh_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        extras = app.screen.query_one("#live-extras", Static)
        assert not extras.display
        await pilot.press("e")
        assert extras.display
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_for(pilot, lambda: screen.extras is not None and bool(screen.extras.cores), "a second reading")
        assert screen.extras is not None
        assert all(0.0 <= value <= 100.0 for value in screen.extras.cores)  # contract, not a fixed number
        assert screen.extras.swap_used <= screen.extras.swap_total or screen.extras.swap_total == 0
        text = str(extras.render())
        assert "cores" in text and "swap" in text and "disks" in text and "net" in text
        await pilot.press("e")
        assert not extras.display


async def test_a_score_below_the_lowest_band_reads_normal(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        label = app.screen.query_one("#anomaly-score", TextLine)
        await wait_for(pilot, lambda: "severity" in str(label.render()), "the score")
        assert "severity: normal" in str(label.render())
        assert "low" not in str(label.render())


async def test_80_by_24_keeps_every_part_of_the_status_line_and_the_footer(make_app: Callable[..., ScopsApp]) -> None:
    from textual.widgets import Footer

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        # The status facts and the process list arrive from separate workers: wait until every part is in.
        await wait_for(
            pilot,
            lambda: (
                all(part in status_text(app) for part in ("open anomalies", "sync:", "model v"))
                and "hidden" in str(app.screen.query_one("#processes-title").render())
            ),
            "the status facts and the process list",
        )
        await pilot.pause()
        text = status_text(app)
        assert "open anomalies: 3" in text and "sync: not configured" in text and "model v1" in text
        assert app.screen.query_one("#status-line").size.height >= 2  # wrapped, not cut
        assert app.screen.query_one(Footer).compact
        assert "user column hidden" in str(app.screen.query_one("#processes-title").render())


async def test_percent_charts_default_to_0_100_and_y_toggles_autoscale(make_app: Callable[..., ScopsApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        disk = app.screen.query_one("#chart-disk", MetricChart)
        await wait_for(pilot, lambda: len(disk.values) == app.live_points, "the charts")
        assert not disk.autoscale
        assert disk.render_line(1).text.lstrip().startswith("100┤")
        await pilot.press("y")
        assert disk.autoscale
        assert not disk.render_line(1).text.lstrip().startswith("100┤")


async def test_in_the_background_the_dashboard_draws_and_scans_nothing_and_catches_up_on_return(
    make_app: Callable[..., ScopsApp],
) -> None:
    from dataclasses import replace

    from textual import events

    from scops_tui.recording.processes import ProcessUsage
    from scops_tui.tui.messages import SampleTaken

    scans: list[int] = []

    def counting(limit: int) -> list[ProcessUsage]:
        scans.append(limit)
        return []

    app = make_app(refresh_seconds=0.1, process_reader=counting)
    async with app.run_test(size=SIZE) as pilot:
        cpu = app.screen.query_one("#chart-cpu", MetricChart)
        await wait_for(pilot, lambda: len(cpu.values) == app.live_points, "the stored samples")
        await wait_for(pilot, lambda: len(scans) >= 2, "the process refreshes")
        last = app.recent[-1]
        app.post_message(events.AppBlur())  # the terminal reports it went to the background
        await wait_for(pilot, lambda: not app.app_focus, "the blur")
        await pilot.pause(0.3)  # a refresh that had started may still finish
        scanned = len(scans)
        sample = replace(last, timestamp_ms=last.timestamp_ms + 5000, cpu_usage=77.7)
        app.post_message(SampleTaken(sample))
        await wait_for(pilot, lambda: app.recent[-1] == sample, "the sample to be kept")
        await pilot.pause(0.5)  # five refresh periods
        assert len(scans) == scanned  # no process scan in the background
        assert cpu.data is not None and cpu.data.points[-1][0] == last.timestamp_ms  # nothing drawn
        assert "77.7 %" not in cpu.render_line(0).text
        app.post_message(events.AppFocus())
        await wait_for(pilot, lambda: "77.7 %" in cpu.render_line(0).text, "the catch-up on return")
        assert cpu.data is not None and cpu.data.points[-1][0] == sample.timestamp_ms
        await wait_for(pilot, lambda: len(scans) > scanned, "the process refresh on return")


async def test_samples_within_one_display_period_paint_once_and_the_next_shows_them_all(
    make_app: Callable[..., ScopsApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from scops_tui.tui.messages import SampleTaken
    from scops_tui.tui.screens import dashboard

    now = [1000.0]
    monkeypatch.setattr(dashboard, "clock", lambda: now[0])
    app = make_app(refresh_seconds=3600, display_seconds=10)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, dashboard.DashboardScreen)
        cpu = screen.query_one("#chart-cpu", MetricChart)
        await wait_for(pilot, lambda: len(cpu.values) == app.live_points, "the stored samples")
        last = app.recent[-1]
        samples = [
            replace(last, timestamp_ms=last.timestamp_ms + 1000 * i, cpu_usage=10.0 + i, anomaly_score=0.01 * i)
            for i in range(1, 6)
        ]
        now[0] += 10  # a display period after the stored samples were drawn
        app.post_message(SampleTaken(samples[0]))
        await wait_for(pilot, lambda: "11.0 %" in cpu.render_line(0).text, "the first sample at once")
        painted = screen.live_paints
        for sample in samples[1:4]:  # three more within the same display period
            now[0] += 1
            app.post_message(SampleTaken(sample))
        await wait_for(pilot, lambda: app.recent[-1] == samples[3], "the samples to be kept")
        await pilot.pause()
        assert screen.live_paints == painted  # nothing painted: the period has not passed
        assert "11.0 %" in cpu.render_line(0).text
        assert "0.010" in str(screen.query_one("#anomaly-score", TextLine).render())
        now[0] += 7  # the period is over: the next sample paints at once, with the three that waited
        app.post_message(SampleTaken(samples[4]))
        await wait_for(pilot, lambda: screen.live_paints == painted + 1, "one repaint")
        assert "15.0 %" in cpu.render_line(0).text  # the newest sample is the headline
        assert "0.050" in str(screen.query_one("#anomaly-score", TextLine).render())
        assert cpu.data is not None
        assert [p[0] for p in cpu.data.points[-5:]] == [s.timestamp_ms for s in samples]


async def test_a_sample_left_waiting_paints_when_the_display_period_ends(make_app: Callable[..., ScopsApp]) -> None:
    from dataclasses import replace

    from scops_tui.tui.messages import SampleTaken
    from scops_tui.tui.screens.dashboard import DashboardScreen

    app = make_app(refresh_seconds=3600, display_seconds=0.5)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        cpu = screen.query_one("#chart-cpu", MetricChart)
        await wait_for(pilot, lambda: len(cpu.values) == app.live_points, "the stored samples")
        last = app.recent[-1]
        first = replace(last, timestamp_ms=last.timestamp_ms + 5000, cpu_usage=71.0)
        second = replace(last, timestamp_ms=last.timestamp_ms + 10000, cpu_usage=72.0)
        await pilot.pause(0.6)
        app.post_message(SampleTaken(first))
        app.post_message(SampleTaken(second))  # no further sample comes: the period's end paints it
        await wait_for(pilot, lambda: "72.0 %" in cpu.render_line(0).text, "the waiting sample")


async def test_display_0_paints_every_sample(make_app: Callable[..., ScopsApp]) -> None:
    from dataclasses import replace

    from scops_tui.tui.messages import SampleTaken
    from scops_tui.tui.screens.dashboard import DashboardScreen

    app = make_app(refresh_seconds=3600, display_seconds=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        cpu = screen.query_one("#chart-cpu", MetricChart)
        await wait_for(pilot, lambda: len(cpu.values) == app.live_points, "the stored samples")
        painted = screen.live_paints
        last = app.recent[-1]
        for i in range(1, 4):
            app.post_message(SampleTaken(replace(last, timestamp_ms=last.timestamp_ms + 1000 * i)))
        await wait_for(pilot, lambda: screen.live_paints == painted + 3, "a repaint per sample")


def test_the_display_period_comes_from_the_config_file(tmp_path: Path, settings: Settings) -> None:
    from scops_tui.errors import ConfigError
    from scops_tui.tui.app import DEFAULT_DISPLAY_SECONDS, create_app

    config = tmp_path / "config.toml"
    config.write_text("[tui]\ndisplay = 5\n")
    assert create_app(settings, keymap=config).display_seconds == 5.0
    config.write_text('[tui]\ntime = "utc"\n')
    assert create_app(settings, keymap=config).display_seconds == DEFAULT_DISPLAY_SECONDS
    config.write_text('[tui]\ndisplay = "fast"\n')
    with pytest.raises(ConfigError, match=r"tui\.display"):
        create_app(settings, keymap=config)


async def test_a_status_text_that_keeps_its_height_repaints_without_a_screen_layout(
    make_app: Callable[..., ScopsApp],
) -> None:
    from scops_tui.tui.screens.base import set_text

    app = make_app(refresh_seconds=3600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "open anomalies" in status_text(app), "the status facts")
        label = app.screen.query_one("#status-line", Label)
        layouts: list[bool] = []
        update = label.update

        def recording_update(markup: str, *, layout: bool = True) -> None:
            layouts.append(layout)
            update(markup, layout=layout)

        label.update = recording_update  # type: ignore[method-assign]
        assert label.size.height == 1
        set_text(label, "recording every 1 s │ open anomalies: 4")
        assert layouts == [False]
        set_text(label, "a long status " * 12)  # two lines at 120 columns
        assert layouts == [False, True]
        await wait_for(pilot, lambda: label.size.height == 2, "the wrapped status line")
        set_text(label, "another long status " * 8)  # still two lines
        assert layouts == [False, True, False]


async def test_the_status_is_read_again_only_after_the_database_changed(
    make_app: Callable[..., ScopsApp], seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scops_tui.detection import review
    from scops_tui.store import database as store
    from scops_tui.tui.readers import DatabaseWatch

    reads: list[str] = []
    looks: list[bool] = []
    status, changed = DatabaseWatch.status, DatabaseWatch.changed

    def counting_status(watch: DatabaseWatch, source: str) -> object:
        reads.append(source)
        return status(watch, source)

    def counting_changed(watch: DatabaseWatch) -> bool:
        looks.append(result := changed(watch))
        return result

    monkeypatch.setattr(DatabaseWatch, "status", counting_status)
    monkeypatch.setattr(DatabaseWatch, "changed", counting_changed)
    app = make_app(refresh_seconds=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "open anomalies: 3" in status_text(app), "the status facts")
        await wait_for(pilot, lambda: len(looks) >= 10, "ten looks at the database")
        assert len(reads) == 1  # the first look only: nothing changed since
        conn = store.open_database(seeded_db)
        try:
            review.acknowledge(conn, 1, store.operator_username())
        finally:
            conn.close()
        await wait_for(pilot, lambda: "open anomalies: 2" in status_text(app), "the new count")
        assert len(reads) == 2
