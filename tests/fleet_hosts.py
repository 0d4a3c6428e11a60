"""Three hosts synced to the real test PostgreSQL through the real sync code, for the fleet view's tests.

`web1` is fresh with open episodes (one critical, one high) and one acknowledged; `db1` is fresh and calm;
`old1` stopped sending two hours ago (stale). Each is its own local SQLite file (its own database id).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scops_tui.detection import registry, review
from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.episodes import EpisodeSnapshot
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord
from scops_tui.store.timestamps import now_ms
from tests.pg import sync

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Fleet:
    """The synced hosts: their local files and database ids, and the episodes of web1 by severity."""

    url: str
    paths: dict[str, Path]
    database_ids: dict[str, str]
    now_ms: int


def sample(ts: int, source: str, cpu: float, score: float) -> MetricRecord:
    """One plain sample with this cpu and score."""
    return MetricRecord(
        ts, source, cpu, 40.0, 55.5, 0.75, 0.5, 0.25, 1000, 2000, 3000, 4000, 1.5, None, score >= 0.8, score
    )


def make_host(path: Path, source: str, first_ms: int, last_ms: int, peak_cpu: float) -> None:
    """A local database with one sample a minute of `source` from `first` to `last`, cpu rising to `peak_cpu`."""
    conn = store.open_database(path, create=True)
    try:
        system = store.user_id(conn, "system")
        count = (last_ms - first_ms) // MINUTE_MS + 1
        rows = [
            sample(first_ms + i * MINUTE_MS, source, peak_cpu * (i + 1) / count, 0.9 if i == count - 1 else 0.1)
            for i in range(count)
        ]
        store.insert_metrics(conn, rows, created_by=system, created_at=first_ms)
    finally:
        conn.close()


def add_episodes(path: Path, source: str, now: int) -> None:
    """web1's episodes: critical (open), high (open), medium (acknowledged)."""
    conn = store.open_database(path)
    try:
        system = store.user_id(conn, "system")
        with store.transaction(conn):
            version = registry.register_statistical(
                conn, source, DetectorConfig(), threshold=0.9, window=(now - 3600_000, now), rows=100, created_by=system
            )
            ids = []
            for minutes_ago, peak in ((30, 0.95), (60, 0.7), (90, 0.5)):
                start = now - minutes_ago * MINUTE_MS
                snapshot = EpisodeSnapshot(start, start + 5 * MINUTE_MS, peak, 5, (("cpu_usage", 9.0),))
                ids.append(
                    review.open_episode(
                        conn,
                        snapshot,
                        source=source,
                        model_name=f"detector@{source}",
                        model_version=version.version,
                        model_version_id=version.id,
                    )
                )
        review.acknowledge(conn, ids[2], "system", "seen")
    finally:
        conn.close()


def three_hosts(folder: Path, url: str) -> Fleet:
    """Make web1, db1 and old1 locally and sync each to `url` (the server schema must be there)."""
    now = now_ms() // MINUTE_MS * MINUTE_MS
    paths = {name: folder / f"{name}.db" for name in ("web1", "db1", "old1")}
    make_host(paths["web1"], "web1", now - 3 * 60 * MINUTE_MS, now - MINUTE_MS, 90.0)
    add_episodes(paths["web1"], "web1", now)
    make_host(paths["db1"], "db1", now - 3 * 60 * MINUTE_MS, now - MINUTE_MS, 30.0)
    make_host(paths["old1"], "old1", now - 5 * 60 * MINUTE_MS, now - 2 * 60 * MINUTE_MS, 20.0)
    ids = {}
    for name, path in paths.items():
        sync(path, url)
        conn = store.open_database(path)
        try:
            ids[name] = str(store.database_id(conn))
        finally:
            conn.close()
    return Fleet(url, paths, ids, now)
