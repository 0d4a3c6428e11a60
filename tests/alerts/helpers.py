"""Shared parts of the alert tests: a real JSON webhook on 127.0.0.1, episodes written as the recorder
writes them (row and outbox entry in one transaction), a fake clock and the config file."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from scops_tui.alerts.config import AlertSettings
from scops_tui.alerts.outbox import AlertOutbox
from scops_tui.detection import review
from scops_tui.detection.episodes import EpisodeEvent, EpisodeSnapshot
from scops_tui.store import database as store

T0 = 1_796_000_000_000
"""A fixed start time (epoch ms) for the fake clock."""


class FakeClock:
    """Epoch ms that only moves when told."""

    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1000)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Receiver:
    """A JSON webhook on 127.0.0.1: keeps every POST body; can go down and come back on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.posts: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """The apprise URL of this receiver."""
        return f"json://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver.arrived:
                    receiver.posts.append(body)
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The posts once at least `count` arrived (or whatever arrived within `timeout`: the test's assert
        then says what is missing)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.posts) >= count, timeout)
            return list(self.posts)


def fields_of(post: dict[str, Any]) -> dict[str, str]:
    """The `name: value` lines of an alert body."""
    found = {}
    for line in str(post.get("message", "")).splitlines():
        name, colon, value = line.partition(": ")
        if colon:
            found[name.strip()] = value.strip()
    return found


@dataclass
class EpisodeWriter:
    """Writes episodes as the recorder does: the row and its outbox entry in one transaction."""

    conn: sqlite3.Connection
    outbox: AlertOutbox | None
    source: str = "web-1"

    def open(
        self,
        start_ms: int,
        peak: float,
        deviations: tuple[tuple[str, float], ...] = (("cpu_usage", 8.0), ("load_1m", 2.0)),
        processes: list[dict[str, Any]] | None = None,
    ) -> int:
        snapshot = EpisodeSnapshot(start_ms, start_ms, peak, 1, deviations)
        with store.transaction(self.conn):
            episode_id = review.open_episode(
                self.conn, snapshot, source=self.source, model_name="test", model_version="1", model_version_id=None
            )
            if processes is not None:
                review.set_top_processes(self.conn, episode_id, processes)
            if self.outbox is not None:
                self.outbox.note(self.conn, episode_id, EpisodeEvent("opened", snapshot))
        return episode_id

    def grow(self, episode_id: int, start_ms: int, end_ms: int, peak: float) -> None:
        snapshot = EpisodeSnapshot(start_ms, end_ms, peak, 2, (("cpu_usage", 9.0),))
        with store.transaction(self.conn):
            review.update_episode(self.conn, episode_id, snapshot)
            if self.outbox is not None:
                self.outbox.note(self.conn, episode_id, EpisodeEvent("extended", snapshot))


def write_config(
    home: Path, urls: list[str], *, command: str | None = None, extra: str = "", mode: int = 0o600
) -> Path:
    """Write `home/config.toml`: `extra` top-level settings, then an [alerts] table; return its path."""
    lines = [extra, "[alerts]", "min_severity = 'medium'", "cooldown_minutes = 15", f"urls = {json.dumps(urls)}"]
    if command is not None:
        lines.append(f"command = {json.dumps(command)}")
    path = home / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, mode)
    return path


def settings(urls: list[str], command: str | None = None, cooldown: float = 15.0) -> AlertSettings:
    return AlertSettings(min_severity="medium", cooldown_minutes=cooldown, urls=tuple(urls), command=command)
