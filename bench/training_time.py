"""Training time of the learned detector on 7 days of 5-second history, run the way the recorder runs it.

The recorder starts `python -m scops_tui.detection.training` as a child process at low priority, so this
measures that child: wall time, CPU time and peak RSS, on a database holding 120,960 samples.

    .venv/bin/python bench/training_time.py [--days 7] [--interval 5]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord

START_MS = 1_790_000_000_000


def synthetic_history(rows: int, interval_s: float, source: str) -> list[MetricRecord]:
    """A host with a daily cycle, noise and occasional bursts: realistic shape for the forest to learn."""
    rng = random.Random(11)
    records = []
    for i in range(rows):
        day = math.sin(2 * math.pi * (i * interval_s) / 86_400)
        burst = 40.0 if rng.random() < 0.002 else 0.0
        records.append(
            MetricRecord(
                timestamp_ms=START_MS + round(i * interval_s * 1000),
                source=source,
                cpu_usage=min(100.0, max(0.0, 20 + 10 * day + rng.gauss(0, 3) + burst)),
                memory_usage=min(100.0, 45 + 5 * day + rng.gauss(0, 0.5)),
                disk_usage=60 + i / rows,
                load_1m=max(0.0, 0.8 + 0.5 * day + rng.gauss(0, 0.1)),
                load_5m=max(0.0, 0.8 + 0.5 * day),
                load_15m=max(0.0, 0.8 + 0.4 * day),
                disk_io_read=max(0, int(50_000 + rng.gauss(0, 10_000))),
                disk_io_write=max(0, int(120_000 + rng.gauss(0, 30_000))),
                network_rx=max(0, int(30_000 + 10_000 * day + rng.gauss(0, 5_000))),
                network_tx=max(0, int(20_000 + rng.gauss(0, 4_000))),
                response_time=1.0 + rng.random(),
            )
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = int(args.days * 86_400 / args.interval)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "history.db"
        conn = store.open_database(db)
        store.insert_metrics(
            conn,
            synthetic_history(rows, args.interval, "bench-host"),
            created_by=store.user_id(conn, "system"),
            created_at=START_MS,
        )
        conn.close()
        results = []
        for _ in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "scops_tui.detection.training",
                    "--db",
                    str(db),
                    "--source",
                    "bench-host",
                    "--deploy",
                ],
                check=True,
                capture_output=True,
            )
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            results.append(
                {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mib": round(after.ru_maxrss / 1024, 1)}
            )
        conn = store.open_reader(db)
        versions = conn.execute("SELECT count(*), max(training_data_size) FROM ml_model_versions").fetchone()
        artifact = conn.execute("SELECT length(body) FROM model_artifacts ORDER BY model_version_id DESC").fetchone()
        conn.close()
    walls = sorted(r["wall_s"] for r in results)
    print(f"## Training time: {rows:,} samples ({args.days:g} days at {args.interval:g} s), 8 metrics\n")
    print(f"Command: `.venv/bin/python bench/training_time.py --days {args.days:g} --interval {args.interval:g}`\n")
    print("| run | wall (s) | CPU (s) | peak RSS of the training process (MiB) |")
    print("|---|---|---|---|")
    for i, r in enumerate(results, 1):
        print(f"| {i} | {r['wall_s']} | {r['cpu_s']} | {r['peak_rss_mib']} |")
    print(
        f"\nmedian wall {walls[len(walls) // 2]} s (target < 10 s); versions registered {versions[0]}, "
        f"rows per version {versions[1]:,}; artifact {artifact[0] / 1024:.0f} KiB of JSON"
    )
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "training_time.json").write_text(json.dumps({"rows": rows, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
