"""Runs the app under uvicorn: TLS if asked, a warning when serving beyond loopback in clear text, and a
graceful stop on SIGINT/SIGTERM (in-flight requests finish, the usage log is flushed, exit status 0)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvicorn

from scops_tui.api.app import Service, ServiceConfig, build_app
from scops_tui.api.usage import UsageLog
from scops_tui.errors import ScopsError
from scops_tui.store.database import open_reader
from scops_tui.store.migrations import current_version, latest_version

log = logging.getLogger("scops_tui.api")

REFRESH_SECONDS = 1.0
"""How often the prediction detectors take in the recorder's new samples and a newly deployed version."""


@dataclass(frozen=True)
class ServeOptions:
    """How `scops-tui serve` listens."""

    host: str = "127.0.0.1"
    port: int = 8765
    certfile: Path | None = None
    keyfile: Path | None = None


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or `localhost`."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(options: ServeOptions) -> str | None:
    """The one-line warning for serving keys in clear text beyond this machine, if it applies."""
    if options.certfile is None and not is_loopback(options.host):
        return (
            f"scops-tui: warning: serving on {options.host} without TLS: API keys and data cross the network "
            "in clear text (give --certfile and --keyfile, or bind to 127.0.0.1)"
        )
    return None


class _Server(uvicorn.Server):
    """uvicorn's server, minus its habit of re-raising the stop signal after a graceful shutdown
    (that would end the process by SIGTERM instead of exit status 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for open connections
        self.should_exit = True


def check_database(path: Path, busy_timeout_ms: int) -> None:
    """Refuse a missing, foreign or out-of-date database before listening."""
    conn = open_reader(path, busy_timeout_ms=busy_timeout_ms)
    try:
        version = current_version(conn)
    finally:
        conn.close()
    if version < latest_version():
        raise ScopsError(
            f"database {path} is at schema version {version} (current: {latest_version()}); run `scops-tui db upgrade`"
        )


def serve(config: ServiceConfig, options: ServeOptions) -> None:
    """Serve until SIGINT/SIGTERM; then finish in-flight requests and flush the usage log."""
    check_database(config.db_path, config.busy_timeout_ms)
    if (options.certfile is None) != (options.keyfile is None):
        raise ScopsError("give both --certfile and --keyfile for TLS, or neither")
    logging.basicConfig(level=logging.INFO, format="scops-tui serve: %(levelname)s: %(message)s", stream=sys.stderr)
    usage = UsageLog(config.db_path, busy_timeout_ms=config.busy_timeout_ms)
    usage.start()
    service = Service(config, usage)
    stop = threading.Event()
    refresher = threading.Thread(target=_refresh_loop, args=(service, stop), name="scops-predict-refresh", daemon=True)
    uv_config = uvicorn.Config(
        build_app(service),
        host=options.host,
        port=options.port,
        ssl_certfile=str(options.certfile) if options.certfile else None,
        ssl_keyfile=str(options.keyfile) if options.keyfile else None,
        access_log=False,
        log_config=None,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    server = _Server(uv_config)
    try:
        refresher.start()
        print(f"scops-tui serve: listening on {_url(options)} (database {config.db_path})", file=sys.stderr, flush=True)
        with contextlib.suppress(SystemExit):  # uvicorn exits so when it cannot bind; said below in one line
            server.run()
    finally:
        stop.set()
        refresher.join()
        usage.close()
        service.readers.close()
    print(f"scops-tui serve: stopped; {usage.written} usage rows written", file=sys.stderr, flush=True)
    if not server.started:
        raise ScopsError(f"could not listen on {options.host}:{options.port} (address in use or not available)")


def _url(options: ServeOptions) -> str:
    host = f"[{options.host}]" if ":" in options.host else options.host
    return f"{'https' if options.certfile else 'http'}://{host}:{options.port}"


def _refresh_loop(service: Service, stop: threading.Event) -> None:
    """Warm this host's detector at start, then keep every warm detector current."""
    try:
        service.predictions.score_ready(service.config.source)
    except Exception as exc:  # no model yet is normal; a request will say so
        log.info("predictions: %s", exc)
    while not stop.wait(REFRESH_SECONDS):
        try:
            service.predictions.refresh()
        except Exception as exc:  # a locked or busy database: try again next second
            log.warning("predictions: refresh failed: %s", exc)
