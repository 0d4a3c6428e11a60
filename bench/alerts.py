"""Measure alert latency and the recorder's CPU with alerts on and off.

Latency: the time from an episode's first sample to the receipt of its alert by a JSON webhook on
127.0.0.1 (apprise `json://` URL), with the real recorder at `--interval 1`: live detection, batched writes,
the outbox written with the episode, the sender thread (which waits up to 1.5 s for the top processes,
measured on this host), apprise and HTTP. The samples come from the saved CPU-burn trace
(tests/fixtures/scenarios/cpu.csv; its lead-in played back and forth, then itself up to `--lead-in`
seconds before the fault, stored first as history, so the detector starts warm as the scenario tests
do) but are taken in real time: each sample is stamped with the wall clock when the
recorder takes it, once a second, exactly as the host sampler stamps them.

CPU: the recorder's own CPU time (`time.process_time()` of the recording process over its run, all
threads) replaying the same trace with alerts on and off; then `scops-tui record --interval 1` on this
host for `--calm-seconds`, alerts on and off (rusage of the child: includes start-up and imports).

Usage (from the repository root):

    .venv/bin/python bench/alerts.py --runs 3 --calm-seconds 60

Raw results go to `bench/out/alerts-<UTC time>.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _common import REPO, invocation, machine, shown, write_json

SCENARIOS = REPO / "tests" / "fixtures" / "scenarios"
GOAL_SECONDS = 2.0


class Webhook:
    """A JSON webhook on 127.0.0.1 that notes the wall time each POST arrived."""

    def __init__(self) -> None:
        self.posts: list[tuple[float, dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                hook.posts.append((arrived, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def child(args: argparse.Namespace) -> None:
    """One recorder run over the CPU-burn trace in real time; prints a JSON line."""
    from scops_tui.alerts.config import AlertSettings
    from scops_tui.detection.live import DetectionSettings
    from scops_tui.recording.recorder import Recorder
    from scops_tui.recording.replay import ReplaySampler, _store_history, lead_in_history, load_trace
    from scops_tui.store import database as store
    from scops_tui.store.records import MetricRecord
    from scops_tui.store.timestamps import now_ms

    class RealTimeSampler(ReplaySampler):
        """The trace's values, stamped with the wall clock when the recorder takes them."""

        def sample(self) -> MetricRecord:
            record = super().sample()
            return dataclasses.replace(record, timestamp_ms=now_ms())

    rows, meta = load_trace(SCENARIOS, "cpu")
    fault = meta["faults"][0]["start_ms"]
    cut = next(i for i, row in enumerate(rows) if row["timestamp_ms"] >= fault - args.lead_in * 1000)
    end = next((i for i, row in enumerate(rows) if row["timestamp_ms"] >= fault + args.after * 1000), len(rows))
    db = Path(args.db)
    # History: the trace's own lead-in played back and forth (as the scenario tests do), then the lead-in
    # itself up to `--lead-in` seconds before the fault: the host as a recorder running on it saw it.
    history = lead_in_history(rows, meta["faults"])
    step = 1000
    history += [
        {**row, "timestamp_ms": history[-1]["timestamp_ms"] + (i + 1) * step} for i, row in enumerate(rows[:cut])
    ]
    _store_history(db, "bench", history, now_ms() - 1000)
    alerts = None
    if args.child == "on":
        alerts = AlertSettings(min_severity="low", urls=(f"json://127.0.0.1:{args.port}/hook",))
    recorder = Recorder(
        db,
        RealTimeSampler("bench", rows[cut:end]),
        interval=1.0,
        flush_interval=10.0,
        detection=DetectionSettings(train_in_background=False, capture_processes=True),
        alerts=alerts,
    )
    cpu0, wall0, started_ms = time.process_time(), time.monotonic(), now_ms()
    recorder.run(threading.Event(), duration=float(end - cut - 1))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    conn = store.open_reader(db)
    episodes = conn.execute("SELECT id, timestamp, created_at FROM anomaly_predictions ORDER BY id").fetchall()
    conn.close()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "cpu_seconds": cpu,
                "wall_seconds": wall,
                "peak_rss_mib": peak_mib,
                "started_ms": started_ms,
                "episodes": episodes,
                "samples": end - cut,
            }
        )
    )


def run_replay(mode: str, hook: Webhook, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SCOPS_HOME": tmp}
        command = [sys.executable, __file__, "--child", mode, "--port", str(hook.port), "--db", f"{tmp}/scops.db"]
        command += ["--lead-in", str(args.lead_in), "--after", str(args.after)]
        before = len(hook.posts)
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=REPO)
        time.sleep(3)  # an alert still on its way when the run ended
        result = json.loads(out.stdout.strip().splitlines()[-1])
        received = hook.posts[before:]
    latencies, deliveries, detections, into_run = [], [], [], []
    starts = {int(episode_id): (start, opened) for episode_id, start, opened in result["episodes"]}
    for arrived, body in received:
        fields = dict(line.split(": ", 1) for line in body.get("message", "").splitlines() if ": " in line)
        episode, _, kind = fields.get("episode", "").partition(" ")
        if kind == "(opened)" and int(episode) in starts:
            start, opened = starts[int(episode)]
            latencies.append(round(arrived - start / 1000, 3))
            deliveries.append(round(arrived - opened / 1000, 3))
            detections.append(round((opened - start) / 1000, 3))
            into_run.append(round((opened - result["started_ms"]) / 1000, 1))
    result.update(
        mode=mode,
        posts=len(received),
        latencies_s=latencies,
        from_opening_s=deliveries,
        detection_delay_s=detections,
        opened_into_run_s=into_run,
        with_processes=[not p["message"].count("top processes: (not") for _, p in received],
    )
    return result


def run_host(mode: str, seconds: float, hook: Webhook) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "on":
            config = Path(tmp) / "config.toml"
            config.write_text(f'[alerts]\nurls = ["json://127.0.0.1:{hook.port}/hook"]\n')
            config.chmod(0o600)
        env = {**os.environ, "SCOPS_HOME": tmp}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        posts = len(hook.posts)
        command = [sys.executable, "-m", "scops_tui", "record", "--interval", "1", "--duration", str(seconds), "-q"]
        subprocess.run(command, env=env, check=True, cwd=REPO)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "mode": mode,
        "seconds": seconds,
        "cpu_seconds": round(cpu, 3),
        "cpu_percent": round(100 * cpu / seconds, 3),
        "alerts_received": len(hook.posts) - posts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="replays per mode (alerts on, off)")
    parser.add_argument("--calm-seconds", type=float, default=60.0, help="host recording per mode (0: skip)")
    parser.add_argument("--lead-in", type=float, default=20.0, help="seconds replayed before the fault")
    parser.add_argument("--after", type=float, default=30.0, help="seconds replayed after the fault's start")
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    hook = Webhook()
    replays = [run_replay(mode, hook, args) for _ in range(args.runs) for mode in ("on", "off")]
    hosts = [run_host(mode, args.calm_seconds, hook) for mode in ("on", "off")] if args.calm_seconds > 0 else []
    latencies = sorted(x for r in replays for x in r["latencies_s"])
    summary = {
        "latency_s": latencies,
        "from_opening_s": sorted(x for r in replays for x in r["from_opening_s"]),
        "detection_delay_s": sorted(x for r in replays for x in r["detection_delay_s"]),
        "with_processes": [x for r in replays for x in r["with_processes"]],
        "opened_into_run_s": [x for r in replays for x in r["opened_into_run_s"]],
        "latency_by_run": [r["latencies_s"] for r in replays if r["mode"] == "on"],
        "latency_max_s": max(latencies) if latencies else None,
        "goal_s": GOAL_SECONDS,
        "replay_cpu_on_s": [round(r["cpu_seconds"], 3) for r in replays if r["mode"] == "on"],
        "replay_cpu_off_s": [round(r["cpu_seconds"], 3) for r in replays if r["mode"] == "off"],
        "replay_wall_s": round(replays[0]["wall_seconds"], 1) if replays else None,
        "replay_peak_rss_on_mib": [round(r["peak_rss_mib"], 1) for r in replays if r["mode"] == "on"],
        "replay_peak_rss_off_mib": [round(r["peak_rss_mib"], 1) for r in replays if r["mode"] == "off"],
        "host": hosts,
    }
    report = {"command": invocation(), "machine": machine(), "summary": summary, "replays": replays}
    path = write_json("alerts", report)
    print(json.dumps(summary, indent=2))
    print(f"raw results: {shown(path)}")


if __name__ == "__main__":
    main()
