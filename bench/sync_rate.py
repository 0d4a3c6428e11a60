"""End-to-end PostgreSQL sync rate: local SQLite metrics -> `scops-tui sync` -> the local PostgreSQL server.

Setup (not timed): a fresh local database holding `--rows` metrics (default 1,000,000: ten sources of
100,000 one-second samples over the last ~28 hours, synthesised around a few real samples), and a fresh
server database `scops_bench_<random>` with `init_server` applied (dropped at the end).

Timed, for each of `--runs` runs (fresh server database each time):

* full sync: `run_sync` of every table (1M metrics plus the few other rows), wall time, the client
  process's CPU time and the PostgreSQL server's CPU time (all `postgres` processes, from /proc);
* incremental sync: 60 more seconds of samples for each source (600 rows) are written, then `run_sync`
  again: wall and CPU time;
* a no-op sync (nothing new): wall time.

Targets: full sync >= 150,000 rows/s; incremental one-minute sync < 100 ms.

Usage (from the repository root):

    .venv/bin/python bench/sync_rate.py [--rows 1000000] [--runs 3] [--batch-size 10000]

`SCOPS_BENCH_PG` names the admin connection (default postgresql://postgres@127.0.0.1:5432/postgres).
Raw results go to `bench/out/sync_rate-<UTC time>.json`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from _common import HostLoad, invocation, machine, write_json
from psycopg import sql
from psycopg.conninfo import make_conninfo

from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord
from scops_tui.store.timestamps import now_ms
from scops_tui.sync.push import run_sync
from scops_tui.sync.server import init_server
from scops_tui.sync.target import resolve_target

ADMIN = os.environ.get("SCOPS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SOURCES = 10


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process, from /proc (None once it has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU time of the sync's server backends, sampled after every batch (they exit when the sync ends)."""

    def __init__(self, admin_url: str) -> None:
        self.monitor = psycopg.connect(admin_url, autocommit=True)
        self.last: dict[int, float] = {}

    def __call__(self, table: str, batch: int) -> None:
        pids = self.monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'scops-tui sync'"
        ).fetchall()
        for (pid,) in pids:
            value = process_cpu_seconds(pid)
            if value is not None:
                self.last[pid] = value

    @property
    def seconds(self) -> float:
        return sum(self.last.values())

    def close(self) -> None:
        self.monitor.close()


def records(start: int, per_source: int, offset: int = 0) -> list[MetricRecord]:
    made = []
    for source in range(SOURCES):
        for i in range(offset, offset + per_source):
            wave = (i % 600) / 600
            made.append(
                MetricRecord(
                    start + i * 1000,
                    f"host-{source:02d}",
                    round(5 + 60 * wave, 2),
                    round(40 + 10 * wave, 2),
                    55.5,
                    round(0.5 + wave, 4),
                    0.6,
                    0.7,
                    4096 * (i % 7),
                    8192,
                    1500 + i % 100,
                    900,
                    0.25,
                    None,
                    i % 997 == 0,
                    round(wave / 2, 4),
                )
            )
    return made


def fresh_server() -> str:
    name = f"scops_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(ADMIN, dbname=name)
    init_server(resolve_target(url))
    return url


def drop_server(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()
    per_source = args.rows // SOURCES
    start = (now_ms() // 1000 - per_source - 3600) * 1000

    results: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.db"
        conn = store.open_database(base)
        system = store.user_id(conn, "system")
        rows = records(start, per_source)
        for i in range(0, len(rows), 100_000):
            store.insert_metrics(conn, rows[i : i + 100_000], created_by=system, created_at=start)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        total_rows = len(rows)
        del rows
        for run in range(args.runs):
            db = Path(tmp) / f"run{run}.db"
            db.write_bytes(base.read_bytes())
            url = fresh_server()
            target = resolve_target(url)
            try:
                load = HostLoad()
                backends = BackendCpu(url)
                cpu0, t0 = time.process_time(), time.perf_counter()
                report = run_sync(db, target, batch_size=args.batch_size, on_batch=backends)
                wall = time.perf_counter() - t0
                cpu, pg_cpu = time.process_time() - cpu0, backends.seconds
                host = load.stop()
                backends.close()
                assert report.tables["metrics"].inserted == total_rows, report.as_json()

                conn = store.open_database(db)
                more = records(start, 60, offset=per_source)
                store.insert_metrics(conn, more, created_by=system, created_at=now_ms())
                conn.close()
                backends = BackendCpu(url)
                cpu1, t1 = time.process_time(), time.perf_counter()
                incremental = run_sync(db, target, batch_size=args.batch_size, on_batch=backends)
                inc_wall = time.perf_counter() - t1
                inc_cpu, inc_pg = time.process_time() - cpu1, backends.seconds
                backends.close()
                assert incremental.tables["metrics"].inserted == len(more)

                t2 = time.perf_counter()
                noop = run_sync(db, target, batch_size=args.batch_size)
                noop_wall = time.perf_counter() - t2
                assert noop.sent == 0
            finally:
                drop_server(url)
                db.unlink()
            result = {
                "full_rows": total_rows,
                "full_seconds": wall,
                "full_rows_per_s": total_rows / wall,
                "full_client_cpu_s": cpu,
                "full_server_cpu_s": pg_cpu,
                "incremental_rows": len(more),
                "incremental_ms": inc_wall * 1000,
                "incremental_client_cpu_ms": inc_cpu * 1000,
                "incremental_server_cpu_ms": inc_pg * 1000,
                "noop_ms": noop_wall * 1000,
                "host_cpu_busy_percent": float(host["host_cpu_busy_percent"]),  # type: ignore[arg-type]
            }
            results.append(result)
            print(
                f"run {run + 1}: full {total_rows:,} rows in {wall:.2f} s = {total_rows / wall:,.0f} rows/s "
                f"(client CPU {cpu:.2f} s, server CPU {pg_cpu:.2f} s); incremental {len(more)} rows "
                f"{inc_wall * 1000:.1f} ms (client CPU {inc_cpu * 1000:.1f} ms, server CPU {inc_pg * 1000:.1f} ms); "
                f"no-op {noop_wall * 1000:.1f} ms",
                flush=True,
            )

    def summary(key: str) -> dict[str, float]:
        values = [r[key] for r in results]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    report_json = {
        "command": invocation(),
        "machine": machine(),
        "batch_size": args.batch_size,
        "runs": results,
        "summary": {key: summary(key) for key in results[0] if key not in ("full_rows", "incremental_rows")},
    }
    path = write_json("sync_rate", report_json)
    rate = report_json["summary"]["full_rows_per_s"]  # type: ignore[index]
    inc = report_json["summary"]["incremental_ms"]  # type: ignore[index]
    print(
        f"median full sync {rate['median']:,.0f} rows/s [{rate['min']:,.0f}-{rate['max']:,.0f}], "
        f"incremental {inc['median']:.1f} ms [{inc['min']:.1f}-{inc['max']:.1f}]; raw: {path}"
    )


if __name__ == "__main__":
    main()
