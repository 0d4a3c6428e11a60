"""The dashboard's process source: CPU shares from the difference between two /proc scans."""

from __future__ import annotations

import os
from pathlib import Path

from scops_tui.tui.process_reader import ProcessReader, scan_proc

TICKS = os.sysconf("SC_CLK_TCK")


def write_process(proc: Path, pid: int, name: str, cpu_ticks: int, start: int, cmdline: str = "") -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True, exist_ok=True)
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ... starttime
    fields = ["S", "1", "1", "1", "0", "-1", "0", "0", "0", "0", "0", str(cpu_ticks), "0"]
    fields += ["0", "0", "20", "0", "1", "0", str(start), "1000", "10"]
    (folder / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")
    (folder / "statm").write_text("3000000 1000000 100 1 0 200 0\n")  # 4 GB resident at 4-KiB pages
    (folder / "cmdline").write_bytes(cmdline.encode() + b"\0")


def test_scan_reads_name_start_and_cpu_seconds(tmp_path: Path) -> None:
    write_process(tmp_path, 42, "my (odd) name", 3 * TICKS, 777)
    (tmp_path / "self").mkdir()
    assert scan_proc(tmp_path) == {42: (777, b"my (odd) name", 3.0)}


def test_shares_come_from_the_time_between_two_calls(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "stat").write_text("")
    now = [100.0]
    reader = ProcessReader(tmp_path, clock=lambda: now[0])
    write_process(tmp_path, 10, "busy", 0, 5)
    write_process(tmp_path, 11, "idle", 0, 5)
    write_process(tmp_path, 12, "reused", 0, 5)
    write_process(tmp_path, 13, "a-very-long-nam", 0, 5, cmdline="/usr/bin/a-very-long-name-indeed --flag")
    reader._last = (now[0], scan_proc(tmp_path))  # as if a first call had scanned
    now[0] = 102.0
    write_process(tmp_path, 10, "busy", 2 * TICKS, 5)  # 2 s of CPU in 2 s: 100 %
    write_process(tmp_path, 12, "reused", 9 * TICKS, 6)  # another process under the same pid: no share
    write_process(tmp_path, 13, "a-very-long-nam", TICKS // 2, 5, cmdline="/usr/bin/a-very-long-name-indeed")
    top = reader(10)
    assert [p.pid for p in top] == [10, 13, 11]
    assert top[0].cpu_percent == 100.0
    assert top[1].cpu_percent == 25.0
    assert top[1].name == "a-very-long-name-indeed"  # the kernel cuts names at 15 characters
    assert top[2].cpu_percent == 0.0
    assert top[0].memory_percent > 0
    now[0] = 104.0  # the next call measures since this one
    write_process(tmp_path, 11, "idle", TICKS, 5)
    top = reader(1)
    assert [(p.pid, p.cpu_percent) for p in top] == [(11, 50.0)]
