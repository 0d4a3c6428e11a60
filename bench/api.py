"""Load the local API while the recorder runs, with Glances' REST API as the peer in the same run.

Phase 1, scops-tui: a fresh database (SCOPS_HOME in a temporary folder) gets `--history` rows of synthetic
history of this host's source; `scops-tui record --interval 1 --quiet` then records into it, and
`scops-tui serve` serves it. An open-loop generator sends `--rate` requests per second for `--seconds`,
alternating `GET /metrics` (read key) and `POST /ml/predict` (write key, a realistic record). Each request
has a scheduled send time; its latency is measured from that time to the end of the response, so a
server that falls behind is charged for the queueing too (no coordinated omission). Then serve gets
SIGTERM and must exit 0; `api_key_usage` rows are counted against the requests sent.

Phase 2, Glances: `glances -w --disable-webui` on another port (bound to 127.0.0.1), the same generator at
the same rate against `GET /api/4/all`, while the recorder still runs.

For each server: p50/p90/p99/max latency, errors (non-2xx, timeouts, refused), achieved rate, the
server's CPU (utime + stime from /proc over the phase, in % of one core) and peak RSS (VmHWM).

Usage (from the repository root):

    .venv/bin/python bench/api.py --seconds 60 --rate 500

The Glances venv is created on first use (`python3 -m venv /tmp/glances-venv` + `pip install glances[web]`).
Raw results go to `bench/out/api-<UTC time>.json`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import HostLoad, invocation, machine, real_samples, shown, synthesise, write_json

SCOPS = [sys.executable, "-m", "scops_tui"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listened on port {port}")


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass
class Outcome:
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0


def load(port: int, calls: list[Call], rate: float, seconds: float, workers: int = 32) -> Outcome:
    """Open-loop load: request i is due at start + i / rate; latency counts from its due time."""
    outcome = Outcome()
    lock = threading.Lock()
    due: queue.Queue[tuple[float, Call] | None] = queue.Queue()

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while True:
            item = due.get()
            if item is None:
                return
            scheduled, call = item
            label = f"{call.method} {call.path}"
            problem = None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request(call.method, call.path, body=call.body, headers=call.headers)
                response = conn.getresponse()
                response.read()
                if not 200 <= response.status < 300:
                    problem = f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                problem = type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = (time.perf_counter() - scheduled) * 1000
            with lock:
                outcome.latencies_ms.setdefault(label, []).append(elapsed)
                if problem:
                    outcome.errors[f"{label}: {problem}"] = outcome.errors.get(f"{label}: {problem}", 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    start = time.perf_counter() + 0.05
    total = int(rate * seconds)
    for i in range(total):
        at = start + i / rate
        pause = at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put((at, calls[i % len(calls)]))
        outcome.sent += 1
    for _ in threads:
        due.put(None)
    for thread in threads:
        thread.join()
    return outcome


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def summary(outcome: Outcome, cpu_seconds: float, seconds: float, peak_mib: float) -> dict[str, object]:
    every = [v for values in outcome.latencies_ms.values() for v in values]
    per_endpoint = {
        label: {
            "requests": len(values),
            "p50_ms": round(percentile(values, 0.50), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
        }
        for label, values in outcome.latencies_ms.items()
    }
    return {
        "requests": outcome.sent,
        "achieved_rate": round(len(every) / seconds, 1),
        "p50_ms": round(percentile(every, 0.50), 2),
        "p90_ms": round(percentile(every, 0.90), 2),
        "p99_ms": round(percentile(every, 0.99), 2),
        "max_ms": round(max(every, default=float("nan")), 2),
        "errors": sum(outcome.errors.values()),
        "error_kinds": outcome.errors,
        "per_endpoint": per_endpoint,
        "server_cpu_percent_of_one_core": round(100 * cpu_seconds / seconds, 1),
        "server_peak_rss_mib": round(peak_mib, 1),
    }


def seed_history(db: Path, env: dict[str, str], source: str, rows: int) -> None:
    """`rows` synthetic samples of `source`, 5 s apart, ending now (so the detector has a full window)."""
    from scops_tui.store import database as store
    from scops_tui.store.timestamps import now_ms

    subprocess.run([*SCOPS, "--db", str(db), "db", "init"], env=env, check=True, capture_output=True)
    seeds = real_samples(source, 3, 0.2)
    start = now_ms() - rows * 5000
    seeds = [s.__class__(**{**{k: getattr(s, k) for k in s.__slots__}, "timestamp_ms": start}) for s in seeds]
    records = synthesise(seeds[-1:], rows, step_ms=5000)
    conn = store.open_database(db)
    store.insert_metrics(conn, records, created_by=store.user_id(conn, "system"), created_at=now_ms())
    conn.close()


def make_key(db: Path, env: dict[str, str], permission: str) -> str:
    result = subprocess.run(
        [
            *SCOPS,
            "--db",
            str(db),
            "keys",
            "create",
            f"bench-{permission}",
            "--permission",
            permission,
            "--rate-limit",
            "0",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.splitlines()[0]


def record_body(rng: random.Random) -> bytes:
    return json.dumps(
        {
            "cpu_usage": round(rng.uniform(2, 30), 2),
            "memory_usage": round(rng.uniform(30, 40), 2),
            "disk_usage": 55.0,
            "load_1m": round(rng.uniform(0.1, 2), 2),
            "disk_io_read": rng.randint(0, 50_000),
            "disk_io_write": rng.randint(0, 500_000),
            "network_rx": rng.randint(0, 50_000),
            "network_tx": rng.randint(0, 50_000),
        }
    ).encode()


def run_scops(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    env = {**os.environ, "SCOPS_HOME": str(workdir / "home"), "SCOPS_SOURCE": "bench-host"}
    db = workdir / "bench.db"
    seed_history(db, env, "bench-host", args.history)
    recorder = subprocess.Popen([*SCOPS, "--db", str(db), "record", "--interval", "1", "--quiet"], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the recorder deploys the statistical detector with its first batch
            conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
            deployed = conn.execute("SELECT count(*) FROM ml_model_versions WHERE is_deployed = 1").fetchone()[0]
            conn.close()
            if deployed:
                break
            time.sleep(0.5)
        read_key, write_key = make_key(db, env, "read"), make_key(db, env, "write")
        port = free_port()
        server = subprocess.Popen(
            [*SCOPS, "--db", str(db), "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE
        )
        wait_listening(port, server)
        rng = random.Random(7)
        calls = []
        for _ in range(50):
            calls.append(Call("GET", "/metrics", {"Authorization": f"Bearer {read_key}"}))
            calls.append(
                Call(
                    "POST",
                    "/ml/predict",
                    {"X-API-Key": write_key, "Content-Type": "application/json"},
                    record_body(rng),
                )
            )
        load(port, calls, 50, 2)  # warm-up, not measured: connections, the detector's replay of history
        time.sleep(2)  # the warm-up's usage rows are written (batches every 0.5 s) before counting starts
        before_usage = count(db, "SELECT count(*) FROM api_key_usage")
        cpu_before = proc_cpu_seconds(server.pid)
        outcome = load(port, calls, args.rate, args.seconds)
        cpu = proc_cpu_seconds(server.pid) - cpu_before
        peak = peak_rss_mib(server.pid)
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
        result = summary(outcome, cpu, args.seconds, peak)
        result["serve_exit_status"] = server.returncode
        result["usage_rows_written"] = count(db, "SELECT count(*) FROM api_key_usage") - before_usage
        result["usage_rows_equal_requests"] = result["usage_rows_written"] == outcome.sent
        result["predictions_stored"] = count(db, "SELECT count(*) FROM model_predictions WHERE metrics_id IS NULL")
        result["serve_stderr_tail"] = stderr.decode(errors="replace").splitlines()[-3:]
        result["recorder_rows"] = count(db, "SELECT count(*) FROM metrics") - args.history
        return result
    finally:
        recorder.send_signal(signal.SIGTERM)
        recorder.wait(timeout=60)


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def ensure_glances(venv: Path) -> tuple[Path, str]:
    exe = venv / "bin" / "glances"
    if not exe.exists():
        print(f"creating {venv} and installing glances[web] ...", file=sys.stderr)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "glances[web]"], check=True)
    version = subprocess.run([str(exe), "-V"], capture_output=True, text=True, check=True).stdout
    return exe, version.splitlines()[0].split(":", 1)[-1].strip()


def run_glances(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    exe, version = ensure_glances(args.glances_venv)
    env = {**os.environ, "SCOPS_HOME": str(workdir / "home"), "SCOPS_SOURCE": "bench-host"}
    recorder = subprocess.Popen(
        [*SCOPS, "--db", str(workdir / "bench.db"), "record", "--interval", "1", "--quiet"], env=env
    )
    port = free_port()
    glances = subprocess.Popen(
        [str(exe), "-w", "--disable-webui", "-B", "127.0.0.1", "-p", str(port), "-t", "1", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, glances)
        calls = [Call("GET", "/api/4/all", {})]
        load(port, calls, 20, 3)  # warm-up
        cpu_before = proc_cpu_seconds(glances.pid)
        outcome = load(port, calls, args.rate, args.seconds)
        cpu = proc_cpu_seconds(glances.pid) - cpu_before
        result = summary(outcome, cpu, args.seconds, peak_rss_mib(glances.pid))
        result["version"] = version
        return result
    finally:
        glances.send_signal(signal.SIGTERM)
        glances.wait(timeout=60)
        recorder.send_signal(signal.SIGTERM)
        recorder.wait(timeout=60)


def markdown(report: dict[str, object]) -> str:
    rows = [
        "| server | endpoint(s) | rate sent | p50 ms | p99 ms | max ms | errors | CPU % of a core | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, label in (("scops", "/metrics + /ml/predict"), ("glances", "/api/4/all")):
        r = report.get(name)
        if isinstance(r, dict):
            rows.append(
                f"| {name} | {label} | {r['achieved_rate']}/s | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | "
                f"{r['errors']} | {r['server_cpu_percent_of_one_core']} | {r['server_peak_rss_mib']} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--history", type=int, default=8000, help="synthetic rows of history before recording")
    parser.add_argument("--glances-venv", type=Path, default=Path("/tmp/glances-venv"))
    parser.add_argument("--no-glances", action="store_true")
    args = parser.parse_args()
    report: dict[str, object] = {
        "command": invocation(),
        "machine": machine(),
        "rate": args.rate,
        "seconds": args.seconds,
    }
    with tempfile.TemporaryDirectory(prefix="scops-bench-api-") as folder:
        workdir = Path(folder)
        load_meter = HostLoad()
        report["scops"] = run_scops(args, workdir)
        if not args.no_glances:
            report["glances"] = run_glances(args, workdir)
        report["host"] = load_meter.stop()
    path = write_json("api", report)
    print(json.dumps(report, indent=2))
    print(markdown(report))
    print(f"raw results: {shown(path)}", file=sys.stderr)


if __name__ == "__main__":
    main()
