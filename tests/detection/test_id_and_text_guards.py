"""Core guards behind the CLI's argument types: ids beyond SQLite's range and notes that are not Unicode."""

from __future__ import annotations

import sqlite3

import pytest

from scops_tui.detection import registry, review
from scops_tui.detection.episodes import EpisodeSnapshot
from scops_tui.detection.quality import evaluate
from scops_tui.store import database as store

T0 = 1_800_000_000_000


@pytest.mark.parametrize("episode_id", [2**63, -(2**63) - 1, 10**20])
def test_an_episode_id_beyond_sqlite_is_unknown_not_a_crash(conn: sqlite3.Connection, episode_id: int) -> None:
    operator = store.operator_username()
    with pytest.raises(review.ReviewError, match=f"no anomaly episode with id {episode_id}"):
        review.acknowledge(conn, episode_id, operator)
    with pytest.raises(review.ReviewError):
        review.resolve(conn, episode_id, operator)
    with pytest.raises(review.ReviewError):
        review.give_verdict(conn, episode_id, operator, confirmed=True)


@pytest.mark.parametrize("version_id", [2**63, 10**20])
def test_a_version_id_beyond_sqlite_is_unknown_not_a_crash(conn: sqlite3.Connection, version_id: int) -> None:
    with pytest.raises(registry.RegistryError, match=f"no model version with id {version_id}"):
        registry.deploy(conn, version_id)
    with pytest.raises(registry.RegistryError):
        evaluate(conn, version_id)


def test_a_note_with_a_lone_surrogate_is_refused_before_anything_is_written(conn: sqlite3.Connection) -> None:
    snapshot = EpisodeSnapshot(T0, T0 + 2000, 0.9, 3, (("cpu_usage", 9.0),))
    with store.transaction(conn):
        episode_id = review.open_episode(
            conn, snapshot, source="host", model_name="detector@host", model_version="1", model_version_id=None
        )
    operator = store.operator_username()
    for action in (
        lambda: review.acknowledge(conn, episode_id, operator, note="disk \udcff full"),
        lambda: review.resolve(conn, episode_id, operator, note="\ud800"),
        lambda: review.give_verdict(conn, episode_id, operator, confirmed=False, note="\ud800"),
    ):
        with pytest.raises(review.ReviewError, match="not valid Unicode text"):
            action()
    episode = review.get_episode(conn, episode_id)
    assert episode.status == "open" and not episode.acknowledged and episode.resolution_notes is None
