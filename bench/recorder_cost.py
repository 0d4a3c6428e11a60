"""Measure the recorder's own cost from outside the process, with Glances as the peer in the same run.

Starts `scops-tui record --interval 1 --quiet` (SCOPS_HOME set to a fresh temporary directory) and
`glances --quiet --export csv --export-csv-file F -t 1` side by side, lets both run for `--seconds`, and
polls each process tree once a second from outside:

* CPU: utime + stime of every live process in the tree from `/proc/<pid>/stat`, plus cutime + cstime of the
  root (children already reaped), divided by CLK_TCK (`os.sysconf("SC_CLK_TCK")`);
* memory: VmRSS and VmHWM from `/proc/<pid>/status` (peak RSS = VmHWM of each process in the tree, summed);
* time to first row: scops-tui's database is polled every 20 ms through a separate read-only connection
  (`SELECT count(*) FROM metrics`); Glances' CSV is polled for its first data row (the line after the header).

Both are stopped with SIGTERM; scops-tui must exit 0. The rusage of each (from `os.wait4`, which includes
the shutdown) is reported beside the /proc figures taken just before the signal.

Targets for scops-tui: <= 0.3 % of one core at steady state, <= 40 MiB peak RSS, first row within 1.5 s.

Usage (from the repository root):

    .venv/bin/python bench/recorder_cost.py --seconds 300

The Glances venv is created on first use (`python3 -m venv /tmp/glances-venv` + `pip install glances`).
Raw results go to `bench/out/recorder_cost-<UTC time>.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _common import OUT_DIR, REPO, HostLoad, invocation, machine, shown, write_json

CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET_CPU_PERCENT = 0.3
TARGET_RSS_MIB = 40.0
TARGET_FIRST_ROW_S = 1.5


# --------------------------------------------------------------------------------------------- /proc


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (over all its threads)."""
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as handle:
                kids.extend(int(x) for x in handle.read().split())
    return kids


def process_tree(pid: int) -> list[int]:
    """`pid` and all its live descendants."""
    seen, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        todo.extend(_children(current))
    return seen


def read_stat(pid: int) -> tuple[int, int, int, int] | None:
    """(utime, stime, cutime, cstime) in clock ticks, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    # After the command name: state is field 3, so utime (14) is index 11 here.
    return int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14])


def read_status_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB, zeros if the process is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


@dataclass
class TreeReading:
    """One poll of a process tree."""

    t: float
    """Seconds since spawn."""
    cpu_s: float
    rss_kb: int
    hwm_kb: int
    processes: int


def read_tree(root: int, spawned: float) -> TreeReading:
    """CPU (live tree + reaped children of the root) and memory of the tree rooted at `root`."""
    ticks = rss = hwm = 0
    pids = process_tree(root)
    alive = 0
    for pid in pids:
        stat = read_stat(pid)
        if stat is None:
            continue
        alive += 1
        ticks += stat[0] + stat[1]
        if pid == root:
            ticks += stat[2] + stat[3]
        r, h = read_status_kb(pid)
        rss += r
        hwm += h
    return TreeReading(time.monotonic() - spawned, ticks / CLK_TCK, rss, hwm, alive)


# --------------------------------------------------------------------------------------------- tools


@dataclass
class Tool:
    """One monitored tool: how to start it, how to tell it has written a row, how to count its rows."""

    name: str
    argv: list[str]
    env: dict[str, str]
    output: Path
    kind: str  # "sqlite" or "csv"
    proc: subprocess.Popen[bytes] | None = None
    spawned: float = 0.0
    first_row_s: float | None = None
    cpu_at_first_row: float | None = None
    readings: list[TreeReading] = field(default_factory=list)
    rusage: dict[str, float] | None = None
    exit_code: int | None = None
    stderr_tail: str = ""
    stderr_path: Path | None = None

    def start(self) -> None:
        self.stderr_path = self.output.parent / f"{self.name}.stderr"
        with self.stderr_path.open("wb") as stderr:
            self.spawned = time.monotonic()
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )

    def has_row(self) -> bool:
        """True once the first data row is on disk."""
        if not self.output.exists():
            return False
        if self.kind == "sqlite":
            return self.count_rows() > 0
        with self.output.open("rb") as handle:
            lines = handle.read().split(b"\n")
        # A complete data row is a second line followed by a newline.
        return len(lines) >= 3

    def count_rows(self) -> int:
        if not self.output.exists():
            return 0
        if self.kind == "csv":
            with self.output.open("rb") as handle:
                return max(handle.read().count(b"\n") - 1, 0)
        try:
            conn = sqlite3.connect(f"{self.output.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
            try:
                return int(conn.execute("SELECT count(*) FROM metrics").fetchone()[0])
            finally:
                conn.close()
        except sqlite3.Error:
            return 0

    def stop(self) -> None:
        """SIGTERM, then reap with wait4 to get the rusage of the whole life (shutdown included)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self.proc.kill()
                pid, status, usage = os.wait4(self.proc.pid, 0)
                break
            time.sleep(0.02)
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.exit_code
        self.rusage = {
            "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime,
            "maxrss_kb": usage.ru_maxrss,
            "wall_s": time.monotonic() - self.spawned,
        }
        assert self.stderr_path is not None
        self.stderr_tail = self.stderr_path.read_text(errors="replace")[-2000:]


def summarise(tool: Tool) -> dict[str, object]:
    """The figures of one tool from its readings."""
    last = tool.readings[-1]
    wall = last.t
    result: dict[str, object] = {
        "tool": tool.name,
        "command": shlex.join(tool.argv),
        "wall_s": round(wall, 2),
        "cpu_s": round(last.cpu_s, 3),
        "whole_run_cpu_percent": round(100 * last.cpu_s / wall, 3),
        "cpu_s_per_minute": round(60 * last.cpu_s / wall, 4),
        "peak_rss_mib": round(max(r.hwm_kb for r in tool.readings) / 1024, 1),
        "final_rss_mib": round(last.rss_kb / 1024, 1),
        "first_rss_mib": round(next((r.rss_kb for r in tool.readings if r.rss_kb), 0) / 1024, 1),
        "max_processes": max(r.processes for r in tool.readings),
        "first_row_s": None if tool.first_row_s is None else round(tool.first_row_s, 3),
        "cpu_before_first_row_s": tool.cpu_at_first_row,
        "rows": tool.count_rows(),
        "exit_code": tool.exit_code,
        "rusage": tool.rusage,
    }
    if tool.first_row_s is not None and tool.cpu_at_first_row is not None:
        steady_cpu = last.cpu_s - tool.cpu_at_first_row
        steady_wall = wall - tool.first_row_s
        result["steady_cpu_percent"] = round(100 * steady_cpu / steady_wall, 3)
        rows = int(result["rows"])  # type: ignore[call-overload]
        result["cpu_ms_per_row_steady"] = round(1000 * steady_cpu / max(rows - 1, 1), 2)
    return result


# --------------------------------------------------------------------------------------------- setup


def ensure_glances(venv: Path) -> tuple[Path, str]:
    """The glances executable in `venv` (created and installed if missing) and its version line."""
    exe = venv / "bin" / "glances"
    if not exe.exists():
        print(f"creating {venv} and installing glances ...", file=sys.stderr)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "glances"], check=True)
    version = subprocess.run([str(exe), "-V"], capture_output=True, text=True, check=True).stdout
    return exe, " ".join(version.split())


def host() -> dict[str, object]:
    """The machine, plus how many processes it runs and the clock tick."""
    return {
        **machine(),
        "processes": sum(1 for name in os.listdir("/proc") if name.isdigit()),
        "clk_tck": CLK_TCK,
    }


# --------------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="scops-bench-recorder-"))
    scops_home = workdir / "scops-home"
    scops_home.mkdir()
    env = dict(os.environ)
    env.pop("SCOPS_DB", None)
    env.pop("SCOPS_CONFIG", None)
    env["SCOPS_HOME"] = str(scops_home)
    tools = [
        Tool(
            "scops-tui",
            [str(args.scops), "record", "--interval", f"{args.interval:g}", "--quiet", *args.scops_arg],
            env,
            scops_home / "scops.db",
            "sqlite",
        )
    ]
    glances_version = None
    if not args.no_glances:
        exe, glances_version = ensure_glances(args.glances_venv)
        csv_path = workdir / "glances.csv"
        tools.append(
            Tool(
                "glances",
                [
                    str(exe),
                    "--quiet",
                    "--export",
                    "csv",
                    "--export-csv-file",
                    str(csv_path),
                    "-t",
                    f"{args.interval:g}",
                ],
                dict(os.environ),
                csv_path,
                "csv",
            )
        )

    load = HostLoad()
    for tool in tools:
        tool.start()
    started = time.monotonic()
    next_poll = started
    try:
        while True:
            now = time.monotonic()
            for tool in tools:
                if tool.first_row_s is None and tool.has_row():
                    tool.first_row_s = time.monotonic() - tool.spawned
                    assert tool.proc is not None
                    reading = read_tree(tool.proc.pid, tool.spawned)
                    tool.cpu_at_first_row = reading.cpu_s
                    tool.readings.append(reading)
            if now >= next_poll:
                for tool in tools:
                    assert tool.proc is not None
                    if tool.proc.poll() is not None:
                        raise RuntimeError(
                            f"{tool.name} exited early (code {tool.proc.returncode}), see {tool.stderr_path}"
                        )
                    tool.readings.append(read_tree(tool.proc.pid, tool.spawned))
                next_poll += 1.0
            if now - started >= args.seconds:
                break
            pending = any(t.first_row_s is None for t in tools)
            time.sleep(0.02 if pending else max(min(next_poll, started + args.seconds) - time.monotonic(), 0.0))
        for tool in tools:
            assert tool.proc is not None
            tool.readings.append(read_tree(tool.proc.pid, tool.spawned))
    finally:
        for tool in tools:
            if tool.proc is not None and tool.exit_code is None:
                tool.stop()

    results = [summarise(tool) for tool in tools]
    for tool, result in zip(tools, results, strict=True):
        result["stderr_tail"] = tool.stderr_tail
        result["readings"] = [asdict(r) for r in tool.readings]
    ours = results[0]
    targets = {
        "steady_cpu_percent<=0.3": (ours.get("steady_cpu_percent") or 1e9) <= TARGET_CPU_PERCENT,  # type: ignore[operator]
        "peak_rss_mib<=40": ours["peak_rss_mib"] <= TARGET_RSS_MIB,  # type: ignore[operator]
        "first_row_s<=1.5": ours["first_row_s"] is not None and ours["first_row_s"] <= TARGET_FIRST_ROW_S,  # type: ignore[operator]
        "scops_exit_0": ours["exit_code"] == 0,
    }
    return {
        "benchmark": "recorder_cost",
        "command": invocation(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - args.seconds)),
        "seconds": args.seconds,
        "interval": args.interval,
        "machine": host(),
        "host_load": load.stop(),
        "glances_version": glances_version,
        "workdir": str(workdir),
        "targets_met": targets,
        "results": results,
    }


def markdown(report: dict[str, object]) -> str:
    results: list[dict[str, object]] = report["results"]  # type: ignore[assignment]
    rows = [
        ("Whole-run CPU, % of one core", "whole_run_cpu_percent", "{:.3f} %"),
        ("Steady-state CPU (after first row), % of one core", "steady_cpu_percent", "{:.3f} %"),
        ("CPU seconds per minute (whole run)", "cpu_s_per_minute", "{:.4f} s"),
        ("CPU time (/proc, before SIGTERM)", "cpu_s", "{:.2f} s"),
        ("CPU per row at steady state", "cpu_ms_per_row_steady", "{:.2f} ms"),
        ("Peak RSS (VmHWM)", "peak_rss_mib", "{:.1f} MiB"),
        ("RSS at stop (VmRSS)", "final_rss_mib", "{:.1f} MiB"),
        ("Spawn to first row on disk", "first_row_s", "{:.3f} s"),
        ("CPU spent before first row", "cpu_before_first_row_s", "{:.2f} s"),
        ("Rows written", "rows", "{}"),
        ("Processes in tree (max)", "max_processes", "{}"),
        ("Exit code after SIGTERM", "exit_code", "{}"),
    ]
    head = "| Measure | " + " | ".join(str(r["tool"]) for r in results) + " |"
    lines = [head, "|---|" + "---|" * len(results)]
    for label, key, fmt in rows:
        cells = []
        for r in results:
            value = r.get(key)
            cells.append("n/a" if value is None else fmt.format(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = []
    for r in results:
        u: dict[str, float] = r["rusage"]  # type: ignore[assignment]
        cells.append(
            f"{u['user_s']:.2f} + {u['sys_s']:.2f} s, maxrss {u['maxrss_kb'] / 1024:.1f} MiB, {u['wall_s']:.1f} s"
        )
    lines.append("| rusage at exit (user + sys, maxrss, wall) | " + " | ".join(cells) + " |")
    out = [
        f"Command: `{report['command']}`",
        "",
        *(f"- {r['tool']}: `{r['command']}`" for r in results),
        "",
        *lines,
        "",
        f"Host during the run: {report['host_load']}",
        "",
        "Targets (scops-tui): "
        + ", ".join(f"{k} {'MET' if v else 'MISSED'}" for k, v in report["targets_met"].items()),  # type: ignore[attr-defined]
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="how long both tools run (default 300)")
    parser.add_argument("--interval", type=float, default=1.0, help="sampling interval of both tools (default 1)")
    parser.add_argument(
        "--scops", type=Path, default=REPO / ".venv" / "bin" / "scops-tui", help="the scops-tui executable"
    )
    parser.add_argument(
        "--glances-venv",
        type=Path,
        default=Path("/tmp/glances-venv"),
        help="venv holding glances (made if absent)",
    )
    parser.add_argument("--no-glances", action="store_true", help="measure scops-tui alone")
    parser.add_argument(
        "--scops-arg",
        action="append",
        default=[],
        help="extra argument for `scops-tui record` (repeatable), e.g. --scops-arg=--no-detect",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="directory for the JSON results")
    args = parser.parse_args()

    report = run(args)
    path = write_json("recorder_cost", report, args.out)
    print(markdown(report))
    print(f"\nRaw results: {shown(path)}")


if __name__ == "__main__":
    main()
