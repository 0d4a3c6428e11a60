"""Training a source's learned detector on its own recent history; runnable as a child process.

`python -m scops_tui.detection.training --db PATH --source NAME [--deploy]` is what the recorder starts in
the background, so that scikit-learn's memory and CPU never land in the recording process.
"""

from __future__ import annotations

import argparse
import dataclasses
import sqlite3
import sys
from pathlib import Path

from scops_tui.detection import registry
from scops_tui.errors import ScopsError
from scops_tui.store import database as store
from scops_tui.store.database import METRIC_SCALES


class TrainingError(ScopsError):
    """There is not enough history, or the history cannot be trained on."""


def load_history(conn: sqlite3.Connection, source: str, max_rows: int) -> tuple[list[int], list[list[float]]]:
    """The most recent `max_rows` samples of `source`, oldest first, in plain units."""
    columns = ", ".join(registry.DETECTED_METRICS)
    rows = conn.execute(
        f"SELECT timestamp, {columns} FROM (SELECT * FROM metrics WHERE source = ? "  # noqa: S608
        "ORDER BY timestamp DESC LIMIT ?) ORDER BY timestamp",
        (source, max_rows),
    ).fetchall()
    scales = [METRIC_SCALES.get(name, 1) for name in registry.DETECTED_METRICS]
    stamps = [int(row[0]) for row in rows]
    values = [[value / scale for value, scale in zip(row[1:], scales, strict=True)] for row in rows]
    return stamps, values


def train_source(
    conn: sqlite3.Connection,
    source: str,
    *,
    deploy: bool,
    created_by: bytes,
    min_rows: int | None = None,
) -> registry.ModelVersion:
    """Train an isolation forest on `source`'s recent history and register it (deployed if asked)."""
    from scops_tui.detection.config import DetectorConfig
    from scops_tui.detection.detector import DEFAULT_THRESHOLD
    from scops_tui.detection.forest import LearnedModel

    config = DetectorConfig(auto_train=False)
    needed = config.learned_after_rows if min_rows is None else min_rows
    stamps, values = load_history(conn, source, config.max_train_rows)
    if len(stamps) < max(needed, 2):
        raise TrainingError(f"source {source!r} has {len(stamps)} samples; training needs at least {max(needed, 2)}")
    model = LearnedModel.train(stamps, values, config)
    deployed = registry.deployed_version(conn, source)
    threshold = float(deployed.thresholds.get("anomaly_score", DEFAULT_THRESHOLD)) if deployed else DEFAULT_THRESHOLD
    return registry.register_learned(
        conn,
        source,
        model,
        dataclasses.replace(config),
        threshold=threshold,
        created_by=created_by,
        deploy=deploy,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the background training process."""
    parser = argparse.ArgumentParser(prog="python -m scops_tui.detection.training")
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--source", required=True)
    parser.add_argument("--deploy", action="store_true")
    args = parser.parse_args(argv)
    try:
        conn = store.open_database(args.db, create=False)
        try:
            version = train_source(
                conn, args.source, deploy=args.deploy, created_by=store.user_id(conn, store.SYSTEM_USERNAME)
            )
        finally:
            conn.close()
    except ScopsError as exc:
        print(f"scops-tui training: {exc}", file=sys.stderr)
        return 1
    print(f"trained version {version.id} ({version.version}) of {version.model_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
