"""The fleet view at fleet size: 200 hosts x 1 day of 5-second samples on the server, then the screens' speed.

1. Load: a fresh database `scops_bench_fleet` on the server gets the scops-tui schema; each host's day
   (17,280 samples, about 3.5 M rows for 200 hosts) is binary-COPYed into the sync's stage and landed by
   the sync's own statement (`tables.METRICS_FAST`), which keeps the hourly rollup and the latest-state
   row in the same transaction, as a real sync batch does; a sync checkpoint per host, and open episodes
   on a fifth of the hosts.
2. Hosts first paint: from opening the session to the Hosts screen showing every host's row, in the
   real app (Pilot, 120x40), `--runs` times; and the host-list query alone.
3. History: a host's 30-day window read from the server (`PostgresReader.history`, the rollup), and
   from pressing `o` on History in the running app until the screen shows the loaded window.

Goals (issue 16): Hosts first paint <= 1 s; 30-day History redraw <= 200 ms.

    .venv/bin/python bench/fleet.py [--hosts 200] [--hours 24] [--runs 5] [--admin URL] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from scops_tui.config import load_settings
from scops_tui.store.timestamps import now_ms
from scops_tui.sync.fleet import FleetSession
from scops_tui.sync.server import init_server
from scops_tui.sync.session import copy_rows
from scops_tui.sync.tables import METRICS_FAST, SPECS
from scops_tui.sync.target import resolve_target

DATABASE = "scops_bench_fleet"
STEP_MS = 5_000
DAY_MS = 86_400_000


def host_rows(index: int, first_ms: int, count: int, rng: random.Random) -> list[tuple[Any, ...]]:
    """One host's samples in the stage's shape (scaled integers, epoch ms), as the sync reads them locally."""
    base_cpu = rng.uniform(5, 60)
    rows = []
    for i in range(count):
        ts = first_ms + i * STEP_MS
        cpu = min(10_000, max(0, int((base_cpu + rng.gauss(0, 5)) * 100)))
        score = rng.randint(0, 3000)
        rows.append(
            (
                i + 1,
                ts,
                f"host-{index:03d}",
                cpu,
                4000 + rng.randint(0, 2000),
                5550,
                7500 + rng.randint(0, 5000),
                6000,
                5000,
                rng.randint(0, 5_000_000),
                rng.randint(0, 20_000_000),
                rng.randint(0, 2_000_000),
                rng.randint(0, 1_000_000),
                1500,
                None,
                0,
                score,
                ts,
                None,
            )
        )
    return rows


def load(url: str, hosts: int, hours: int) -> int:
    """Fill the server; return the number of metric rows."""
    end = now_ms() // STEP_MS * STEP_MS
    count = hours * 3600_000 // STEP_MS
    first = end - (count - 1) * STEP_MS
    spec = SPECS["metrics"]
    rng = random.Random(16)
    total = 0
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        days = sorted({first // DAY_MS, end // DAY_MS})
        conn.execute("SELECT scops_ensure_metrics_partitions(%s::integer[])", (days,))
        conn.commit()
        for index in range(hosts):
            db = uuid.UUID(int=rng.getrandbits(128), version=4)
            rows = host_rows(index, first, count, rng)
            with conn.cursor() as cur:
                copy_rows(cur, spec, rows)
                cur.execute(METRICS_FAST, {"db": db})
                cur.execute(
                    "INSERT INTO sync_checkpoints (source_db, table_name, last_id) VALUES (%s, 'metrics', %s)",
                    (db, count),
                )
                if index % 5 == 0:
                    cur.execute(
                        'INSERT INTO anomaly_predictions (source_db, local_id, "timestamp", end_timestamp, source, '
                        "anomaly_detected, severity, confidence_score, peak_score, sample_count, model_name, "
                        "model_version) SELECT %s, n, to_timestamp(%s::float8 / 1000) - n * interval '1 hour', "
                        "to_timestamp(%s::float8 / 1000) - n * interval '1 hour' + interval '5 minutes', %s, true, "
                        "(ARRAY['low', 'medium', 'high', 'critical'])[1 + n %% 4], 0.9, 0.9, 60, 'detector', '1' "
                        "FROM generate_series(1, 3) AS n",
                        (db, end, end, f"host-{index:03d}"),
                    )
            conn.commit()
            total += len(rows)
            if index % 20 == 19:
                print(f"  {index + 1} hosts, {total:,} rows, {time.perf_counter() - started:.0f} s", flush=True)
        conn.execute("ANALYZE")
    return total


async def first_paint(url: str, hosts: int) -> tuple[float, float]:
    """Seconds (wall, and CPU of this process) from opening the session to the Hosts screen showing every host."""
    from textual.widgets import DataTable

    from scops_tui.tui.fleet import create_fleet_app
    from scops_tui.tui.screens.hosts import HostsScreen

    started, cpu = time.perf_counter(), time.process_time()
    session = FleetSession(resolve_target(url))
    session.open()
    app = create_fleet_app(load_settings({}), session, refresh_seconds=600, time_zone="utc")
    async with app.run_test(size=(120, 40)) as pilot:
        while not (
            isinstance(app.screen, HostsScreen)
            and app.screen.loaded
            and app.screen.query_one("#hosts", DataTable).row_count == hosts
        ):
            await pilot.pause(0.005)
            if time.perf_counter() - started > 60:
                raise SystemExit(f"the Hosts screen did not show {hosts} hosts within 60 s")
        elapsed = time.perf_counter() - started, time.process_time() - cpu
    session.close()
    return elapsed


async def local_start() -> tuple[float, float]:
    """Seconds from building the local app (empty database, not recording) to its first screen, for comparison."""
    from scops_tui.tui.app import create_app

    folder = tempfile.mkdtemp(prefix="scops-bench-fleet-local-")
    started, cpu = time.perf_counter(), time.process_time()
    app = create_app(load_settings({"db": Path(folder) / "empty.db"}), record=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0)
        elapsed = time.perf_counter() - started, time.process_time() - cpu
    return elapsed


async def history_redraws(url: str, runs: int) -> list[tuple[float, float]]:
    """Seconds from pressing `o` (30 days) on a host's History to the screen showing the loaded window."""
    from scops_tui.tui.fleet import create_fleet_app
    from scops_tui.tui.screens.fleet_screens import FleetHistoryScreen
    from scops_tui.tui.screens.hosts import HostsScreen

    session = FleetSession(resolve_target(url))
    session.open()
    app = create_fleet_app(load_settings({}), session, refresh_seconds=600, time_zone="utc")
    result = []
    async with app.run_test(size=(120, 40)) as pilot:
        while not (isinstance(app.screen, HostsScreen) and app.screen.loaded):
            await pilot.pause(0.01)
            if isinstance(app.screen, HostsScreen) and app.screen.error:
                raise SystemExit(app.screen.error)
        app.open_history("host-007")
        await pilot.pause(1.0)
        screen = app.screen
        assert isinstance(screen, FleetHistoryScreen)
        for _ in range(runs):
            await pilot.press("h")  # back to 1 h, so the next press really reloads 30 days
            await pilot.pause(0.5)
            started, cpu = time.perf_counter(), time.process_time()
            await pilot.press("o")
            while screen.loaded_label != "30d":
                await asyncio.sleep(0.002)
                if time.perf_counter() - started > 60:
                    raise SystemExit("the 30-day window did not load within 60 s")
            await pilot.pause()
            result.append((time.perf_counter() - started, time.process_time() - cpu))
    session.close()
    return result


def tmux_launches(url: str, hosts: int, runs: int) -> list[float]:
    """Seconds from starting the installed `scops-tui fleet` in a 120x40 tmux window to every host counted."""
    scops = Path(sys.executable).with_name("scops-tui")
    home = tempfile.mkdtemp(prefix="scops-bench-fleet-")
    times = []
    for run in range(runs):
        socket = f"scops-bench-fleet-{os.getpid()}-{run}"
        command = f"env -u COLUMNS -u LINES SCOPS_HOME={home} {scops} fleet --url {shlex.quote(url)}"
        started = time.perf_counter()
        subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command])
        while True:
            screen = subprocess.run(
                ["tmux", "-L", socket, "capture-pane", "-p", "-t", "app"], capture_output=True, text=True
            ).stdout
            if f"{hosts} hosts" in screen and "host-0" in screen:
                times.append(time.perf_counter() - started)
                break
            if time.perf_counter() - started > 30:
                raise SystemExit("the Hosts screen did not appear within 30 s")
            time.sleep(0.01)
        subprocess.run(["tmux", "-L", socket, "send-keys", "-t", "app", "q"])
        time.sleep(0.5)
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    return times


def _cpu(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.0f} ms"  # NaN: not measured (another process)


def timed(call: Any, runs: int) -> list[tuple[float, float]]:
    found = []
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        call()
        found.append((time.perf_counter() - started, time.process_time() - cpu))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure a database a --keep run left")
    args = parser.parse_args()
    url = make_conninfo(args.admin, dbname=DATABASE)
    admin = psycopg.connect(args.admin, autocommit=True)
    try:
        if not args.reuse:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            init_server(resolve_target(url))
            started = time.perf_counter()
            rows = load(url, args.hosts, args.hours)
            print(f"loaded {rows:,} rows of {args.hosts} hosts in {time.perf_counter() - started:.1f} s")
        with psycopg.connect(url) as conn:
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM metrics), (SELECT count(*) FROM metrics_latest), "
                "(SELECT count(*) FROM metrics_hourly), pg_size_pretty(pg_database_size(current_database()))"
            ).fetchone()
        print(f"server: {counts[0]:,} metrics rows, {counts[1]} latest rows, {counts[2]:,} hourly rows, {counts[3]}")
        session = FleetSession(resolve_target(url))
        session.hosts()
        end = now_ms()
        query = timed(session.hosts, 10)
        month = timed(lambda: session.history("host-007", end - 30 * DAY_MS, end, 110), 10)
        narrow = timed(lambda: session.history("host-007", end - 6 * 3600_000, end, 110), 10)
        session.close()
        paints = [asyncio.run(first_paint(url, args.hosts)) for _ in range(args.runs)]
        baseline = [asyncio.run(local_start()) for _ in range(args.runs)]
        redraws = asyncio.run(history_redraws(url, args.runs))
        launches = (
            [(t, float("nan")) for t in tmux_launches(url, args.hosts, args.runs)] if shutil.which("tmux") else []
        )
        ms = 1000.0
        print("| measure | median (wall) | min | max | CPU of this process (median) | goal |")
        print("|---|---:|---:|---:|---:|---|")
        for name, values, goal in (
            ("Hosts first paint (session open to every row shown, in process, Pilot 120x40)", paints, "<= 1000 ms"),
            ("for comparison: the local app's start to its first screen (Pilot 120x40, empty file)", baseline, ""),
            ("`scops-tui fleet` launch to every host shown (tmux 120x40, process start included)", launches, ""),
            ("host list query (FleetSession.hosts)", query, ""),
            ("30-day History redraw (key `o` to window shown, Pilot)", redraws, "<= 200 ms"),
            ("30-day History read (rollup, 110 buckets)", month, ""),
            ("6-hour History read (raw rows, 110 buckets)", narrow, ""),
        ):
            if not values:
                continue
            walls = [wall for wall, _cpu in values]
            cpus = [cpu for _wall, cpu in values]
            print(
                f"| {name} | {statistics.median(walls) * ms:.0f} ms | {min(walls) * ms:.0f} ms "
                f"| {max(walls) * ms:.0f} ms | {_cpu(statistics.median(cpus))} | {goal} |"
            )
    finally:
        if not args.keep:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
