"""Shared fixtures of the detection tests: small detector settings, synthetic series, a seeded registry."""

from __future__ import annotations

import random
import sqlite3

import numpy as np

from scops_tui.detection import registry
from scops_tui.detection.config import DetectorConfig
from scops_tui.detection.forest import LearnedModel
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord

MINUTE_MS = 60_000

# Small windows so the switch to the learned model and two retrainings happen within a short series.
SMALL = DetectorConfig(
    baseline_window=400,
    learned_after_rows=300,
    retrain_every_rows=250,
    n_trees=20,
    tree_sample_rows=64,
    calibration_window=200,
    time_of_day_min_span_ms=6 * 60 * MINUTE_MS,
)


def noisy_series(rows: int, features: int = 2, seed: int = 0) -> tuple[list[int], list[list[float]]]:
    """A daily-ish cycle plus noise, one row per 5 minutes."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    base = 40 + 10 * np.sin(2 * np.pi * t / 288)[:, None] + rng.normal(0, 2, size=(rows, features))
    return [int(i * 5 * MINUTE_MS) for i in t], base.tolist()


def trained_model(seed: int = 0) -> tuple[LearnedModel, list[int], list[list[float]]]:
    stamps, rows = noisy_series(900, features=3, seed=seed)
    return LearnedModel.train(stamps[:600], rows[:600], SMALL), stamps, rows


START = 1_800_000_000_000


def seed_history(conn: sqlite3.Connection, rows: int, source: str = "host") -> None:
    rng = random.Random(7)
    records = [
        MetricRecord(
            START + i * 5000,
            source,
            20 + rng.random() * 5,
            40 + rng.random(),
            55.0,
            0.5 + rng.random() * 0.1,
            0.5,
            0.5,
            rng.randint(0, 1000),
            rng.randint(0, 1000),
            rng.randint(0, 5000),
            rng.randint(0, 5000),
            1.0,
        )
        for i in range(rows)
    ]
    store.insert_metrics(conn, records, created_by=store.user_id(conn, "system"), created_at=START)


def system(conn: sqlite3.Connection) -> bytes:
    return store.user_id(conn, "system")


def statistical(conn: sqlite3.Connection, source: str = "host") -> registry.ModelVersion:
    with store.transaction(conn):
        return registry.register_statistical(
            conn, source, DetectorConfig(), threshold=0.5, window=(START, START), rows=1, created_by=system(conn)
        )
