"""Real host traces, recorded by bench/scenarios.py with faults injected by stress-ng, replayed through the
recorder's live detection path: each fault is one episode from its onset to its end, and calm is quiet.

The fixtures are real 1 s samples of a 2-core, 24 GiB machine (tests/fixtures/scenarios/<name>.csv) with
the fault windows as stress-ng ran them (<name>.json). Each fault trace is replayed the way a recorder
that has been running on that host meets it: its history is the host just before the fault (the trace's
own 150 s lead-in, played back and forth to 15 minutes, `lead_in_history`), which the recorder replays
into its detector on start. (bench/scenarios.py `replay --history calm` instead splices in the calm
trace, recorded 40 minutes later; docs/BENCHMARKS.md gives both.) The calm traces (`calm`, a busy host;
`quiet`, a quiet one) are mirrored into a simulated day, with and without that history.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from scops_tui.recording.replay import (
    ScenarioFigures,
    judge,
    lead_in_history,
    load_trace,
    mirrored,
    replay_into,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"
FAULTS = ("cpu", "memory", "disk", "mix")
ONSET_WITHIN = 3
"""Samples from a fault's first sample to its episode's first sample."""
END_WITHIN = 10
"""Samples from a fault's last sample to its episode's end (the last abnormal sample)."""
DAY_MS = 86_400_000


def episodes_of(db: Path) -> list[tuple[int, int]]:
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT timestamp, end_timestamp FROM anomaly_predictions ORDER BY timestamp").fetchall()
    conn.close()
    return [(int(a), int(b if b is not None else a)) for a, b in rows]


def replay(
    name: str,
    rows: list[dict[str, Any]],
    windows: list[dict[str, Any]],
    tmp_path: Path,
    history: list[dict[str, Any]] | None = None,
) -> ScenarioFigures:
    db = tmp_path / f"{name}.db"
    replay_into(rows, db, f"scenario-{name}", history=history)
    episodes = [e for e in episodes_of(db) if e[1] >= rows[0]["timestamp_ms"]]
    return judge(name, [row["timestamp_ms"] for row in rows], windows, episodes)


@pytest.mark.parametrize("name", FAULTS)
def test_an_injected_fault_is_one_episode_from_its_onset_to_its_end(name: str, tmp_path: Path) -> None:
    rows, meta = load_trace(FIXTURES, name)
    figures = replay(name, rows, meta["faults"], tmp_path, history=lead_in_history(rows, meta["faults"]))
    for fault in figures.faults:
        assert fault.opened, f"{name}: no episode for {fault.label}"
        assert fault.episodes == 1, f"{name}: {fault.episodes} episodes for one fault"
        assert fault.onset_delay is not None and fault.onset_delay <= ONSET_WITHIN, f"{name}: {fault}"
        assert fault.coverage >= 0.8, f"{name}: only {fault.coverage:.0%} of the fault inside the episode"
        assert fault.close_delay is not None and fault.close_delay <= END_WITHIN, f"{name}: {fault}"


@pytest.mark.parametrize("name", ("cpu", "disk", "mix"))
def test_a_fault_on_a_new_database_is_still_caught(name: str, tmp_path: Path) -> None:
    """A new user starts recording and injects a fault 150 s later: no history but the trace's own lead-in,
    which the recorder sees live. (The memory trace's allocation falls inside an episode that opened on the
    lead-in 31 s earlier, so it has no onset of its own to time.)"""
    rows, meta = load_trace(FIXTURES, name)
    figures = replay(name, rows, meta["faults"], tmp_path)
    for fault in figures.faults:
        assert fault.opened, f"{name}: no episode for {fault.label} on a new database"
        assert fault.onset_delay is not None and fault.onset_delay <= ONSET_WITHIN, f"{name}: {fault}"
        assert fault.coverage >= 0.8, f"{name}: only {fault.coverage:.0%} of the fault inside the episode"


CALM_TRACES = ("calm", "quiet")
"""`calm`: a busy host (another session's work at 32 % CPU, disk bursts, at its end a package download);
`quiet`: a quiet host whose only activity is a job that starts a process every 5 minutes."""


@pytest.mark.parametrize("name", CALM_TRACES)
def test_a_calm_day_on_a_host_the_recorder_knows_opens_at_most_one_episode(name: str, tmp_path: Path) -> None:
    """A calm trace mirrored into a day, met by a recorder that has recorded the host for 15 minutes."""
    rows, meta = load_trace(FIXTURES, name)
    assert meta["faults"] == []
    day = mirrored(rows, DAY_MS // 1000)
    figures = replay(name, day, [], tmp_path, history=lead_in_history(rows, []))
    assert figures.false_episodes <= 1, f"{figures.false_episodes} episodes in a simulated day of {name}"


@pytest.mark.parametrize("name", CALM_TRACES)
def test_a_calm_day_on_a_new_database_opens_at_most_two_episodes(name: str, tmp_path: Path) -> None:
    """The same day from an empty database: its first minutes cannot know what is routine on this host yet
    (a change is news twice before it is), so the bar is two."""
    rows, _meta = load_trace(FIXTURES, name)
    day = mirrored(rows, DAY_MS // 1000)
    figures = replay(name, day, [], tmp_path)
    assert figures.false_episodes <= 2, f"{figures.false_episodes} episodes in a simulated day of {name}"


def test_a_routine_periodic_job_stops_being_news(tmp_path: Path) -> None:
    rows, meta = load_trace(FIXTURES, "periodic")
    figures = replay("periodic", rows, meta["faults"], tmp_path, history=lead_in_history(rows, meta["faults"]))
    opened = [fault.opened for fault in figures.faults]
    assert len(opened) == 8
    # The first bursts may be news; once it is routine, at most one of the last four bursts may coincide
    # with an episode (the host has other business).
    assert sum(opened[4:]) <= 1, f"bursts that opened an episode: {opened}"
