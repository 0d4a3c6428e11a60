"""The terminal app's own speed: launch to a painted dashboard, a 30-day history redraw, idle CPU.

1. Launch: `scops-tui --db DB tui --no-record` starts in a 120x40 tmux window; the time from spawn until
   the captured screen shows the dashboard with its data ("open anomalies") is taken, 5 times.
2. History: 30 days of 5-second samples (518,400 rows) in a database; the time the History screen's
   worker needs to read the 30-day window (`readers.read_history`, the SQL downsampling), and the time
   from pressing `o` in the running app (Pilot) until the screen shows the loaded window; beside it the
   same Pilot press and pause for a key bound to nothing (the harness's own idle waits, 20-ms steps), and
   the redraw in a real terminal: `o` sent to the app in tmux until the captured screen shows the window.
3. Idle CPU: the app open on its dashboard, recording at 1 s (plain `scops-tui`), beside the headless
   `scops-tui record --interval 1` in the same run, both measured from /proc over `--seconds`.

Goals (issue 14): launch <= 0.5 s, 30-day redraw <= 100 ms, idle CPU of the open app <= 2x the recorder's.

    .venv/bin/python bench/tui.py [--seconds 120] [--runs 5]
    .venv/bin/python bench/tui.py --ui-thread --seconds 30   # where the app's idle CPU goes, by thread
    .venv/bin/python bench/tui.py --textual-floor --seconds 60  # the same two measures for a bare Textual app
    .venv/bin/python bench/tui.py --frame-cost                  # what one small repaint of the dashboard costs
    .venv/bin/python bench/tui.py --by-thread --seconds 30      # the app in tmux, recording at 1 s: CPU by thread
    .venv/bin/python bench/tui.py --idle --seconds 60 --runs 5  # the idle measure alone, repeated: its spread
    .venv/bin/python bench/tui.py --idle --display 60 --runs 3  # the same with (nearly) no drawing: the floor
    .venv/bin/python bench/tui.py --by-thread --display 60      # where the floor goes, by thread
    .venv/bin/python bench/tui.py --compositor                  # a partial update: our compositor vs Textual's
    .venv/bin/python bench/tui.py --chart-slots                 # a live chart's slot values, part of each rebuild
    .venv/bin/python bench/tui.py --process-scan                # the dashboard's process scan and table refresh
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scops_tui.store import database as store
from scops_tui.store import rollup
from scops_tui.store.records import MetricRecord

if TYPE_CHECKING:
    from scops_tui.tui.app import ScopsApp

SCOPS = Path(sys.executable).with_name("scops-tui")
TICKS = os.sysconf("SC_CLK_TCK")
DAY_MS = 86_400_000


def cpu_seconds(pid: int) -> float:
    """CPU time of process `pid` (all its threads, those ended included), to the nanosecond: Linux's CPU
    clock of the process, `((~pid) << 3) | 2` (CPUCLOCK_SCHED), as `clock_getcpuclockid(3)` would give it.
    /proc's utime and stime count 10-ms ticks: over 60 s a recorder at 0.2 % is 12 ticks, so one tick more or
    less at either end moved a ratio by 8 %. Falls back to /proc where the clock cannot be read."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)
    except OSError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=False).stdout


def seed(path: Path, days: float, now_ms: int, source: str) -> int:
    rng = random.Random(3)
    rows = int(days * DAY_MS / 5000)
    conn = store.open_database(path)
    system = store.user_id(conn, "system")
    records = (
        MetricRecord(
            now_ms - (rows - i) * 5000,
            source,
            10 + 30 * rng.random(),
            40 + rng.random(),
            55.0,
            rng.random(),
            0.5,
            0.5,
            rng.randint(0, 10**6),
            rng.randint(0, 10**6),
            rng.randint(0, 10**5),
            rng.randint(0, 10**5),
            1.0,
            None,
            False,
            rng.random() * 0.3,
        )
        for i in range(rows)
    )
    store.insert_metrics(conn, records, created_by=system, created_at=now_ms)
    rollup.catch_up(conn)  # as the recorder does every minute
    conn.close()
    return rows


def app_pid(pattern: str) -> int | None:
    """The pid of the Python process whose command line contains `pattern` (the app, not tmux or env)."""
    found = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True, check=False)
    for pid in (int(p) for p in found.stdout.split()):
        try:
            if "python" in os.readlink(f"/proc/{pid}/exe"):
                return pid
        except OSError:
            continue
    return None


def launch_times(db: Path, home: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds from spawn to the painted dashboard, and the app's CPU seconds at that moment."""
    times, cpu = [], []
    for run in range(runs):
        socket = f"scops-bench-{os.getpid()}-{run}"
        command = f"env -u COLUMNS -u LINES SCOPS_HOME={home} {SCOPS} --db {db} tui --no-record"
        started = time.perf_counter()
        tmux(socket, "new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)
        while True:
            screen = tmux(socket, "capture-pane", "-p", "-t", "app")
            if "Dashboard" in screen and "open anomalies" in screen:
                times.append(time.perf_counter() - started)
                pid = app_pid(f"--db {db} tui --no-record")
                if pid is not None:
                    cpu.append(cpu_seconds(pid))
                break
            if time.perf_counter() - started > 30:
                raise SystemExit("the dashboard did not appear within 30 s")
            time.sleep(0.01)
        tmux(socket, "send-keys", "-t", "app", "q")
        time.sleep(0.5)
        tmux(socket, "kill-server")
    return times, cpu


def terminal_redraws(db: Path, home: Path, runs: int) -> list[float]:
    """Key press to loaded 30-day History in a real terminal: tmux send-keys `o`, then poll the screen."""
    socket = f"scops-bench-history-{os.getpid()}"
    command = f"env -u COLUMNS -u LINES SCOPS_HOME={home} {SCOPS} --db {db} tui --no-record"
    tmux(socket, "new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)

    def wait_until(*texts: str) -> float:
        started = time.perf_counter()
        while True:
            screen = tmux(socket, "capture-pane", "-p", "-t", "app")
            if all(text in screen for text in texts):
                return time.perf_counter()
            if time.perf_counter() - started > 30:
                raise SystemExit(f"the screen did not show {texts} within 30 s")
            time.sleep(0.005)

    times = []
    try:
        wait_until("Dashboard", "open anomalies")
        tmux(socket, "send-keys", "-t", "app", "2")
        wait_until("range 1h", "←→ pan")
        for _ in range(runs):
            tmux(socket, "send-keys", "-t", "app", "h")
            wait_until("range 1h", "←→ pan")
            time.sleep(0.5)
            started = time.perf_counter()
            tmux(socket, "send-keys", "-t", "app", "o")
            times.append(wait_until("range 30d", "←→ pan") - started)
    finally:
        tmux(socket, "send-keys", "-t", "app", "q")
        time.sleep(0.5)
        tmux(socket, "kill-server")
    return times


def history_times(db: Path, source: str, now_ms: int, runs: int) -> tuple[list[float], list[float], list[float]]:
    from scops_tui.config import load_settings
    from scops_tui.tui import readers
    from scops_tui.tui.app import create_app
    from scops_tui.tui.screens.history import HistoryScreen

    reads = []
    for _ in range(runs):
        started = time.perf_counter()
        readers.read_history(db, source, now_ms - 30 * DAY_MS, now_ms, 116)
        reads.append(time.perf_counter() - started)

    async def redraws() -> tuple[list[float], list[float]]:
        app = create_app(
            load_settings({"db": db, "source": source}), record=False, clock=lambda: now_ms, time_zone="utc"
        )
        result, floor = [], []
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("2")
            await pilot.pause(1.0)
            screen = app.screen
            assert isinstance(screen, HistoryScreen)
            for _ in range(runs):
                await pilot.press("h")  # back to 1 h, so the next press really reloads 30 days
                await pilot.pause(0.5)
                started = time.perf_counter()
                await pilot.press("o")
                while screen.loaded_label != "30d":
                    await asyncio.sleep(0.002)
                await pilot.pause()
                result.append(time.perf_counter() - started)
                # The harness's own floor: the same press and pause for a key bound to nothing.
                await pilot.pause(0.5)
                started = time.perf_counter()
                await pilot.press("j")
                await pilot.pause()
                floor.append(time.perf_counter() - started)
            await pilot.press("q")
        return result, floor

    redraw, floor = asyncio.run(redraws())
    return reads, redraw, floor


def idle_cpu(home: Path, seconds: float, display: float | None = None) -> dict[str, dict[str, float]]:
    socket = f"scops-bench-idle-{os.getpid()}"
    if display is not None:  # the app's display period ([tui] display in its config file)
        (home / "config.toml").write_text(f"[tui]\ndisplay = {display:g}\n")
    app_db, rec_db = home / "app.db", home / "recorder.db"
    env = {**os.environ, "SCOPS_HOME": str(home), "SCOPS_INTERVAL": "1"}
    command = f"env -u COLUMNS -u LINES SCOPS_HOME={home} SCOPS_INTERVAL=1 {SCOPS} --db {app_db}"
    tmux(socket, "new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)
    recorder = subprocess.Popen([str(SCOPS), "--db", str(rec_db), "record", "--interval", "1", "--quiet"], env=env)
    try:
        time.sleep(10)  # past start-up: imports, first paint, first samples
        found = subprocess.run(["pgrep", "-f", "--", f"--db {app_db}"], capture_output=True, text=True, check=False)
        pids = [int(pid) for pid in found.stdout.split()]
        app_pid = next(pid for pid in pids if "python" in os.readlink(f"/proc/{pid}/exe"))
        pids_of = {"app": app_pid, "recorder": recorder.pid}
        start = {name: cpu_seconds(pid) for name, pid in pids_of.items()}
        time.sleep(seconds)
        end = {name: cpu_seconds(pid) for name, pid in pids_of.items()}
        return {
            name: {"cpu_percent": 100 * (end[name] - start[name]) / seconds, "peak_rss_mib": peak_rss_mib(pid)}
            for name, pid in pids_of.items()
        }
    finally:
        tmux(socket, "send-keys", "-t", "app", "q")
        recorder.terminate()
        recorder.wait(timeout=30)
        time.sleep(1)
        tmux(socket, "kill-server")


def thread_cpu(seconds: float, display: float | None = None) -> tuple[float, list[tuple[str, float]]]:
    """The app in tmux (120x40) recording at 1 s: CPU of the process and of each thread (percent of a core)
    over `seconds` after a 10-s start; threads named by `py-spy dump` when py-spy is installed. A thread's
    time is the scheduler's `se.sum_exec_runtime` (ms, /proc/<pid>/task/<tid>/sched), /proc's 10-ms ticks
    where that file is missing."""
    import re

    def thread_seconds(pid: int, tid: str) -> float:
        try:
            for line in Path(f"/proc/{pid}/task/{tid}/sched").read_text().splitlines():
                if line.startswith("se.sum_exec_runtime"):
                    return float(line.split(":")[1]) / 1000
        except OSError:
            pass
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def per_thread(pid: int) -> dict[str, float]:
        times = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                times[tid] = thread_seconds(pid, tid)
            except OSError:
                continue
        return times

    with tempfile.TemporaryDirectory() as tmp:
        socket = f"scops-bench-threads-{os.getpid()}"
        db = Path(tmp) / "threads.db"
        if display is not None:
            (Path(tmp) / "config.toml").write_text(f"[tui]\ndisplay = {display:g}\n")
        command = f"env -u COLUMNS -u LINES SCOPS_HOME={tmp} SCOPS_INTERVAL=1 {SCOPS} --db {db}"
        tmux(socket, "new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)
        try:
            time.sleep(10)
            pid = app_pid(f"--db {db}")
            assert pid is not None
            before, total_before = per_thread(pid), cpu_seconds(pid)
            time.sleep(seconds)
            after, total = per_thread(pid), cpu_seconds(pid) - total_before
            names: dict[str, str] = {}
            spy = Path(sys.executable).with_name("py-spy")
            if spy.exists():
                dump = subprocess.run([str(spy), "dump", "-p", str(pid)], capture_output=True, text=True).stdout
                names = dict(re.findall(r'^Thread (\d+) \([^)]*\): "([^"]+)"', dump, re.MULTILINE))
        finally:
            tmux(socket, "send-keys", "-t", "app", "q")
            time.sleep(1)
            tmux(socket, "kill-server")
    rows = [(names.get(tid, tid), 100 * (after[tid] - before.get(tid, 0.0)) / seconds) for tid in after]
    return 100 * total / seconds, sorted(rows, key=lambda row: -row[1])


def ui_thread_cpu(seconds: float, record: bool) -> tuple[float, float]:
    """CPU of the whole process and of its UI thread (percent of one core), app under Pilot at 120x40."""
    import threading

    import psutil

    from scops_tui.config import Settings
    from scops_tui.tui.app import create_app

    async def measure() -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["SCOPS_HOME"] = tmp
            settings = Settings(db=Path(tmp) / "idle.db", source="idle-host", interval=1.0)
            app = create_app(settings, record=record, time_zone="utc")
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause(8)
                me = psutil.Process()
                main_id = threading.main_thread().native_id
                before = {t.id: t.user_time + t.system_time for t in me.threads()}
                started = time.process_time()
                await pilot.pause(seconds)
                total = time.process_time() - started
                after = {t.id: t.user_time + t.system_time for t in me.threads()}
                ui = after.get(main_id, 0.0) - before.get(main_id, 0.0)
            return 100 * total / seconds, 100 * ui / seconds

    return asyncio.run(measure())


BARE_APP = """
from textual.app import App
from textual.widgets import Footer, Header, Label


class Bare(App[None]):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self):
        yield Header()
        yield Label("Dashboard  open anomalies: 0")
        yield Footer()


Bare().run()
"""


def textual_floor(seconds: float, runs: int) -> tuple[list[float], float]:
    """Launch-to-paint times and idle CPU (percent of a core) of a bare Textual app (Header, Label, Footer)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bare_textual_app.py"
        script.write_text(BARE_APP)
        command = f"env -u COLUMNS -u LINES {sys.executable} {script}"
        times = []
        for run in range(runs + 1):
            socket = f"scops-bench-bare-{os.getpid()}-{run}"
            started = time.perf_counter()
            tmux(socket, "new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)
            while "open anomalies" not in tmux(socket, "capture-pane", "-p", "-t", "app"):
                if time.perf_counter() - started > 30:
                    raise SystemExit("the bare app did not appear within 30 s")
                time.sleep(0.01)
            times.append(time.perf_counter() - started)
            if run < runs:
                tmux(socket, "send-keys", "-t", "app", "q")
                time.sleep(0.5)
                tmux(socket, "kill-server")
        try:  # the last one stays open for the idle measure
            time.sleep(5)
            pid = app_pid(str(script))
            assert pid is not None
            before = cpu_seconds(pid)
            time.sleep(seconds)
            idle = 100 * (cpu_seconds(pid) - before) / seconds
        finally:
            tmux(socket, "send-keys", "-t", "app", "q")
            time.sleep(0.5)
            tmux(socket, "kill-server")
    return times[:runs], idle


@asynccontextmanager
async def dashboard_under_pilot() -> AsyncIterator[ScopsApp]:
    """The app on its dashboard under Pilot at 120x40, not recording, 40 fixed processes in the table, 3 s
    after start (what the frame and compositor measures draw on)."""
    from scops_tui.config import Settings
    from scops_tui.recording.processes import ProcessUsage
    from scops_tui.tui.app import create_app

    processes = [ProcessUsage(pid, f"process-{pid}", 0.1 * pid, 0.5, "root") for pid in range(1, 41)]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SCOPS_HOME"] = tmp
        settings = Settings(db=Path(tmp) / "frames.db", source="frames", interval=1.0)
        app = create_app(settings, record=False, time_zone="utc", process_reader=lambda _limit: processes)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(3)
            yield app


def frame_cost(frames: int = 40) -> list[tuple[str, float]]:
    """UI-thread milliseconds a frame costs on the dashboard (Pilot, 120x40) when only one or a few lines
    change: a chart's title line, two titles, two titles and the score line, the score line alone, and two
    titles with two process rows (lines far apart, as a repaint after a process refresh has them)."""
    from textual.geometry import Region

    from scops_tui.tui.widgets.chart import MetricChart
    from scops_tui.tui.widgets.process_table import ProcessTable

    async def measure() -> list[tuple[str, float]]:
        results = []
        async with dashboard_under_pilot() as app:
            screen = app.screen
            cpu = screen.query_one("#chart-cpu", MetricChart)
            disk_io = screen.query_one("#chart-diskio", MetricChart)
            score = screen.query_one("#anomaly-score")
            table = screen.query_one("#processes", ProcessTable)
            cases: dict[str, list[Callable[[], object]]] = {
                "one chart title": [lambda: cpu.refresh(Region(0, 0, cpu.size.width, 1))],
                "two chart titles": [
                    lambda: cpu.refresh(Region(0, 0, cpu.size.width, 1)),
                    lambda: disk_io.refresh(Region(0, 0, disk_io.size.width, 1)),
                ],
                "two titles and the score line": [
                    lambda: cpu.refresh(Region(0, 0, cpu.size.width, 1)),
                    lambda: disk_io.refresh(Region(0, 0, disk_io.size.width, 1)),
                    lambda: score.refresh(),
                ],
                "the score line alone": [lambda: score.refresh()],
                "two titles and two process rows": [
                    lambda: cpu.refresh(Region(0, 0, cpu.size.width, 1)),
                    lambda: disk_io.refresh(Region(0, 0, disk_io.size.width, 1)),
                    lambda: table.refresh(Region(0, 3, table.size.width, 1)),
                    lambda: table.refresh(Region(0, 9, table.size.width, 1)),
                ],
            }
            for name, refreshes in cases.items():
                started = time.thread_time()
                await asyncio.sleep(frames * 0.05)  # the same wait with nothing to draw: the idle cost
                idle = time.thread_time() - started
                started = time.thread_time()
                for _ in range(frames):
                    for refresh in refreshes:
                        refresh()
                    await asyncio.sleep(0.05)
                results.append((name, 1000 * (time.thread_time() - started - idle) / frames))
        return results

    return asyncio.run(measure())


def compositor_cost(calls: int = 300) -> list[tuple[str, float, float]]:
    """Milliseconds one partial update takes to render on the dashboard (Pilot, 120x40, 40 process rows),
    with scops-tui's compositor and with Textual's own method on the same screen and regions: chart titles,
    the score line and process rows changed, the widgets' line caches up to date (so what differs is only
    the lines and widgets each method renders besides the changed ones)."""
    import timeit

    from textual._compositor import Compositor
    from textual.geometry import Region
    from textual.widget import Widget

    async def measure() -> list[tuple[str, float, float]]:
        results = []
        async with dashboard_under_pilot() as app:
            screen = app.screen
            compositor = screen._compositor

            def line(selector: str, y: int) -> Region:
                widget = screen.query_one(selector, Widget)
                return Region(widget.region.x, widget.region.y + y, widget.region.width, 1)

            titles = [line("#chart-cpu", 0), line("#chart-diskio", 0)]
            all_titles = [line(f"#chart-{key}", 0) for key in ("cpu", "memory", "disk", "load", "diskio", "network")]
            rows = [line("#processes", y) for y in (2, 4, 5, 7, 9, 12, 15, 18)]
            cases = {
                "two chart titles": titles,
                "two titles and the score line": [*titles, line("#anomaly-score", 0)],
                "two titles and two process rows": [*titles, line("#processes", 3), line("#processes", 9)],
                "two titles, the score line and 8 process rows": [*titles, line("#anomaly-score", 0), *rows],
                "six titles and the score line (a live paint)": [*all_titles, line("#anomaly-score", 0)],
                "six titles, the score line and 8 process rows": [*all_titles, line("#anomaly-score", 0), *rows],
            }

            def update(method: Callable[[Compositor], object], regions: list[Region]) -> None:
                compositor._dirty_regions.update(regions)
                method(compositor)

            for name, regions in cases.items():
                ours = timeit.timeit(partial(update, type(compositor).render_partial_update, regions), number=calls)
                textuals = timeit.timeit(partial(update, Compositor.render_partial_update, regions), number=calls)
                results.append((name, 1000 * ours / calls, 1000 * textuals / calls))
        return results

    return asyncio.run(measure())


def chart_slots(calls: int = 300) -> float:
    """Milliseconds a live chart takes to find what each of its slots shows (`MetricChart._slots`, part of
    every rebuild) for the dashboard's data at 1-s sampling: 660 points, 68 slots (a chart at 120 columns)."""
    import timeit

    from scops_tui.tui.widgets.chart import ChartData, MetricChart

    start = 1_800_000_000_000
    points = tuple((start + 1000 * i, 20.0 + (i * 7919 % 37), 0.1) for i in range(660))
    data = ChartData(start + 60_000, start + 660_000, points, hold_ms=2500, snap=True)
    chart = MetricChart("CPU", kind="percent")
    run = partial(chart._slots, data, data.start_ms, data.end_ms, 68, 0.0, 100.0, 16)
    return 1000 * timeit.timeit(run, number=calls) / calls


def process_scan(calls: int = 200) -> tuple[int, float, float]:
    """The dashboard's process source on this host: how many processes, and the milliseconds one /proc scan
    and one refresh of the top 40 by CPU (the scan and the memory and user of the 40) take."""
    import timeit

    from scops_tui.tui.process_reader import ProcessReader, scan_proc

    reader = ProcessReader()
    reader(40)  # the first call waits for its window; later ones measure since the previous call
    scan = timeit.timeit(scan_proc, number=calls) / calls
    refresh = timeit.timeit(partial(reader, 40), number=calls) / calls
    return len(scan_proc()), 1000 * scan, 1000 * refresh


ONLY_MEASURES = {
    "--ui-thread": "the app's CPU by thread under Pilot, recording or not",
    "--textual-floor": "launch and idle CPU of a bare Textual app (the floor)",
    "--frame-cost": "UI-thread ms a dashboard frame costs for a few changed lines",
    "--by-thread": "the app's CPU by thread in tmux (names need py-spy)",
    "--compositor": "a partial update, our compositor vs Textual's",
    "--chart-slots": "ms a live chart's rebuild takes to find its slots' values",
    "--process-scan": "ms the dashboard's process scan and refresh take here",
    "--idle": "the idle measure, --runs times (app and recorder side by side)",
}
"""The measures run alone instead of the full set (one at a time)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="idle CPU measuring time")
    parser.add_argument("--runs", type=int, default=5)
    only = parser.add_mutually_exclusive_group()
    for flag, measure in ONLY_MEASURES.items():
        only.add_argument(flag, action="store_true", help=f"only: {measure}")
    parser.add_argument(
        "--display", type=float, help="with --idle, --by-thread: the app's display period in s (60: about no drawing)"
    )
    args = parser.parse_args()
    if args.idle:
        ratios = []
        if args.display is not None:
            print(f"The app's display period: {args.display:g} s ([tui] display).\n")
        print("| run | app (tmux 120x40, recording at 1 s) | headless recorder | ratio | load 1 min |")
        print("|---|---|---|---|---|")
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                idle = idle_cpu(Path(tmp), args.seconds, args.display)
            app, recorder = idle["app"]["cpu_percent"], idle["recorder"]["cpu_percent"]
            ratios.append(app / recorder if recorder else math.inf)
            print(
                f"| {run + 1} | {app:.3f} % | {recorder:.3f} % | {ratios[-1]:.2f}x | {os.getloadavg()[0]:.2f} |",
                flush=True,
            )
        print(
            f"\nMedian ratio over {args.runs} runs of {args.seconds:g} s: "
            f"{statistics.median(ratios):.2f}x (goal <= 2x)."
        )
        return
    if args.by_thread:
        total, rows = thread_cpu(args.seconds, args.display)
        shown = "" if args.display is None else f", display period {args.display:g} s"
        print(f"| app in tmux, recording at 1 s{shown}, {args.seconds:g} s | {total:.3f} % of a core |")
        for name, share in rows:
            print(f"| thread {name} | {share:.3f} % |")
        print(f"\nLoad average (1, 5, 15 min) at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}.")
        return
    if args.process_scan:
        count, scan, refresh = process_scan()
        print(f"| /proc scan of {count} processes | {scan:.3f} ms |")
        print(f"| process table refresh: scan, then memory and user of the top 40 by CPU | {refresh:.3f} ms |")
        return
    if args.chart_slots:
        print(f"| live chart, 660 points in 68 slots: finding each slot's value | {chart_slots():.3f} ms |")
        return
    if args.compositor:
        for name, ours, textuals in compositor_cost():
            print(f"| partial update, {name} | {ours:.3f} ms | Textual's method: {textuals:.3f} ms |")
        return
    if args.frame_cost:
        for name, cost in frame_cost():
            print(f"| dashboard frame, {name} | {cost:.2f} ms of the UI thread |")
        return
    if args.textual_floor:
        times, bare_idle = textual_floor(args.seconds, args.runs)
        print(
            f"| bare Textual app (Header, Label, Footer), tmux 120x40 | launch median {statistics.median(times):.3f} s "
            f"({min(times):.3f} to {max(times):.3f}) | idle {bare_idle:.2f} % of a core over {args.seconds:g} s |"
        )
        return
    if args.ui_thread:
        for record in (True, False):
            total, ui = ui_thread_cpu(args.seconds, record)
            what = "recording at 1 s" if record else "not recording"
            print(f"| app under Pilot, {what}, {args.seconds:g} s | {total:.2f} % | UI thread {ui:.2f} % |")
        return
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed (apt-get install tmux)")
    now_ms = int(time.time() * 1000)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        db = home / "history.db"
        samples = seed(db, 30, now_ms, "bench-host")
        launches, launch_cpu = launch_times(db, home, args.runs)
        reads, redraws, floor = history_times(db, "bench-host", now_ms, args.runs)
        terminal = terminal_redraws(db, home, args.runs)
        idle = idle_cpu(home, args.seconds)
    print(f"Command: `.venv/bin/python bench/tui.py --seconds {args.seconds:g} --runs {args.runs}`\n")
    print(f"Database: {samples:,} samples (30 days at 5 s).\n")
    print("| measure | median | min to max | target |")
    print("|---|---|---|---|")
    print(
        f"| launch to painted dashboard (tmux, 120x40) | {statistics.median(launches):.3f} s | "
        f"{min(launches):.3f} to {max(launches):.3f} s | <= 0.5 s |"
    )
    if launch_cpu:
        print(
            f"| same launch: CPU time of the app process when the dashboard shows | "
            f"{statistics.median(launch_cpu):.3f} s | {min(launch_cpu):.3f} to {max(launch_cpu):.3f} s | |"
        )
    print(
        f"| 30-day history read in the worker (SQL downsampling) | {1000 * statistics.median(reads):.0f} ms | "
        f"{1000 * min(reads):.0f} to {1000 * max(reads):.0f} ms | |"
    )
    print(
        f"| 30-day history redraw, key press to loaded screen (Pilot) | {1000 * statistics.median(redraws):.0f} ms | "
        f"{1000 * min(redraws):.0f} to {1000 * max(redraws):.0f} ms | <= 100 ms |"
    )
    print(
        f"| same measure for a key bound to nothing (Pilot's own waits) | {1000 * statistics.median(floor):.0f} ms | "
        f"{1000 * min(floor):.0f} to {1000 * max(floor):.0f} ms | |"
    )
    print(
        f"| 30-day history redraw in tmux (send-keys to the loaded screen captured) | "
        f"{1000 * statistics.median(terminal):.0f} ms | {1000 * min(terminal):.0f} to {1000 * max(terminal):.0f} ms "
        "| <= 100 ms |"
    )
    print(f"\n| recording at 1 s, {args.seconds:g} s | CPU, % of one core | peak RSS (MiB) |")
    print("|---|---|---|")
    for name, label in (("app", "app open on the dashboard"), ("recorder", "headless `scops-tui record`")):
        print(f"| {label} | {idle[name]['cpu_percent']:.2f} % | {idle[name]['peak_rss_mib']:.1f} |")
    ratio = idle["app"]["cpu_percent"] / max(idle["recorder"]["cpu_percent"], 1e-9)
    print(f"\nApp / recorder CPU: {ratio:.1f}x (goal <= 2x).")
    load_after = os.getloadavg()
    print(
        f"\nLoad average (1, 5, 15 min) at the start: {', '.join(f'{v:.2f}' for v in load_before)}; "
        f"at the end: {', '.join(f'{v:.2f}' for v in load_after)} ({os.cpu_count()} CPUs)."
    )


if __name__ == "__main__":
    main()
