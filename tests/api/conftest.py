"""A real `scops-tui serve` process on a free port over a real SQLite file, and an HTTP client for it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scops_tui.api import keys
from scops_tui.detection import registry, review
from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.episodes import EpisodeSnapshot
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord
from scops_tui.store.timestamps import now_ms

SOURCE = "test-host"
ROWS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A running `scops-tui serve` and the database it serves."""

    db: Path
    port: int
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    requests_with_key: int = 0
    made_keys: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        header: str = "bearer",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if key is not None:
            if header == "bearer":
                sent["Authorization"] = f"Bearer {key}"
            else:
                sent["X-API-Key"] = key
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())

    def get(self, path: str, key: str | None = None, header: str = "bearer") -> Reply:
        return self.request("GET", path, key=key, header=header)

    def post_json(self, path: str, document: Any, key: str | None = None) -> Reply:
        return self.request(
            "POST", path, key=key, body=json.dumps(document).encode(), headers={"Content-Type": "application/json"}
        )

    def make_key(self, permission: str = "read", *, rate_limit: int | None = 1000, user: str | None = None) -> str:
        conn = store.open_database(self.db)
        try:
            made = keys.create_key(
                conn,
                f"test-{permission}",
                username=user or store.operator_username(),
                created_by=store.operator_username(),
                permission=permission,
                rate_limit=rate_limit,
            )
        finally:
            conn.close()
        self.made_keys.append(made.secret)
        return made.secret

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=60)

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


def record(timestamp_ms: int, cpu: float) -> MetricRecord:
    return MetricRecord(
        timestamp_ms=timestamp_ms,
        source=SOURCE,
        cpu_usage=cpu,
        memory_usage=40.0,
        disk_usage=55.5,
        load_1m=0.5,
        load_5m=0.4,
        load_15m=0.3,
        disk_io_read=1000,
        disk_io_write=2000,
        network_rx=3000,
        network_tx=4000,
        response_time=1.5,
        anomaly_score=0.1,
    )


def make_database(path: Path) -> None:
    """ROWS samples of SOURCE ending now, its statistical detector deployed, and one open high episode."""
    conn = store.open_database(path)
    system = store.user_id(conn, store.SYSTEM_USERNAME)
    start = now_ms() - ROWS * 5000
    records = [record(start + i * 5000, 10.0 + (i % 7)) for i in range(ROWS)]
    store.insert_metrics(conn, records, created_by=system, created_at=now_ms())
    with store.transaction(conn):
        version = registry.register_statistical(
            conn,
            SOURCE,
            DetectorConfig(),
            threshold=0.45,
            window=(start, start + ROWS * 5000),
            rows=ROWS,
            created_by=system,
        )
        review.open_episode(
            conn,
            EpisodeSnapshot(start + 5000, start + 20000, 0.7, 3, (("cpu_usage", 4.2),)),
            source=SOURCE,
            model_name=version.model_name,
            model_version=version.version,
            model_version_id=version.id,
        )
    conn.close()


def start_server(db: Path, tmp_path: Path, *extra: str) -> Server:
    port = free_port()
    stdout, stderr = tmp_path / "serve.out", tmp_path / "serve.err"
    env = {**os.environ, "SCOPS_SOURCE": SOURCE}
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "scops_tui", "--db", str(db), "serve", "--port", str(port), *extra],
            stdout=out,
            stderr=err,
            env=env,
        )
    server = Server(db=db, port=port, process=process, stdout=stdout, stderr=stderr)
    for _ in range(600):  # up to a minute for the interpreter and the stack to start
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}: {server.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"serve did not listen: {server.output()}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    db = tmp_path / "served.db"
    make_database(db)
    server = start_server(db, tmp_path)
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
