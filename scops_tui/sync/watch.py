"""`sync --watch`: a push every interval until stopped; failures retried with backoff, a refused login ends it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scops_tui.sync.push import DEFAULT_BATCH_SIZE, backoff_delays, run_sync
from scops_tui.sync.report import ProgressCallback, SyncReport
from scops_tui.sync.server import AuthenticationFailed, DatabaseMissing, SyncError
from scops_tui.sync.target import SyncTarget


@dataclass(frozen=True)
class WatchOutcome:
    """How a `sync --watch` went, once stopped."""

    runs: int
    """Runs that succeeded."""
    failures: int
    """Runs that failed (each retried after a backoff)."""
    last_error: str | None
    """The message of the last failure, if any."""
    last_exit_code: int = 0
    """The exit status the last failure has on its own (3 for an unreachable server), 0 without failures."""


def watch_sync(
    db_path: Path,
    target: SyncTarget,
    stop: threading.Event,
    *,
    interval: float = 10.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    busy_timeout_ms: int = 5000,
    on_report: Callable[[SyncReport], None] | None = None,
    on_error: Callable[[str, float], None] | None = None,
    progress: ProgressCallback | None = None,
) -> WatchOutcome:
    """Sync every `interval` seconds until `stop` is set; on failure retry with backoff (0.25 s to 60 s).

    Returns how many runs succeeded and failed. Errors are reported through `on_error(message, seconds
    until the next try)` and retried, except a refused login or a database that does not exist:
    retrying cannot help, so AuthenticationFailed and DatabaseMissing end the loop (raised to the caller).
    """
    runs = failures = 0
    last_error: str | None = None
    last_exit_code = 0
    delays = backoff_delays()
    while not stop.is_set():
        try:
            report = run_sync(
                db_path, target, batch_size=batch_size, busy_timeout_ms=busy_timeout_ms, progress=progress, stop=stop
            )
        except (AuthenticationFailed, DatabaseMissing):
            raise
        except SyncError as exc:
            failures += 1
            last_error, last_exit_code = str(exc), exc.exit_code
            wait = next(delays)
            if on_error:
                on_error(str(exc), wait)
            stop.wait(wait)
            continue
        runs += 1
        delays = backoff_delays()
        if on_report:
            on_report(report)
        stop.wait(interval)
    return WatchOutcome(runs, failures, last_error, last_exit_code)
