"""`export --out` and `detect --out` as real processes: special files are written through, files are private,
and no predictable temporary name can be turned against the user.

Special files are reached through links and FIFOs made in the test's own folder, never by naming
`/dev/full` or `/dev/stdout` directly: a regression that replaced the named file would otherwise replace
the system's own device when the suite runs as root.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from scops_tui.cli.main import main
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord

SCOPS = [sys.executable, "-m", "scops_tui"]

Command = Callable[[Path, Path, Path], list[str]]
COMMANDS: dict[str, Command] = {
    "export": lambda db, series, out: ["--db", str(db), "export", "metrics", "--out", str(out)],
    "detect": lambda db, series, out: ["detect", str(series), "--out", str(out)],
}


@pytest.fixture
def inputs(db_path: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A database with 50 samples and a CSV series of 50 rows."""
    conn = store.open_database(db_path)
    try:
        records = [
            MetricRecord(
                timestamp_ms=1_700_000_000_000 + 5000 * i,
                source="host-a",
                cpu_usage=10.0 + i % 7,
                memory_usage=40.0,
                disk_usage=20.0,
                load_1m=0.5,
                load_5m=0.4,
                load_15m=0.3,
                disk_io_read=1000 * i,
                disk_io_write=0,
                network_rx=7,
                network_tx=8,
                response_time=1.5,
            )
            for i in range(50)
        ]
        store.insert_metrics(conn, records, created_by=None, created_at=1_700_000_000_000)
    finally:
        conn.close()
    series = tmp_path / "series.csv"
    series.write_text("timestamp,value\n" + "".join(f"{1_700_000_000 + 60 * i},{i % 9}\n" for i in range(50)))
    return db_path, series


def run(*args: str, umask: int = -1) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCOPS, *args], capture_output=True, text=True, timeout=300, check=False, umask=umask)


def to_stdout(kind: str, db: Path, series: Path) -> str:
    """What the command writes without --out."""
    args = COMMANDS[kind](db, series, Path("unused"))
    result = run(*args[: args.index("--out")])
    assert result.returncode == 0, result.stderr
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert result.stderr.startswith("scops-tui: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_a_fifo_is_written_through_to_its_reader_and_stays_a_fifo(
    kind: str, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    db, series = inputs
    expected = to_stdout(kind, db, series)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    try:
        result = run(*COMMANDS[kind](db, series, fifo))
        assert result.returncode == 0, result.stderr
        received, _ = reader.communicate(timeout=120)  # the reader ends when the writer closes the FIFO
    finally:
        reader.kill()
        reader.wait()
    assert received == expected
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_a_full_device_gives_one_disk_full_line_and_stays_a_device(
    kind: str, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    if not stat.S_ISCHR(os.stat("/dev/full").st_mode):
        pytest.skip("no /dev/full here")
    db, series = inputs
    link = tmp_path / "full"
    link.symlink_to("/dev/full")
    error = one_error_line(run(*COMMANDS[kind](db, series, link)))
    assert f"{link}: cannot write: the disk is full" in error
    assert link.is_symlink() and os.readlink(link) == "/dev/full"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_a_link_to_stdout_writes_to_stdout(kind: str, inputs: tuple[Path, Path], tmp_path: Path) -> None:
    db, series = inputs
    expected = to_stdout(kind, db, series)
    link = tmp_path / "my-stdout"
    link.symlink_to("/dev/stdout")
    result = run(*COMMANDS[kind](db, series, link))
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
    assert link.is_symlink()


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_the_output_file_is_private_whatever_the_umask(kind: str, inputs: tuple[Path, Path], tmp_path: Path) -> None:
    db, series = inputs
    expected = to_stdout(kind, db, series)
    fresh = tmp_path / "fresh.csv"
    replaced = tmp_path / "replaced.csv"
    replaced.write_text("old\n")
    replaced.chmod(0o644)
    for out in (fresh, replaced):
        result = run(*COMMANDS[kind](db, series, out), "--force", umask=0)
        assert result.returncode == 0, result.stderr
        assert out.read_text() == expected
        assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_a_link_planted_at_the_old_temporary_name_is_never_followed(
    kind: str, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    db, series = inputs
    expected = to_stdout(kind, db, series)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out.csv"
    # The name the temporary file used to have in this (in-process) command: `.NAME.partial-PID`.
    planted = tmp_path / f".out.csv.partial-{os.getpid()}"
    planted.symlink_to(victim)
    result = CliRunner().invoke(main, COMMANDS[kind](db, series, out))
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and out.read_text() == expected
    assert planted.is_symlink() and os.readlink(planted) == str(victim)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [planted.name]


def test_a_link_owned_by_another_user_is_not_followed(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a link owned by another user needs root")
    db, series = inputs
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    os.lchown(link, 65534, 65534)
    error = one_error_line(run(*COMMANDS["detect"](db, series, link)))
    assert "symbolic link owned by another user" in error
    assert victim.read_text() == "precious\n" and link.is_symlink()


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_an_existing_file_is_refused_without_force_and_replaced_with_it(
    kind: str, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    """`--out` never replaces a file by surprise: one line naming it and --force, the file as it was."""
    db, series = inputs
    expected = to_stdout(kind, db, series)
    out = tmp_path / "kept.csv"
    out.write_text("precious\n")
    error = one_error_line(run(*COMMANDS[kind](db, series, out)))
    assert f"{out} already exists (use --force to replace it)" in error
    assert out.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    forced = run(*COMMANDS[kind](db, series, out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert out.read_text() == expected


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_a_link_to_an_existing_file_is_refused_without_force(
    kind: str, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    """A link to a plain file would overwrite that file: refused like the file itself."""
    db, series = inputs
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    error = one_error_line(run(*COMMANDS[kind](db, series, link)))
    assert "already exists" in error
    assert victim.read_text() == "precious\n" and link.is_symlink()


def test_a_file_that_appears_while_writing_is_not_overwritten(tmp_path: Path) -> None:
    """The finished output is linked into place, never renamed over a file another process made meanwhile."""
    from scops_tui.transfer.output_file import OutputFileError, open_output

    out = tmp_path / "race.csv"
    with pytest.raises(OutputFileError, match="already exists"), open_output(out) as handle:
        handle.write("mine\n")
        out.write_text("theirs\n")
    assert out.read_text() == "theirs\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
