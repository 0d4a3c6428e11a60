"""The recorder's lock file never follows a link, and a wall clock that steps back costs no sample."""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from scops_tui.detection.live import DetectionSettings
from scops_tui.errors import DatabaseError
from scops_tui.recording.recorder import Recorder
from scops_tui.recording.sampler import HostSampler
from scops_tui.store import database as store
from scops_tui.store.recorder_lock import RecorderLock
from scops_tui.store.records import MetricRecord
from tests.recording.test_recorder import RisingCounters

SCOPS = [sys.executable, "-m", "scops_tui"]
WALL = 1_800_000_000.0
"""Wall-clock seconds at the fake monotonic time 0."""


class SteppingClock:
    """A fake monotonic clock moved by the recorder's waits, and a wall clock the test can step back."""

    def __init__(self, wall_offset: float = WALL) -> None:
        self.now = 0.0
        self.wall_offset = wall_offset
        self.steps: dict[float, float] = {}
        """Monotonic time -> seconds the wall clock steps back once that time is reached."""

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        for at in sorted(self.steps):
            if self.now >= at:
                self.wall_offset -= self.steps.pop(at)
        return self.wall_offset + self.now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        self.now += seconds
        return event.is_set()


def record(
    db_path: Path, clock: SteppingClock, seconds: float, *, detect: bool = False, **kwargs: object
) -> tuple[Recorder, list[str]]:
    warnings: list[str] = []
    sampler = HostSampler("stepper", RisingCounters(), wall_clock=clock.wall, monotonic=clock.monotonic)
    recorder = Recorder(
        db_path,
        sampler,
        interval=5.0,
        flush_interval=30.0,
        on_error=warnings.append,
        detection=DetectionSettings(train_in_background=False, capture_processes=False) if detect else None,
        clock=clock.monotonic,
        wait=clock.wait,
        **kwargs,  # type: ignore[arg-type]
    )
    recorder.run(threading.Event(), duration=seconds)
    return recorder, warnings


def stored_timestamps(db_path: Path, source: str = "stepper") -> list[int]:
    conn = sqlite3.connect(db_path)
    try:
        return [row[0] for row in conn.execute("SELECT timestamp FROM metrics WHERE source = ? ORDER BY id", (source,))]
    finally:
        conn.close()


# -- the lock file ------------------------------------------------------------------------------------


def test_a_symlink_planted_at_the_lock_path_is_not_followed(db_path: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    lock_path = Path(f"{db_path}.recorder.lock")
    lock_path.symlink_to(victim)
    with pytest.raises(DatabaseError, match="symbolic link"):
        record(db_path, SteppingClock(), 10)
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not RecorderLock(db_path).held_by_other()
    # A dangling link is not followed either: its target is never created.
    lock_path.unlink()
    planted = tmp_path / "planted-by-attacker"
    lock_path.symlink_to(planted)
    with pytest.raises(DatabaseError, match="symbolic link"):
        RecorderLock(db_path).acquire()
    assert not RecorderLock(db_path).held_by_other()
    assert not planted.exists()


def test_the_record_command_refuses_a_symlinked_lock_in_one_line(db_path: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    Path(f"{db_path}.recorder.lock").symlink_to(victim)
    result = subprocess.run(
        [*SCOPS, "--db", str(db_path), "record", "--duration", "1", "--no-detect", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.startswith("scops-tui: error: ") and "symbolic link" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert victim.read_text() == "precious\n"


def test_a_hard_link_planted_at_the_lock_path_is_refused(db_path: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.link(victim, f"{db_path}.recorder.lock")
    with pytest.raises(DatabaseError, match="hard link"):
        RecorderLock(db_path).acquire()
    assert victim.read_text() == "precious\n"


_HOLDER = """
import sys, time
from pathlib import Path
from scops_tui.store.recorder_lock import RecorderLock
lock = RecorderLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_stale_lock_of_a_killed_recorder_is_taken_over_and_made_private(db_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        lock_path = Path(f"{db_path}.recorder.lock")
        assert lock_path.read_text() == str(holder.pid)
        assert RecorderLock(db_path).held_by_other()
        with pytest.raises(DatabaseError, match=f"pid {holder.pid}"):
            RecorderLock(db_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not RecorderLock(db_path).held_by_other()
    lock_path.chmod(0o644)  # as an older version or a loose umask would have left it
    previous = os.umask(0)
    try:
        lock = RecorderLock(db_path)
        lock.acquire()
    finally:
        os.umask(previous)
    try:
        assert lock_path.read_text() == str(os.getpid())
        assert stat.S_IMODE(lock_path.stat().st_mode) == 0o600
    finally:
        lock.release()


def test_a_new_lock_file_is_private_whatever_the_umask(db_path: Path) -> None:
    previous = os.umask(0)
    try:
        lock = RecorderLock(db_path)
        lock.acquire()
    finally:
        os.umask(previous)
    lock.release()
    assert stat.S_IMODE(Path(f"{db_path}.recorder.lock").stat().st_mode) == 0o600


# -- the wall clock stepping back -----------------------------------------------------------------------


@pytest.mark.parametrize(("step_back", "behind"), [(3600.0, "3,659.500 s"), (30.0, "89.500 s")])
def test_a_restart_after_the_clock_stepped_back_stores_every_sample_after_the_stored_ones(
    db_path: Path, step_back: float, behind: str
) -> None:
    first, _ = record(db_path, SteppingClock(), 60)
    before = stored_timestamps(db_path)
    assert len(before) == first.stats.samples == 13
    # The clock was corrected back (or the VM was resumed from an old snapshot); stepped back 30 s, the
    # new samples' wall times land exactly on stored ones.
    second, warnings = record(db_path, SteppingClock(wall_offset=WALL - step_back), 60, detect=True)
    after = stored_timestamps(db_path)
    assert second.stats.samples == 13 and second.stats.written == 13 and second.stats.failed_flushes == 0
    assert after[: len(before)] == before
    assert after[len(before) :] == [before[-1] + i for i in range(1, 14)]
    assert second.stats.restamped == 13
    assert len(warnings) == 1 and f"{behind} behind the newest sample of stepper" in warnings[0]


def test_a_step_back_while_recording_is_caught_up_with_one_warning(db_path: Path) -> None:
    clock = SteppingClock()
    clock.steps[32.0] = 12.0  # between the samples at 30 s and 35 s the wall clock goes back 12 s
    recorder, warnings = record(db_path, clock, 100)
    stamps = stored_timestamps(db_path)
    assert len(stamps) == recorder.stats.samples == recorder.stats.written == 21
    assert all(b > a for a, b in itertools.pairwise(stamps))
    wall_ms = [round((WALL + (5 * i or 0.5)) * 1000) for i in range(21)]  # sampled at 0.5 s, 5 s, 10 s, ...
    # The samples at 35 s and 40 s have wall times (23 s, 28 s) before the one at 30 s.
    assert stamps[:7] == wall_ms[:7]
    assert stamps[7:9] == [wall_ms[6] + 1, wall_ms[6] + 2]
    assert stamps[9:] == [ms - 12_000 for ms in wall_ms[9:]]
    assert recorder.stats.restamped == 2
    assert len(warnings) == 1 and "behind the newest sample" in warnings[0]


def test_rows_another_writer_stored_at_the_samples_times_move_them_to_the_next_free_millisecond(
    db_path: Path,
) -> None:
    wall_ms = [round((WALL + (5 * i or 0.5)) * 1000) for i in range(13)]  # sampled at 0.5 s, 5 s, 10 s, ...
    intruded = False

    def intrude(record: MetricRecord) -> None:
        # After the first sample, an import under the same source lands exactly on the next two samples' times.
        nonlocal intruded
        if intruded:
            return
        intruded = True
        conn = store.open_database(db_path)
        try:
            rows = [dataclasses.replace(record, timestamp_ms=ms) for ms in (wall_ms[1], wall_ms[2])]
            store.insert_metrics(conn, rows, created_by=None, created_at=0)
        finally:
            conn.close()

    recorder, warnings = record(db_path, SteppingClock(), 60, on_sample=intrude)
    stamps = stored_timestamps(db_path)
    assert recorder.stats.written == recorder.stats.samples == 13 and recorder.stats.failed_flushes == 0
    assert len(stamps) == 15 and len(set(stamps)) == 15
    assert stamps[:2] == [wall_ms[1], wall_ms[2]]  # the intruders, stored before the first flush
    assert stamps[2:] == [wall_ms[0], wall_ms[1] + 1, wall_ms[2] + 1, *wall_ms[3:]]
    assert recorder.stats.restamped == 2
    assert any("next free millisecond" in warning for warning in warnings)


def test_a_status_check_at_the_moment_a_recorder_starts_does_not_refuse_it(tmp_path: Path) -> None:
    import fcntl

    db = tmp_path / "scops.db"
    lock = RecorderLock(db)
    lock.path.write_text("")
    # What `held_by_other` in another process does for a moment: a shared lock on the lock file.
    checker = os.open(lock.path, os.O_RDONLY)
    fcntl.flock(checker, fcntl.LOCK_SH | fcntl.LOCK_NB)
    threading.Timer(0.1, os.close, args=(checker,)).start()
    lock.acquire()
    try:
        assert lock.path.read_text() == str(os.getpid())
    finally:
        lock.release()
