"""Multi-process torture of one database: a recording app process against CLI commands, with kills between.

The app process is what `scops-tui` is while it records: the real `Recorder` loop (real psutil samples)
in one thread, reader connections opened from other threads the way the app's workers open them, and
review writes now and then. Beside it, other processes run in loops: `record` (must be refused by the
recorder lock), `export`, `anomalies list --json`, `db backup` (every backup verified), and `sync --watch`
to a PostgreSQL server. The app, the backups and the sync are SIGKILLed at random moments and restarted.

At the end: the database passes `PRAGMA integrity_check` and the foreign-key check, no committed row is
missing, the WAL and shared-memory files never vanished under a live writer, every backup verified, and
a last sync brings the server level with the local file.

    .venv/bin/python bench/torture.py --seconds 600            # the figures in docs/BENCHMARKS.md
    .venv/bin/python bench/torture.py --seconds 45 --json      # what tests/test_torture.py runs

`--pg-url` names an admin connection to a PostgreSQL server (default: SCOPS_TEST_PG or
postgresql://postgres@127.0.0.1:5432/postgres); a throwaway database is made there and dropped after.
`--no-sync` leaves PostgreSQL out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "scops_tui"]
BURST_SOURCE = "torture-burst"
"""Rows the app process writes besides its samples (as review and import writes would), counted exactly."""


# --------------------------------------------------------------------------------------------------------
# The app process
# --------------------------------------------------------------------------------------------------------


def run_app(db: Path, progress: Path, first_ts: int) -> None:
    """Record like the app: recorder thread, reader threads, extra writes; report committed rows to `progress`.

    `progress` gets, after each committed burst write, the number of burst rows committed so far (written
    to a temporary file, then renamed, so a kill never leaves it half-written). Runs until SIGTERM or SIGKILL.
    """
    from scops_tui.detection import review
    from scops_tui.recording.recorder import Recorder
    from scops_tui.recording.sampler import HostSampler
    from scops_tui.store import database as store
    from scops_tui.store.records import MetricRecord

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    errors: list[str] = []
    recorder = Recorder(
        db,
        HostSampler("torture-host"),
        interval=1.0,
        flush_interval=1.0,
        on_error=errors.append,
    )

    def record() -> None:
        # As the app does: if another process records (a `record` that slipped in while this process was
        # down), only read, and take over recording once that process has gone.
        from scops_tui.errors import DatabaseError

        while not stop.is_set():
            try:
                recorder.run(stop)
            except DatabaseError as exc:
                if "already recording" not in str(exc):
                    errors.append(f"recorder: {exc}")
                stop.wait(1.0)

    threading.Thread(target=record, name="recorder").start()

    def readers() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                conn = store.open_reader(db)
                try:
                    conn.execute("SELECT count(*), max(timestamp) FROM metrics").fetchone()
                    review.list_episodes(conn, "all", None, 50)
                finally:
                    conn.close()
            stop.wait(0.02)

    for index in range(2):
        threading.Thread(target=readers, name=f"reader-{index}", daemon=True).start()

    writer = store.open_database(db)
    system_id = store.user_id(writer, store.SYSTEM_USERNAME)
    committed = writer.execute("SELECT count(*) FROM metrics WHERE source = ?", (BURST_SOURCE,)).fetchone()[0]
    newest = writer.execute("SELECT max(timestamp) FROM metrics WHERE source = ?", (BURST_SOURCE,)).fetchone()[0]
    ts = max(first_ts, (newest or 0) + 1)
    while not stop.is_set():
        batch = []
        for _ in range(20):
            batch.append(
                MetricRecord(
                    timestamp_ms=ts,
                    source=BURST_SOURCE,
                    cpu_usage=random.uniform(0, 100),
                    memory_usage=random.uniform(0, 100),
                    disk_usage=50.0,
                    load_1m=1.0,
                    load_5m=1.0,
                    load_15m=1.0,
                    disk_io_read=random.randrange(10**6),
                    disk_io_write=random.randrange(10**6),
                    network_rx=random.randrange(10**6),
                    network_tx=random.randrange(10**6),
                    response_time=1.0,
                )
            )
            ts += 1
        try:
            store.insert_metrics(writer, batch, created_by=system_id, created_at=ts)
        except Exception as exc:  # locked past the busy timeout: the same rows are tried again
            errors.append(str(exc))
            ts -= len(batch)
            continue
        committed += len(batch)
        partial = progress.with_name(progress.name + ".tmp")
        partial.write_text(json.dumps({"committed": committed, "errors": errors[-5:]}))
        partial.replace(progress)
        stop.wait(0.01)
    writer.close()


# --------------------------------------------------------------------------------------------------------
# The orchestra
# --------------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """What one torture run saw."""

    seconds: float = 0.0
    app_kills: int = 0
    backup_kills: int = 0
    sync_kills: int = 0
    commands: dict[str, int] = field(default_factory=dict)
    """Runs of each command that finished (not killed on purpose)."""
    backups_verified: int = 0
    burst_rows_committed: int = 0
    burst_rows_stored: int = 0
    samples_stored: int = 0
    rows_lost: int = 0
    wal_vanished: int = 0
    """Times the -wal or -shm file was missing while the app process (a live writer) ran."""
    corrupt: int = 0
    errors: list[str] = field(default_factory=list)
    server_rows: int | None = None
    local_rows: int | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was lost, corrupt or unexpected."""
        synced = self.server_rows is None or self.server_rows == self.local_rows
        return not (self.rows_lost or self.wal_vanished or self.corrupt or self.errors) and synced


class Torture:
    """Runs the app process and the command loops against one database for a while."""

    def __init__(self, folder: Path, seconds: float, pg_url: str | None, seed: int) -> None:
        self.folder = folder
        self.db = folder / "scops.db"
        self.progress = folder / "app-progress.json"
        self.seconds = seconds
        self.pg_url = pg_url
        self.random = random.Random(seed)
        self.figures = Figures()
        self.lock = threading.Lock()
        self.app: subprocess.Popen[bytes] | None = None
        self.app_live = threading.Event()
        self.generation = 0
        """How many app processes have been started."""
        self.deadline = 0.0
        self.env = {**os.environ, "SCOPS_DB": str(self.db), "SCOPS_HOME": str(folder / "home")}
        self.env.pop("SCOPS_PG_URL", None)

    # -- helpers ---------------------------------------------------------------------------------------

    def error(self, message: str) -> None:
        with self.lock:
            if len(self.figures.errors) < 50:
                self.figures.errors.append(message)

    def count(self, name: str) -> None:
        with self.lock:
            self.figures.commands[name] = self.figures.commands.get(name, 0) + 1

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], env=self.env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )

    def app_errors(self) -> list[str]:
        """The app process's last errors (its recorder's and its burst writer's), as its progress file holds them."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            return list(json.loads(self.progress.read_text())["errors"])
        return []

    def committed(self) -> int:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(json.loads(self.progress.read_text())["committed"])
        return 0

    # -- the app process -------------------------------------------------------------------------------

    def start_app(self) -> None:
        self.generation += 1
        self.app = subprocess.Popen(
            [sys.executable, __file__, "--role", "app", "--db", str(self.db), "--progress", str(self.progress)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        # The recorder holds its lock once the database is open; wait for the first committed burst.
        start = time.monotonic()
        while self.committed() <= self.figures.burst_rows_committed and time.monotonic() - start < 30:
            if self.app.poll() is not None:
                stderr = self.app.stderr.read().decode(errors="replace") if self.app.stderr else ""
                self.error(f"app process exited early ({self.app.returncode}): {stderr.strip()[-300:]}")
                return
            time.sleep(0.05)
        self.app_live.set()

    def stop_app(self, *, kill: bool) -> None:
        assert self.app is not None
        self.app_live.clear()
        self.app.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.app.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.error("app process did not stop within 60 s of SIGTERM")
            self.app.kill()
            self.app.wait()
        if not kill and self.app.returncode != 0:
            stderr = self.app.stderr.read().decode(errors="replace") if self.app.stderr else ""
            self.error(f"app process exited {self.app.returncode}: {stderr.strip()[-300:]}")
        with self.lock:
            self.figures.burst_rows_committed = max(self.figures.burst_rows_committed, self.committed())

    def app_loop(self) -> None:
        while time.monotonic() < self.deadline:
            lifetime = self.random.uniform(4, 12)
            end = min(time.monotonic() + lifetime, self.deadline)
            while time.monotonic() < end:
                self.watch_wal()
                time.sleep(0.05)
            if time.monotonic() >= self.deadline:
                break
            self.stop_app(kill=True)
            with self.lock:
                self.figures.app_kills += 1
            self.start_app()

    def watch_wal(self) -> None:
        """The -wal and -shm files exist all the while a writer connection is open in the app process."""
        if not self.app_live.is_set():
            return
        for suffix in ("-wal", "-shm"):
            if not Path(f"{self.db}{suffix}").exists() and self.app_live.is_set():
                with self.lock:
                    self.figures.wal_vanished += 1

    # -- command loops ---------------------------------------------------------------------------------

    def loop(self, name: str, body: object, pause: tuple[float, float]) -> None:
        while time.monotonic() < self.deadline:
            try:
                body()  # type: ignore[operator]
            except subprocess.TimeoutExpired as exc:
                self.error(f"{name}: timed out after {exc.timeout} s")
            except Exception as exc:
                self.error(f"{name}: {type(exc).__name__}: {exc}")
            time.sleep(self.random.uniform(*pause))

    def app_records(self) -> bool:
        """True when the app process holds the recorder lock right now.

        A new app process may start while a `record` that slipped in during the kill still holds the lock;
        its recorder then waits and takes over later, and until it does another `record` may rightly run.
        """
        from scops_tui.store.recorder_lock import RecorderLock

        lock = RecorderLock(self.db)
        if self.app is None or not lock.held_by_other():
            return False
        with contextlib.suppress(OSError, ValueError):
            return int(lock.path.read_text().strip() or 0) == self.app.pid
        return False

    def refused_record(self) -> None:
        generation = self.generation
        if not self.app_live.is_set():
            return
        if not self.app_records():
            self.count("record (skipped: the app's recorder not holding the lock yet)")
            return
        result = self.cli("record", "--duration", "2", "--quiet")
        if not self.app_live.is_set() or self.generation != generation:
            return  # the app was killed meanwhile: this recorder may rightly have run
        if result.returncode == 0 or "already recording" not in result.stderr:
            app_errors = self.app_errors()
            self.error(
                f"record beside the app was not refused by the lock: {result.returncode} {result.stderr}"
                f" (the app's last errors: {app_errors})"
            )
        self.count("record (refused)")

    def export(self) -> None:
        out = self.folder / f"export-{uuid.uuid4().hex}.jsonl"
        result = self.cli("export", "metrics", "--format", "jsonl", "--out", str(out))
        if result.returncode != 0:
            self.error(f"export: {result.stderr.strip()}")
        else:
            with out.open() as handle:
                for line in handle:
                    json.loads(line)
            self.count("export")
        out.unlink(missing_ok=True)

    def anomalies(self) -> None:
        result = self.cli("anomalies", "list", "--json", "--status", "all")
        if result.returncode != 0:
            self.error(f"anomalies list: {result.stderr.strip()}")
            return
        json.loads(result.stdout)
        self.count("anomalies list --json")

    def backup(self) -> None:
        from scops_tui.store.maintenance import verify_backup

        target = self.folder / "backups" / f"scops-{uuid.uuid4().hex}.db"
        target.parent.mkdir(exist_ok=True)
        process = subprocess.Popen(
            [*CLI, "db", "backup", str(target)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if self.random.random() < 0.3:
            time.sleep(self.random.uniform(0.0, 0.3))
            process.kill()
            process.communicate()
            with self.lock:
                self.figures.backup_kills += 1
            if target.exists():  # it finished before the kill: it must still be intact
                verify_backup(target)
                with self.lock:
                    self.figures.backups_verified += 1
            return
        _, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            self.error(f"db backup: {stderr.strip()}")
            return
        verify_backup(target)
        with self.lock:
            self.figures.backups_verified += 1
        self.count("db backup")
        target.unlink()

    def sync_loop(self) -> None:
        assert self.pg_url is not None
        while time.monotonic() < self.deadline:
            process = subprocess.Popen(
                [*CLI, "sync", "--watch", "--interval", "0.5", "--batch-size", "500", "--url", self.pg_url],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(min(self.random.uniform(3, 8), max(self.deadline - time.monotonic(), 0.1)))
            if process.poll() is not None:
                self.error(f"sync --watch exited by itself ({process.returncode}): {process.stderr.read()[-300:]}")
                continue
            if self.random.random() < 0.5:
                process.kill()
                with self.lock:
                    self.figures.sync_kills += 1
                process.wait(timeout=60)
            else:
                process.terminate()
                _, stderr = process.communicate(timeout=120)
                if process.returncode == -signal.SIGTERM and "syncing" not in stderr:
                    # SIGTERM came before the command had started (on a loaded host, while Python was still
                    # importing): the default action killed it, like a SIGKILL, before it could sync anything.
                    with self.lock:
                        self.figures.sync_kills += 1
                    continue
                if process.returncode != 0:
                    self.error(f"sync --watch after SIGTERM exited {process.returncode}: {stderr[-300:]}")
                self.count("sync --watch")

    # -- the run ---------------------------------------------------------------------------------------

    def run(self) -> Figures:
        started = time.monotonic()
        self.deadline = started + self.seconds
        result = self.cli("db", "init")
        if result.returncode != 0:
            raise SystemExit(f"db init failed: {result.stderr}")
        if self.pg_url:
            result = self.cli("sync", "--init-server", "--url", self.pg_url)
            if result.returncode != 0:
                raise SystemExit(f"sync --init-server failed: {result.stderr}")
        self.start_app()
        threads = [
            threading.Thread(target=self.app_loop, name="app"),
            threading.Thread(target=self.loop, args=("record", self.refused_record, (0.5, 2.0))),
            threading.Thread(target=self.loop, args=("export", self.export, (0.2, 1.0))),
            threading.Thread(target=self.loop, args=("anomalies", self.anomalies, (0.1, 0.5))),
            threading.Thread(target=self.loop, args=("backup", self.backup, (0.5, 2.0))),
        ]
        if self.pg_url:
            threads.append(threading.Thread(target=self.sync_loop, name="sync"))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.stop_app(kill=False)
        self.figures.seconds = round(time.monotonic() - started, 1)
        self.verify()
        return self.figures

    def verify(self) -> None:
        from scops_tui.store.maintenance import check_database

        report = check_database(self.db)
        if not report.ok:
            self.figures.corrupt += 1
            self.error(f"db check: {report.problems[:3]}")
        conn = sqlite3.connect(f"{self.db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            stored = conn.execute("SELECT count(*) FROM metrics WHERE source = ?", (BURST_SOURCE,)).fetchone()[0]
            samples = conn.execute("SELECT count(*) FROM metrics WHERE source != ?", (BURST_SOURCE,)).fetchone()[0]
            local = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
        finally:
            conn.close()
        self.figures.burst_rows_stored = stored
        self.figures.samples_stored = samples
        self.figures.rows_lost = max(self.figures.burst_rows_committed - stored, 0)
        if self.pg_url:
            result = self.cli("sync", "--url", self.pg_url, timeout=300)
            if result.returncode != 0:
                self.error(f"final sync: {result.stderr.strip()}")
            self.figures.local_rows = local
            self.figures.server_rows = server_metric_rows(self.pg_url)


def server_metric_rows(url: str) -> int:
    """Rows in the server's metrics table."""
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        return int(conn.execute("SELECT count(*) FROM metrics").fetchone()[0])  # type: ignore[index]


@contextlib.contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """A new database on the server named by `admin_url`, dropped afterwards; yields its connection string."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"scops_torture_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin_url, dbname=name)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    """Parse the command line; run the app role or the whole torture and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--pg-url", default=os.environ.get("SCOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--no-sync", action="store_true", help="Leave PostgreSQL out.")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="Print the figures as one JSON object.")
    parser.add_argument("--keep", action="store_true", help="Keep the working folder (printed).")
    parser.add_argument("--role", choices=["app"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--progress", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "app":
        run_app(args.db, args.progress, first_ts=1_600_000_000_000)
        return
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    folder = Path(tempfile.mkdtemp(prefix="scops-torture-"))
    with contextlib.ExitStack() as stack:
        pg_url = None if args.no_sync else stack.enter_context(throwaway_database(args.pg_url))
        figures = Torture(folder, args.seconds, pg_url, seed).run()
    output = {"seed": seed, **asdict(figures), "ok": figures.ok}
    if args.keep:
        output["folder"] = str(folder)
    else:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(output))
    else:
        for key, value in output.items():
            print(f"{key:<22} {value}")
    sys.exit(0 if figures.ok else 1)


if __name__ == "__main__":
    main()
