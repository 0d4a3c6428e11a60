"""Bytes on disk per metrics row, scops-tui's schema beside a naive layout of the same rows.

A few real samples are taken from `HostSampler` (source = this host's name); 100,000 rows with realistic
variation are synthesised from them (cpu/memory/disk to 2 decimals, loads to 4, small integer I/O and
network rates, one row a second). They are written through `store.insert_metrics` into a fresh database
made by `store.open_database`, in batches like the recorder's (`--batch`, default 10 rows per transaction).

The same rows go, in the same run and the same batches, into two naive layouts as the peer: REAL columns
for the decimals, ISO-8601 TEXT timestamps (`created_at` too) and a TEXT UUID `created_by`; one with an
INTEGER id, one with a TEXT UUID id. Both keep the UNIQUE (source, timestamp) and the three partial indexes.

Measured with SQLite's `dbstat` virtual table after a WAL checkpoint: the sum of `pgsize` of the metrics
table and its indexes divided by the rows, and the whole file's size divided by the rows. Target: <= 100
bytes per row (dbstat figure).

Usage (from the repository root):

    .venv/bin/python bench/store_size.py

Raw results go to `bench/out/store_size-<UTC time>.json`.
"""

from __future__ import annotations

import argparse
import socket
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Sequence
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
from scops_tui.store.records import MetricRecord
from scops_tui.store.timestamps import iso, now_ms

TARGET_BYTES_PER_ROW = 100.0

NAIVE_DDL = """
CREATE TABLE metrics (
    id            {id_type},
    timestamp     TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    cpu_usage     REAL    NOT NULL,
    memory_usage  REAL    NOT NULL,
    disk_usage    REAL    NOT NULL,
    load_1m       REAL    NOT NULL,
    load_5m       REAL    NOT NULL,
    load_15m      REAL,
    disk_io_read  INTEGER NOT NULL,
    disk_io_write INTEGER NOT NULL,
    network_rx    INTEGER NOT NULL,
    network_tx    INTEGER NOT NULL,
    response_time REAL    NOT NULL,
    error_rate    REAL,
    is_anomaly    INTEGER NOT NULL DEFAULT 0,
    anomaly_score REAL,
    created_at    TEXT    NOT NULL,
    created_by    TEXT,
    UNIQUE (source, timestamp)
);
CREATE INDEX idx_metrics_anomaly ON metrics (is_anomaly, timestamp DESC) WHERE is_anomaly = 1;
CREATE INDEX idx_metrics_cpu_usage ON metrics (cpu_usage) WHERE cpu_usage > 80;
CREATE INDEX idx_metrics_memory_usage ON metrics (memory_usage) WHERE memory_usage > 80;
"""


def naive_row(record: MetricRecord, created_at: str, created_by: str) -> tuple[object, ...]:
    """`record` as the naive layout stores it (no id: it is added by the caller when it is a UUID)."""
    return (
        iso(record.timestamp_ms),
        record.source,
        record.cpu_usage,
        record.memory_usage,
        record.disk_usage,
        record.load_1m,
        record.load_5m,
        record.load_15m,
        record.disk_io_read,
        record.disk_io_write,
        record.network_rx,
        record.network_tx,
        record.response_time,
        record.error_rate,
        1 if record.is_anomaly else 0,
        record.anomaly_score,
        created_at,
        created_by,
    )


def batches(records: Sequence[MetricRecord], size: int) -> list[Sequence[MetricRecord]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


def write_ours(path: Path, records: Sequence[MetricRecord], batch: int) -> float:
    """Write through `store.insert_metrics` as the recorder does; seconds taken."""
    conn = store.open_database(path)
    system_id = store.user_id(conn, store.SYSTEM_USERNAME)
    started = time.perf_counter()
    for chunk in batches(records, batch):
        store.insert_metrics(conn, chunk, created_by=system_id, created_at=now_ms())
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def write_naive(path: Path, records: Sequence[MetricRecord], batch: int, *, uuid_id: bool) -> float:
    """Write the same rows into a naive layout (same pragmas as scops-tui's writer); seconds taken."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(
        NAIVE_DDL.format(id_type="TEXT NOT NULL PRIMARY KEY" if uuid_id else "INTEGER PRIMARY KEY AUTOINCREMENT")
    )
    columns = ", ".join(store.METRIC_COLUMNS)
    if uuid_id:
        sql = f"INSERT INTO metrics (id, {columns}) VALUES ({', '.join('?' * (len(store.METRIC_COLUMNS) + 1))})"  # noqa: S608
    else:
        sql = f"INSERT INTO metrics ({columns}) VALUES ({', '.join('?' * len(store.METRIC_COLUMNS))})"  # noqa: S608
    created_by = str(uuid.uuid4())
    started = time.perf_counter()
    for chunk in batches(records, batch):
        created_at = iso(now_ms())
        rows = [naive_row(r, created_at, created_by) for r in chunk]
        if uuid_id:
            rows = [(str(uuid.uuid4()), *row) for row in rows]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def measure(path: Path, rows: int) -> dict[str, object]:
    """dbstat figures of the metrics table and its indexes, and the file size, after a full checkpoint."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == rows
    names = ["metrics"] + [
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'metrics'")
    ]
    objects = {}
    for name in names:
        pages, pgsize, payload, unused, cells = conn.execute(
            "SELECT count(*), sum(pgsize), sum(payload), sum(unused), sum(ncell) FROM dbstat WHERE name = ?",
            (name,),
        ).fetchone()
        objects[name] = {
            "pages": pages,
            "bytes": pgsize or 0,
            "payload": payload or 0,
            "unused": unused or 0,
            "cells": cells or 0,
            "bytes_per_row": round((pgsize or 0) / rows, 2),
        }
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    freelist = conn.execute("PRAGMA freelist_count").fetchone()[0]
    all_pages = conn.execute("SELECT count(*), sum(pgsize) FROM dbstat").fetchone()
    conn.close()
    table_bytes = sum(int(o["bytes"]) for o in objects.values())  # type: ignore[call-overload]
    file_bytes = path.stat().st_size
    return {
        "rows": rows,
        "page_size": page_size,
        "freelist_pages": freelist,
        "objects": objects,
        "metrics_and_indexes_bytes": table_bytes,
        "bytes_per_row_dbstat": round(table_bytes / rows, 2),
        "file_bytes": file_bytes,
        "bytes_per_row_file": round(file_bytes / rows, 2),
        "all_objects_pages": all_pages[0],
        "table_payload_per_row": round(int(objects["metrics"]["payload"]) / rows, 2),  # type: ignore[call-overload]
    }


def serial_size(value: object) -> int:
    """Bytes the SQLite record format spends on `value`'s content (schema format 4)."""
    if value is None or value is True or value is False or value in (0, 1):
        return 0
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**47:
            value = int(value)  # SQLite stores integral REALs as integers on disk
        else:
            return 8
    if isinstance(value, int):
        for size, limit in ((1, 2**7), (2, 2**15), (3, 2**23), (4, 2**31), (6, 2**47)):
            if -limit <= value < limit:
                return size
        return 8
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    raise TypeError(type(value))


def column_costs(rows: list[tuple[object, ...]], names: Sequence[str]) -> dict[str, float]:
    """Average content bytes of each column (header bytes not included)."""
    return {name: round(sum(serial_size(row[i]) for row in rows) / len(rows), 2) for i, name in enumerate(names)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows to write (default 100000)")
    parser.add_argument("--batch", type=int, default=10, help="rows per transaction (default 10, as the recorder)")
    parser.add_argument("--source", default=socket.gethostname(), help="source name (default: this host's name)")
    parser.add_argument("--real-samples", type=int, default=5, help="real HostSampler samples to start from")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the databases (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="directory for the JSON results")
    args = parser.parse_args()

    load = HostLoad()
    seeds = real_samples(args.source, args.real_samples, 0.5)
    records = synthesise(seeds, args.rows)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="scops-bench-size-"))
    workdir.mkdir(parents=True, exist_ok=True)

    layouts = {}
    elapsed = write_ours(workdir / "scops.db", records, args.batch)
    layouts["scops-tui (INTEGER scaled decimals, epoch ms, BLOB uuid)"] = {
        "file": "scops.db",
        "write_s": round(elapsed, 2),
        **measure(workdir / "scops.db", args.rows),
    }
    for label, name, uuid_id in (
        ("naive (REAL, ISO TEXT timestamps, TEXT uuid created_by, INTEGER id)", "naive_int_id.db", False),
        (
            "naive (REAL, ISO TEXT timestamps, TEXT uuid created_by and TEXT uuid id)",
            "naive_uuid_id.db",
            True,
        ),
    ):
        elapsed = write_naive(workdir / name, records, args.batch, uuid_id=uuid_id)
        layouts[label] = {"file": name, "write_s": round(elapsed, 2), **measure(workdir / name, args.rows)}

    sample = records[:10_000]
    created_at = now_ms()
    ours_cols = column_costs(
        [store.encode_metric(r, created_at, uuid.uuid4().bytes) for r in sample], store.METRIC_COLUMNS
    )
    naive_cols = column_costs([naive_row(r, iso(created_at), str(uuid.uuid4())) for r in sample], store.METRIC_COLUMNS)

    report = {
        "benchmark": "store_size",
        "command": invocation(),
        "machine": machine(),
        "host_load": load.stop(),
        "filesystem": filesystem_of(workdir),
        "workdir": str(workdir),
        "rows": args.rows,
        "batch": args.batch,
        "source": args.source,
        "seed_samples": [r.__repr__() for r in seeds],
        "first_rows": [r.__repr__() for r in records[:3]],
        "layouts": layouts,
        "column_content_bytes_avg": {"scops-tui": ours_cols, "naive": naive_cols},
    }
    ours = next(iter(layouts.values()))
    report["target_met"] = ours["bytes_per_row_dbstat"] <= TARGET_BYTES_PER_ROW
    path = write_json("store_size", report, args.out)

    print(f"Command: `{report['command']}`\n")
    print(f"{args.rows:,} rows, {args.batch} rows per transaction, source {args.source!r}")
    print(f"host during the run: {report['host_load']}\n")
    print(
        "| Layout | dbstat bytes/row (metrics + indexes) | table | UNIQUE (source, timestamp) | "
        "partial indexes | whole file bytes/row | table payload/row | write time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, result in layouts.items():
        objects: dict[str, dict[str, object]] = result["objects"]  # type: ignore[assignment]
        table = objects["metrics"]["bytes_per_row"]
        unique = sum(float(v["bytes_per_row"]) for k, v in objects.items() if k.startswith("sqlite_autoindex"))  # type: ignore[arg-type]
        partial = sum(float(v["bytes_per_row"]) for k, v in objects.items() if k.startswith("idx_"))  # type: ignore[arg-type]
        print(
            f"| {label} | **{result['bytes_per_row_dbstat']}** | {table} | {unique:.2f} | {partial:.2f} | "
            f"{result['bytes_per_row_file']} | {result['table_payload_per_row']} | {result['write_s']} s |"
        )
    print("\nAverage content bytes per column (record header, cell and page overhead not included):\n")
    print("| Column | scops-tui | naive |")
    print("|---|---|---|")
    for name in store.METRIC_COLUMNS:
        print(f"| {name} | {ours_cols[name]} | {naive_cols[name]} |")
    print(f"| **sum** | **{sum(ours_cols.values()):.2f}** | **{sum(naive_cols.values()):.2f}** |")
    verdict = "MET" if report["target_met"] else "MISSED"
    print(f"\nTarget <= {TARGET_BYTES_PER_ROW:g} bytes/row (dbstat): {verdict}")
    print(f"\nRaw results: {shown(path)}")


if __name__ == "__main__":
    main()
