"""Insert rate of `store.insert_metrics`, beside raw `executemany` peers, and where the time goes.

1,000,000 MetricRecord objects are built first (synthesised from a few real HostSampler samples; not
timed). Each case writes all of them into a fresh database made by `store.open_database` (WAL,
synchronous=NORMAL, foreign keys on: scops-tui's own settings) and is timed from the first batch to the
last commit. Every case runs `--runs` times (default 3); the median is reported with min-max.

Cases, in the same run:

* `store.insert_metrics` in batches of 100,000 and of 10,000 rows (one transaction per batch);
* peer: raw `sqlite3.executemany` of pre-encoded tuples (encoded before timing) into the same schema,
  same batches, the same INSERT statement, BEGIN IMMEDIATE ... COMMIT per batch;
* peer: raw `executemany` into a minimal 3-column table (timestamp INTEGER, source TEXT, cpu_usage INTEGER).

Profile (batches of 100,000, unless `--no-profile`): encoding alone (`store.encode_metric` over all
records), `insert_metrics` with the cyclic GC off, and raw `executemany` of pre-encoded tuples into the
metrics table with one feature removed at a time (foreign-key enforcement, CHECK constraints,
AUTOINCREMENT, the UNIQUE (source, timestamp) index, the three partial indexes, STRICT), then all of them,
and a multi-row `INSERT ... VALUES (...), (...)` of 50 rows per statement (with and without AUTOINCREMENT)
to show the per-statement share.
A cProfile of one `insert_metrics` call over one batch lists the top Python functions.

Target: >= 300,000 rows/s for `store.insert_metrics`.

Usage (from the repository root):

    .venv/bin/python bench/insert_rate.py

Raw results go to `bench/out/insert_rate-<UTC time>.json`.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import re
import shutil
import socket
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from _common import (
    OUT_DIR,
    HostLoad,
    filesystem_of,
    invocation,
    machine,
    real_samples,
    shown,
    synthesise,
    write_json,
)

from scops_tui.store import database as store
from scops_tui.store.timestamps import now_ms

TARGET_ROWS_PER_S = 300_000
INSERT_SQL = store._INSERT_METRIC
MINIMAL_DDL = "CREATE TABLE m (timestamp INTEGER NOT NULL, source TEXT NOT NULL, cpu_usage INTEGER NOT NULL)"


class Bench:
    """Fresh databases in one directory, all copies of one template (same schema, same seed users)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.counter = 0
        self.template = workdir / "template.db"
        conn = store.open_database(self.template)
        self.system_id = store.user_id(conn, store.SYSTEM_USERNAME)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()

    def fresh(self) -> tuple[sqlite3.Connection, Path]:
        """A new, empty scops-tui database opened as scops-tui opens it for writing, and its path."""
        self.counter += 1
        path = self.workdir / f"run{self.counter}.db"
        shutil.copyfile(self.template, path)
        return store.open_database(path), path

    @staticmethod
    def drop(conn: sqlite3.Connection, path: Path) -> None:
        conn.close()
        for suffix in ("", "-wal", "-shm", ".recorder.lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def strip_checks(sql: str) -> str:
    """`sql` without its CHECK (...) clauses (balanced parentheses)."""
    out, i = [], 0
    for match in re.finditer(r"\s*CHECK\s*\(", sql):
        if match.start() < i:
            continue
        out.append(sql[i : match.start()])
        depth, j = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[j], 0)
            j += 1
        i = j
    out.append(sql[i:])
    return "".join(out)


def variant_schema(
    conn: sqlite3.Connection,
    *,
    checks: bool = True,
    autoincrement: bool = True,
    unique: bool = True,
    partial_indexes: bool = True,
    strict: bool = True,
) -> None:
    """Recreate the (empty) metrics table of `conn` with the named features left out."""
    table_sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'metrics'").fetchone()[0]
    index_sql = [
        r[0]
        for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'metrics' AND sql")
    ]
    if not checks:
        table_sql = strip_checks(table_sql)
    if not autoincrement:
        table_sql = table_sql.replace(" AUTOINCREMENT", "")
    if not unique:
        table_sql = re.sub(r",\s*UNIQUE \(source, timestamp\)", "", table_sql)
    if not strict:
        table_sql = re.sub(r"\)\s*STRICT\s*$", ")", table_sql)
    fk = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("DROP VIEW IF EXISTS metrics_readable")
    conn.execute("DROP TABLE metrics")
    conn.execute(table_sql)
    if partial_indexes:
        for sql in index_sql:
            conn.execute(sql)
    conn.execute(f"PRAGMA foreign_keys = {int(fk)}")


def timed_batches(conn: sqlite3.Connection, sql: str, batches: Sequence[Sequence[tuple[object, ...]]]) -> float:
    started = tic()
    for batch in batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")
    return toc(started)


def split(items: Sequence[object], size: int) -> list[Sequence[object]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


_last_cpu = [0.0]


def tic() -> tuple[float, float]:
    """Start a measurement: (wall clock, this process's CPU time)."""
    return time.perf_counter(), time.process_time()


def toc(started: tuple[float, float]) -> float:
    """Wall seconds since `started`; the CPU seconds (user + sys) are left in `_last_cpu[0]`."""
    _last_cpu[0] = time.process_time() - started[1]
    return time.perf_counter() - started[0]


def summary(label: str, rows: int, seconds: list[float], cpu: list[float], **extra: object) -> dict[str, object]:
    rates = sorted(rows / s for s in seconds)
    cpu_rates = sorted(rows / c for c in cpu)
    return {
        "case": label,
        "rows": rows,
        "seconds": [round(s, 4) for s in seconds],
        "cpu_seconds": [round(c, 4) for c in cpu],
        "rows_per_s_median": round(statistics.median(rates)),
        "rows_per_s_min": round(rates[0]),
        "rows_per_s_max": round(rates[-1]),
        "us_per_row_median": round(1e6 / statistics.median(rates), 3),
        "rows_per_cpu_s_median": round(statistics.median(cpu_rates)),
        "rows_per_cpu_s_min": round(cpu_rates[0]),
        "rows_per_cpu_s_max": round(cpu_rates[-1]),
        "cpu_us_per_row_median": round(1e6 / statistics.median(cpu_rates), 3),
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per case (default 1000000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument("--batches", type=int, nargs="+", default=[100_000, 10_000], help="batch sizes")
    parser.add_argument("--source", default=socket.gethostname(), help="source name (default: this host's name)")
    parser.add_argument("--no-profile", action="store_true", help="skip the breakdown of where the time goes")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the databases (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="directory for the JSON results")
    args = parser.parse_args()

    load = HostLoad()
    records = synthesise(real_samples(args.source, 3, 0.5), args.rows)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="scops-bench-insert-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(workdir)
    created_at = now_ms()
    rows = args.rows
    results: list[dict[str, object]] = []
    profile: list[dict[str, object]] = []

    def case(label: str, once: Callable[[], float], into: list[dict[str, object]], **extra: object) -> None:
        seconds, cpu = [], []
        for _ in range(args.runs):
            seconds.append(once())
            cpu.append(_last_cpu[0])
        into.append(summary(label, rows, seconds, cpu, **extra))
        r = into[-1]
        print(f"  {label}: {r['rows_per_s_median']:,} rows/s, {r['rows_per_cpu_s_median']:,} rows/CPU-s", flush=True)

    def ours(batch: int, *, gc_off: bool = False) -> Callable[[], float]:
        chunks = split(records, batch)

        def once() -> float:
            conn, path = bench.fresh()
            system_id = store.user_id(conn, store.SYSTEM_USERNAME)
            if gc_off:
                gc.disable()
            try:
                started = tic()
                for chunk in chunks:
                    store.insert_metrics(conn, chunk, created_by=system_id, created_at=created_at)  # type: ignore[arg-type]
                elapsed = toc(started)
            finally:
                gc.enable()
            assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == rows
            bench.drop(conn, path)
            return elapsed

        return once

    # Pre-encoded tuples, exactly as insert_metrics makes them (every fresh db has the same system user).
    placeholder = bench.system_id
    encoded = [store.encode_metric(r, created_at, placeholder) for r in records]
    minimal = [(r.timestamp_ms, r.source, round(r.cpu_usage * 100)) for r in records]

    def raw(
        batch: int, setup: Callable[[sqlite3.Connection], None] | None = None, per_statement: int = 1
    ) -> Callable[[], float]:
        sql, params = INSERT_SQL, encoded
        if per_statement > 1:
            # One INSERT ... VALUES (...), (...), ... per `per_statement` rows; flattened untimed.
            one = "(" + ", ".join("?" * len(store.METRIC_COLUMNS)) + ")"
            sql = INSERT_SQL.split(" VALUES ")[0] + " VALUES " + ", ".join([one] * per_statement)
            params = [
                tuple(v for row in encoded[i : i + per_statement] for v in row)
                for i in range(0, len(encoded), per_statement)
            ]
            batch //= per_statement

        def once() -> float:
            conn, path = bench.fresh()
            if setup is not None:
                setup(conn)
            elapsed = timed_batches(conn, sql, split(params, batch))  # type: ignore[arg-type]
            assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == rows
            bench.drop(conn, path)
            return elapsed

        return once

    def raw_minimal(batch: int) -> Callable[[], float]:
        def once() -> float:
            conn, path = bench.fresh()
            conn.execute(MINIMAL_DDL)
            elapsed = timed_batches(conn, "INSERT INTO m VALUES (?, ?, ?)", split(minimal, batch))  # type: ignore[arg-type]
            bench.drop(conn, path)
            return elapsed

        return once

    print(f"{rows:,} rows, {args.runs} runs per case, databases in {workdir}", flush=True)
    for batch in args.batches:
        case(f"store.insert_metrics, batches of {batch:,}", ours(batch), results, batch=batch, kind="ours")
        case(
            f"raw executemany, pre-encoded, same schema, batches of {batch:,}",
            raw(batch),
            results,
            batch=batch,
            kind="peer",
        )
        case(
            f"raw executemany, minimal 3-column table, batches of {batch:,}",
            raw_minimal(batch),
            results,
            batch=batch,
            kind="peer",
        )

    cprofile_top: list[str] = []
    encode_s = None
    if not args.no_profile:
        batch = args.batches[0]
        print("profile:", flush=True)

        def encode_only() -> float:
            started = tic()
            out = [store.encode_metric(r, created_at, placeholder) for r in records]
            elapsed = toc(started)
            del out
            return elapsed

        case("encode only (store.encode_metric into a list)", encode_only, profile)
        encode_s = profile[-1]
        case(f"store.insert_metrics, gc disabled, batches of {batch:,}", ours(batch, gc_off=True), profile)

        def fk_off(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA foreign_keys = OFF")

        def all_off(conn: sqlite3.Connection) -> None:
            variant_schema(conn, checks=False, autoincrement=False, unique=False, partial_indexes=False, strict=False)
            conn.execute("PRAGMA foreign_keys = OFF")

        variants: list[tuple[str, Callable[[sqlite3.Connection], None] | None]] = [
            ("raw executemany, full schema (as above)", None),
            ("  without foreign-key enforcement", fk_off),
            ("  without CHECK constraints", lambda c: variant_schema(c, checks=False)),
            ("  without AUTOINCREMENT", lambda c: variant_schema(c, autoincrement=False)),
            ("  without UNIQUE (source, timestamp)", lambda c: variant_schema(c, unique=False)),
            ("  without the 3 partial indexes", lambda c: variant_schema(c, partial_indexes=False)),
            ("  without STRICT", lambda c: variant_schema(c, strict=False)),
            ("  without all of the above (plain 18-column rowid table)", all_off),
        ]
        for label, setup in variants:
            case(f"{label}, batches of {batch:,}", raw(batch, setup), profile)
        case(
            f"raw multi-row INSERT (50 rows per statement), full schema, batches of {batch:,}",
            raw(batch, None, per_statement=50),
            profile,
        )
        case(
            f"raw multi-row INSERT (50 rows per statement), without AUTOINCREMENT, batches of {batch:,}",
            raw(batch, lambda c: variant_schema(c, autoincrement=False), per_statement=50),
            profile,
        )

        chunks = split(records, batch)
        conn, path = bench.fresh()
        system_id = store.user_id(conn, store.SYSTEM_USERNAME)
        profiler = cProfile.Profile()
        profiler.enable()
        store.insert_metrics(conn, chunks[0], created_by=system_id, created_at=created_at)  # type: ignore[arg-type]
        profiler.disable()
        bench.drop(conn, path)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(10)
        cprofile_top = text.getvalue().splitlines()

    ours_best = max((r for r in results if r["kind"] == "ours"), key=lambda r: int(r["rows_per_s_median"]))  # type: ignore[call-overload]
    report = {
        "benchmark": "insert_rate",
        "command": invocation(),
        "machine": machine(),
        "host_load": load.stop(),
        "filesystem": filesystem_of(workdir),
        "rows": rows,
        "runs": args.runs,
        "source": args.source,
        "results": results,
        "profile": profile,
        "cprofile_insert_metrics_one_batch": cprofile_top,
        "target_met": {
            str(r["case"]): int(r["rows_per_s_median"]) >= TARGET_ROWS_PER_S  # type: ignore[call-overload]
            for r in results
            if r["kind"] == "ours"
        },
    }
    path = write_json("insert_rate", report, args.out)

    def table(items: list[dict[str, object]]) -> None:
        print(
            "| Case | rows/s (median, wall) | min-max | µs/row | rows per CPU-second (median) | min-max "
            "| CPU µs/row | wall seconds per run |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for r in items:
            secs = ", ".join(f"{s:.2f}" for s in r["seconds"])  # type: ignore[attr-defined]
            print(
                f"| {r['case']} | **{r['rows_per_s_median']:,}** "
                f"| {r['rows_per_s_min']:,}-{r['rows_per_s_max']:,} "
                f"| {r['us_per_row_median']} | {r['rows_per_cpu_s_median']:,} "
                f"| {r['rows_per_cpu_s_min']:,}-{r['rows_per_cpu_s_max']:,} | {r['cpu_us_per_row_median']} | {secs} |"
            )

    print(f"\nCommand: `{report['command']}`\n")
    print(f"{rows:,} rows per run, {args.runs} runs per case, filesystem {report['filesystem']}")
    print(f"host during the run: {report['host_load']}\n")
    table(results)
    if profile:
        print("\nWhere the time goes:\n")
        table(profile)
        if encode_s is not None:
            print(f"\nencode alone: {encode_s['cpu_us_per_row_median']} CPU µs/row")
        print(f"\ncProfile of one insert_metrics call over {args.batches[0]:,} rows (top by own time):\n")
        print("```")
        print("\n".join(line for line in cprofile_top if line.strip())[:3000])
        print("```")
    verdicts = ", ".join(f"{k}: {'MET' if v else 'MISSED'}" for k, v in report["target_met"].items())  # type: ignore[attr-defined]
    print(f"\nTarget >= {TARGET_ROWS_PER_S:,} rows/s: {verdicts}")
    print(f"best of ours: {ours_best['rows_per_s_median']:,} rows/s")
    print(f"\nRaw results: {shown(path)}")


if __name__ == "__main__":
    main()
