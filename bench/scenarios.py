"""Scenario harness on the real host: record it with `scops-tui record` (1 s) through calm periods and
faults injected with stress-ng, then say how the live detector's episodes matched the faults.

    .venv/bin/python bench/scenarios.py record [--only cpu,memory] [--save-fixtures tests/fixtures/scenarios]
    .venv/bin/python bench/scenarios.py replay tests/fixtures/scenarios [--history lead-in|none|calm]
    .venv/bin/python bench/scenarios.py calm-day tests/fixtures/scenarios [--name calm] [--history none|lead-in]

`record` runs each scenario in a fresh database: `scops-tui record --interval 1` in the background, a
calm stretch, the fault (stress-ng, which stops by itself through --timeout), a stretch after; then it
reads the episodes the recorder wrote and prints, per scenario: whether an episode opened, samples from
the fault's start to the episode's onset, the share of the fault's samples inside an episode, samples
from the fault's end to the episode's end, and false episodes (not touching a fault) per hour of calm.
Each trace is kept as a CSV of the detected metrics plus a JSON of the fault windows (`--save-fixtures`).

`replay` feeds saved traces through the recorder's live detection path (`LiveDetection`, as `record`
uses it, into a scratch database) and prints the same figures: this is how the tests judge the episode
logic on real samples, and how a detector change can be compared on the very same traces.

Bounds: memory growth to 3 GB (`--vm-bytes 3G`), disk writes into a temporary folder of at most 512 MB
per worker (`--hdd-bytes`), every stress-ng run has a --timeout, so everything stops by itself.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scops_tui.detection.registry import DETECTED_METRICS  # noqa: E402
from scops_tui.recording.replay import (  # noqa: E402
    ScenarioFigures,
    judge,
    lead_in_history,
    load_trace,
    mirrored,
    replay_into,
)
from scops_tui.store.database import METRIC_SCALES  # noqa: E402

INTERVAL_S = 1.0
DAY_SAMPLES = 86_400
"""Samples in a simulated day at 1 s (the calm-day check)."""


@dataclass
class Fault:
    """One injected fault: a stress-ng command line, started `at` seconds into the scenario."""

    at: float
    seconds: int
    args: list[str]
    label: str = "fault"


@dataclass
class Scenario:
    """A recording: `calm` seconds, then its faults, until `total` seconds have passed."""

    name: str
    total: float
    faults: list[Fault] = field(default_factory=list)
    description: str = ""


def scenarios(scratch: Path, scale: float = 1.0, calm_seconds: float = 900.0) -> list[Scenario]:
    """The scenarios, in the order they run (`scale` shortens every duration, for a smoke run)."""
    hdd = ["--temp-path", str(scratch / "hdd"), "--hdd-bytes", "512M"]
    calm, fault, after = 150.0 * scale, max(int(90 * scale), 1), 90.0 * scale
    total = calm + fault + after
    periodic = [
        Fault((120.0 + 60.0 * k) * scale, max(int(10 * scale), 1), ["--cpu", "0"], f"burst {k + 1}") for k in range(8)
    ]
    return [
        Scenario("cpu", total, [Fault(calm, fault, ["--cpu", "0"], "cpu burn, all cores")], "CPU burn on all cores"),
        Scenario(
            "memory",
            total,
            [Fault(calm, fault, ["--vm", "1", "--vm-bytes", "3G", "--vm-keep"], "3 GB held")],
            "memory growth to 3 GB, held",
        ),
        Scenario("disk", total, [Fault(calm, fault, ["--hdd", "1", *hdd], "write storm")], "disk write storm"),
        Scenario(
            "mix",
            total,
            [
                Fault(
                    calm,
                    fault,
                    ["--cpu", "1", "--vm", "1", "--vm-bytes", "2G", "--vm-keep", "--hdd", "1", *hdd],
                    "cpu + 2 GB + writes",
                )
            ],
            "one CPU burner, 2 GB held and a write storm together",
        ),
        Scenario("periodic", (120.0 + 60.0 * 8 + 30.0) * scale, periodic, "routine job: 10 s CPU burst every 60 s"),
        Scenario("calm", calm_seconds * scale, [], f"{calm_seconds * scale / 60:g} minutes of the host as it is"),
    ]


# -- recording ---------------------------------------------------------------------------------------------


def _run_fault(fault: Fault, started: float, windows: list[dict[str, Any]], log: list[str]) -> None:
    delay = started + fault.at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    command = ["stress-ng", *fault.args, "--timeout", f"{fault.seconds}s", "--quiet"]
    begin = int(time.time() * 1000)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    end = int(time.time() * 1000)
    windows.append({"label": fault.label, "start_ms": begin, "end_ms": end, "command": " ".join(command)})
    if result.returncode != 0:
        log.append(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()[:300]}")


def record_scenario(scenario: Scenario, workdir: Path, one_db: bool = False) -> tuple[Path, dict[str, Any]]:
    """Record one scenario into `workdir/<name>.db` (or, with `one_db`, into `workdir/scenarios.db` under
    one source, so the recorder starts with the earlier scenarios as its history, like a host that has
    been recording for a while); return the database and the scenario's window and fault windows."""
    db = workdir / ("scenarios.db" if one_db else f"{scenario.name}.db")
    scratch = workdir / "hdd"
    scratch.mkdir(exist_ok=True)
    recorder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scops_tui",
            "--db",
            str(db),
            "record",
            "--interval",
            str(INTERVAL_S),
            "--duration",
            str(scenario.total),
            "--source",
            "scenarios" if one_db else f"scenario-{scenario.name}",
            "--quiet",
        ],
        stdin=subprocess.DEVNULL,
    )
    started = time.monotonic()
    since = int(time.time() * 1000)
    windows: list[dict[str, Any]] = []
    log: list[str] = []
    for fault in scenario.faults:
        # Faults of one scenario run one after the other (the periodic job), each at its own time.
        _run_fault(fault, started, windows, log)
    recorder.wait(timeout=scenario.total + 120)
    shutil.rmtree(scratch, ignore_errors=True)
    meta = {
        "scenario": scenario.name,
        "description": scenario.description,
        "interval_s": INTERVAL_S,
        "recorded_from_ms": since,
        "recorded_to_ms": int(time.time() * 1000),
        "faults": windows,
        "errors": log,
    }
    return db, meta


def trace_rows(db: Path, since: int = 0, until: int = 2**62) -> list[dict[str, Any]]:
    """The recorded samples (between `since` and `until`): timestamp (ms) and the metrics in plain units."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    columns = ", ".join(DETECTED_METRICS)
    rows = conn.execute(
        f"SELECT timestamp, {columns} FROM metrics WHERE timestamp BETWEEN ? AND ? ORDER BY timestamp",  # noqa: S608
        (since, until),
    ).fetchall()
    conn.close()
    out = []
    for row in rows:
        item: dict[str, Any] = {"timestamp_ms": int(row[0])}
        for name, value in zip(DETECTED_METRICS, row[1:], strict=True):
            plain = value / METRIC_SCALES.get(name, 1)
            item[name] = round(plain, 4) if name in METRIC_SCALES else int(value)
        out.append(item)
    return out


def recorded_episodes(db: Path, since: int = 0, until: int = 2**62) -> list[tuple[int, int]]:
    """(start, end) of each episode the recorder wrote that ends at or after `since` and starts by `until`."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT timestamp, coalesce(end_timestamp, timestamp) FROM anomaly_predictions "
        "WHERE coalesce(end_timestamp, timestamp) >= ? AND timestamp <= ? ORDER BY timestamp",
        (since, until),
    ).fetchall()
    conn.close()
    return [(int(a), int(b)) for a, b in rows]


def save_fixture(folder: Path, name: str, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """`<name>.csv` (timestamp_ms and the detected metrics) and `<name>.json` (the fault windows)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp_ms", *DETECTED_METRICS])
        for row in rows:
            writer.writerow([row["timestamp_ms"], *(row[m] for m in DETECTED_METRICS)])
    (folder / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")


# -- judging -----------------------------------------------------------------------------------------------


def print_table(all_figures: Sequence[ScenarioFigures]) -> None:
    """One row per fault, then false episodes per hour of calm per scenario (Markdown)."""
    print(
        "| scenario | fault | samples | episode opened | onset (samples) | fault covered | end after fault (samples) |"
    )
    print("|---|---|---:|---|---:|---:|---:|")
    for figures in all_figures:
        for f in figures.faults:
            onset = "-" if f.onset_delay is None else str(f.onset_delay)
            close = "-" if f.close_delay is None else str(f.close_delay)
            print(
                f"| {figures.name} | {f.label} | {f.samples} | {'yes' if f.opened else 'no'} | {onset} | "
                f"{f.coverage:.0%} | {close} |"
            )
    print()
    print("| scenario | calm (h) | false episodes | per hour of calm |")
    print("|---|---:|---:|---:|")
    for figures in all_figures:
        print(
            f"| {figures.name} | {figures.calm_hours:.3f} | {figures.false_episodes} | {figures.false_per_hour:.1f} |"
        )


# -- replay ------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="record the scenarios on this host (needs stress-ng)")
    rec.add_argument("--only", help="comma-separated scenario names (default: all)")
    rec.add_argument("--workdir", type=Path, help="keep the databases here (default: a temporary folder)")
    rec.add_argument(
        "--one-db",
        action="store_true",
        help="record every scenario into one database under one source, in the order given by --only",
    )
    rec.add_argument("--calm-seconds", type=float, default=900.0, help="length of the calm scenario")
    rec.add_argument("--scale", type=float, default=1.0, help="multiply every duration (a quick smoke run)")
    rec.add_argument("--save-fixtures", type=Path, help="write each trace as CSV + JSON into this folder")
    rep = sub.add_parser("replay", help="replay saved traces through the live detection path")
    rep.add_argument("folder", type=Path)
    rep.add_argument("--only", help="comma-separated scenario names (default: every trace in the folder)")
    rep.add_argument(
        "--history",
        metavar="NAME",
        default="lead-in",
        help="the recorder's recorded history: `lead-in` (default, as the tests: each trace's own lead-in before "
        "its first fault, played back and forth to 15 minutes), `none`, or a trace's name (e.g. calm, spliced in)",
    )
    day = sub.add_parser("calm-day", help="replay a calm trace mirrored into a simulated day; count its episodes")
    day.add_argument("folder", type=Path)
    day.add_argument("--name", default="calm", help="the trace to mirror (default: calm)")
    day.add_argument(
        "--history",
        choices=("none", "lead-in"),
        default="none",
        help="`none` (default): the day starts on an empty database; `lead-in`: after 15 minutes of the same "
        "trace played backwards, as a recorder that has been running on the host meets it",
    )
    args = parser.parse_args(argv)

    if args.command == "calm-day":
        rows, _meta = load_trace(args.folder, args.name)
        day_rows = mirrored(rows, DAY_SAMPLES)
        history = lead_in_history(rows, []) if args.history == "lead-in" else None
        with tempfile.TemporaryDirectory() as scratch:
            episodes = replay_rows(day_rows, Path(scratch) / "day.db", f"scenario-{args.name}", history)
        start = day_rows[0]["timestamp_ms"]
        told = "no history" if history is None else "after 15 minutes of history"
        print(f"{len(episodes)} episodes in a simulated day of {args.folder / args.name}.csv (mirrored, {told})")
        for a, b in episodes:
            print(f"  at {(a - start) / 60000:7.1f} min, {(b - a) / 1000:g} s")
        return 0

    if args.command == "record":
        if shutil.which("stress-ng") is None:
            print("stress-ng is not installed (apt-get install stress-ng)", file=sys.stderr)
            return 2
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scops-scenarios-"))
        workdir.mkdir(parents=True, exist_ok=True)
        chosen = scenarios(workdir, args.scale, args.calm_seconds)
        if args.only:
            by_name = {s.name: s for s in chosen}
            chosen = [by_name[name] for name in args.only.split(",")]
        results = []
        for scenario in chosen:
            print(f"recording {scenario.name}: {scenario.description} ({scenario.total:.0f} s)", file=sys.stderr)
            db, meta = record_scenario(scenario, workdir, args.one_db)
            since, until = meta["recorded_from_ms"], meta["recorded_to_ms"]
            rows = trace_rows(db, since, until)
            for line in meta["errors"]:
                print(f"  warning: {line}", file=sys.stderr)
            if args.save_fixtures:
                save_fixture(args.save_fixtures, scenario.name, rows, meta)
            episodes = recorded_episodes(db, since, until)
            figures = judge(scenario.name, [r["timestamp_ms"] for r in rows], meta["faults"], episodes)
            results.append(figures)
        print_table(results)
        print(f"\n(databases in {workdir})", file=sys.stderr)
        return 0

    names = sorted(p.stem for p in args.folder.glob("*.json"))
    if args.only:
        names = [n for n in names if n in set(args.only.split(","))]
    spliced = load_trace(args.folder, args.history)[0] if args.history not in ("lead-in", "none") else None
    results = []
    for name in names:
        rows, meta = load_trace(args.folder, name)
        history = spliced
        if args.history == "lead-in" and meta["faults"]:
            history = lead_in_history(rows, meta["faults"])
        with tempfile.TemporaryDirectory() as scratch:
            episodes = replay_rows(rows, Path(scratch) / "replay.db", f"scenario-{name}", history)
        results.append(judge(name, [r["timestamp_ms"] for r in rows], meta["faults"], episodes))
    print_table(results)
    return 0


def replay_rows(
    rows: Sequence[dict[str, Any]], db: Path, source: str, history: Sequence[dict[str, Any]] | None = None
) -> list[tuple[int, int]]:
    """Feed recorded samples through the recorder's live detection into `db`; return the episodes written
    during them (not during the history)."""
    replay_into(rows, db, source, history=history)
    return recorded_episodes(db, rows[0]["timestamp_ms"])


if __name__ == "__main__":
    raise SystemExit(main())
