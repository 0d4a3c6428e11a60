"""Export and import rates of scops-tui on 1,000,000 metrics rows, with peak memory, and where the time goes.

Setup (not timed): a database with `--rows` metrics rows (default 1,000,000) synthesised from a few real
HostSampler samples (`bench/_common.synthesise`), written with `store.insert_metrics`, and a second one with
a tenth of them, to show whether memory grows with the data.

Each measured step runs in a child process of its own, so its peak RSS (VmHWM) belongs to that step alone:

* `export csv`: `export.export_table(metrics, csv)` to a file (the `scops-tui export metrics --out` path,
  atomic write included);
* `export jsonl`: the same as JSON Lines;
* `import csv`: `metrics_import.import_metrics` of the exported CSV into a fresh database (validation, conversion
  and the one transaction; the round-trip file has every metrics column).

For each step: rows/s of wall time, rows per CPU-second of the child (`time.process_time`), RSS before the
step and peak RSS (VmHWM) during it, at both sizes. The host is shared, so CPU-time rates are the reliable
ones. With `--profile`, a cProfile of each step at the small size lists the top functions.

Targets: import (CSV) >= 300,000 rows/s, export >= 500,000 rows/s, peak memory flat.

Usage (from the repository root):

    .venv/bin/python bench/import_export.py [--rows 1000000] [--runs 2] [--profile]

Raw results go to `bench/out/import_export-<UTC time>.json`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import HostLoad, invocation, machine, shown, synthesise, write_json
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord
from scops_tui.transfer import csv_metrics, export, metric_rows, metrics_import


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _seeds() -> list[MetricRecord]:
    start = 1_754_600_000_000
    return [
        MetricRecord(start + i * 1000, "bench-host", 12.0 + i, 45.0, 61.2, 0.8, 0.7, 0.6, 0, 40_000, 3_000, 2_000, 0.4)
        for i in range(5)
    ]


def build(path: Path, rows: int) -> None:
    conn = store.open_database(path)
    system = store.user_id(conn, store.SYSTEM_USERNAME)
    records = synthesise(_seeds(), rows)
    for start in range(0, rows, 100_000):
        store.insert_metrics(conn, records[start : start + 100_000], created_by=system, created_at=1_754_700_000_000)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def run_step(step: str, db: Path, data: Path, profile: bool) -> dict[str, object]:
    """One measured step (runs in a child process)."""
    rss_before = _status_kib("VmRSS")
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    if step.startswith("export"):
        conn = store.open_reader(db)
        fmt = step.split()[1]
        with export.write_atomically(data, force=True) as handle:
            rows = export.export_table(conn, export.ExportRequest("metrics", fmt), handle)
        conn.close()
    else:
        conn = store.open_database(db)
        report = metrics_import.import_metrics(conn, data, created_by=store.user_id(conn, store.SYSTEM_USERNAME))
        rows = report.added
        conn.close()
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result: dict[str, object] = {
        "rows": rows,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "rss_before_kib": rss_before,
        "peak_rss_kib": _status_kib("VmHWM"),
        "file_bytes": data.stat().st_size,
    }
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
        result["profile"] = text.getvalue()
    return result


def breakdown(db: Path, data: Path) -> dict[str, float]:
    """CPU microseconds per row of the parts of export and import (in a child; small size)."""
    conn = store.open_reader(db)
    rows = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
    parts: dict[str, float] = {}

    def timed(label: str, action: Callable[[], object]) -> None:
        start = time.process_time()
        action()
        parts[label] = round((time.process_time() - start) / rows * 1e6, 3)

    columns, clause, params = export._plan(conn, export.ExportRequest("metrics"))
    prefix = export._users_text_cte()
    line = export._csv_line(columns)
    timed("export: SQLite scan only (sum of id)", lambda: conn.execute("SELECT sum(id) FROM metrics").fetchone())
    timed(
        "export: SQLite builds every CSV line (sum of lengths, no Python)",
        lambda: conn.execute(f"{prefix}SELECT sum(length({line})) {clause}", params).fetchone(),
    )
    timed("export: whole CSV export to /dev/null", lambda: _export_null(conn))
    conn.close()

    lines = data.read_text().splitlines(keepends=True)[1:]
    records: list[list[str]] = []
    timed("import: split lines into fields", lambda: records.extend(line.rstrip("\r\n").split(",") for line in lines))
    columns_of: list[list[str]] = []
    timed(
        "import: take 19 columns out of the rows", lambda: columns_of.extend([r[i] for r in records] for i in range(19))
    )
    numeric = [columns_of[i] for i in range(3, 14) if columns_of[i][0] != ""]
    timed(
        f"import: numpy parses {len(numeric)} numeric columns", lambda: [np.array(c, dtype=np.float64) for c in numeric]
    )
    timed(
        "import: numpy parses 2 timestamp columns",
        lambda: [csv_metrics._fast_times(columns_of[i], UTC) for i in (1, 17)],
    )
    target = db.with_name("breakdown-target.db")
    conn = store.open_database(target)
    system = store.user_id(conn, store.SYSTEM_USERNAME)
    encoded = [
        (1_700_000_000_000 + i, "h", 1234, 2345, 3456, 1000, 2000, 3000, 1, 2, 3, 4, 400, None, 0, None, 1, system)
        for i in range(rows)
    ]

    def insert() -> None:
        with store.transaction(conn):
            writer = metric_rows.MetricsWriter(conn)
            for start in range(0, rows, 5000):
                writer.write(encoded[start : start + 5000])

    timed("import: SQLite multi-row INSERT of encoded rows (one transaction)", insert)
    conn.close()
    return parts


def _export_null(conn: object) -> None:
    with open(os.devnull, "w") as sink:
        export.export_table(conn, export.ExportRequest("metrics"), sink)  # type: ignore[arg-type]


def child(step: str, db: Path, data: Path, profile: bool) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", step, "--db", str(db), "--data", str(data)]
    if profile:
        command.append("--profile")
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--db", type=Path)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.child == "breakdown":
        print(json.dumps(breakdown(args.db, args.data)))
        return
    if args.child:
        print(json.dumps(run_step(args.child, args.db, args.data, args.profile)))
        return

    work = Path(tempfile.mkdtemp(prefix="scops-bench-transfer-"))
    load = HostLoad()
    report: dict[str, Any] = {"command": invocation(), "machine": machine(), "rows": args.rows, "steps": {}}
    steps: dict[str, dict[str, Any]] = {}
    try:
        for size in (args.rows // 10, args.rows):
            source = work / f"source-{size}.db"
            build(source, size)
            for run in range(args.runs):
                for step, suffix in (("export csv", "csv"), ("export jsonl", "jsonl")):
                    result = child(step, source, work / f"metrics-{size}.{suffix}", False)
                    steps.setdefault(f"{step} {size}", {"runs": []})["runs"].append(result)
                target = work / f"target-{size}-{run}.db"
                result = child("import csv", target, work / f"metrics-{size}.csv", False)
                steps.setdefault(f"import csv {size}", {"runs": []})["runs"].append(result)
                for leftover in work.glob(f"target-{size}-{run}.db*"):
                    leftover.unlink()
            if args.profile and size < args.rows:
                profiles = {}
                for step, suffix in (("export csv", "csv"), ("export jsonl", "jsonl")):
                    profiles[step] = child(step, source, work / f"p.{suffix}", True)["profile"]
                profiles["import csv"] = child("import csv", work / "p.db", work / f"metrics-{size}.csv", True)[
                    "profile"
                ]
                report["profiles"] = profiles
                report["breakdown_us_per_row"] = child("breakdown", source, work / f"metrics-{size}.csv", False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["host_load"] = load.stop()
    for entry in steps.values():
        runs = entry["runs"]
        assert isinstance(runs, list)
        entry["rows_per_s_wall"] = round(median(r["rows"] / r["wall_s"] for r in runs))
        entry["rows_per_cpu_s"] = round(median(r["rows"] / r["cpu_s"] for r in runs))
        entry["peak_rss_mib"] = round(max(r["peak_rss_kib"] for r in runs) / 1024, 1)
        entry["rss_before_mib"] = round(median(r["rss_before_kib"] for r in runs) / 1024, 1)
    report["steps"] = steps
    path = write_json("import_export", report)

    print(f"command: {report['command']}\n")
    print("| step | rows | rows/s wall (median) | rows per CPU-s (median) | RSS before | peak RSS | file |")
    print("|---|---|---|---|---|---|---|")
    for name, entry in steps.items():
        runs = entry["runs"]
        assert isinstance(runs, list)
        print(
            f"| {name.rsplit(' ', 1)[0]} | {runs[0]['rows']:,} | {entry['rows_per_s_wall']:,} | "
            f"{entry['rows_per_cpu_s']:,} | {entry['rss_before_mib']} MiB | {entry['peak_rss_mib']} MiB | "
            f"{runs[0]['file_bytes'] / 1e6:.1f} MB |"
        )
    print(f"\nhost load: {report['host_load']}")
    if "profiles" in report:
        for step, text in report["profiles"].items():
            print(f"\n### profile: {step}\n{text}")
    if "breakdown_us_per_row" in report:
        print("\n| part (small size) | CPU µs/row |\n|---|---|")
        for part, value in report["breakdown_us_per_row"].items():
            print(f"| {part} | {value} |")
    print(f"raw results: {shown(path)}")


if __name__ == "__main__":
    main()
