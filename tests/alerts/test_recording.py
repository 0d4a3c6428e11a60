"""Alerts inside the recorder: a replayed CPU burn reaches the webhook once per alert, and a recorder
killed with SIGKILL between writing an episode and delivering its alert sends it after restart, once."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from scops_tui.alerts.config import AlertSettings
from scops_tui.alerts.sender import AlertSender
from scops_tui.detection.live import DetectionSettings
from scops_tui.recording.recorder import Recorder
from scops_tui.recording.replay import ReplaySampler, _store_history, load_trace
from scops_tui.store import database as store
from tests.alerts.helpers import Receiver, fields_of, free_port, write_config

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def replay_with_alerts(db_path: Path, alerts: AlertSettings) -> None:
    """Replay the CPU-burn trace (after the calm one as history) through the recorder, alerts on."""
    history, _ = load_trace(SCENARIOS, "calm")
    rows, _ = load_trace(SCENARIOS, "cpu")
    _store_history(db_path, "host-a", history, rows[0]["timestamp_ms"] - 1000)
    sampler = ReplaySampler("host-a", rows)
    now = [0.0]

    def wait(stop: threading.Event, seconds: float) -> bool:
        now[0] += seconds
        return sampler.exhausted or stop.is_set()

    Recorder(
        db_path,
        sampler,
        interval=1.0,
        flush_interval=10.0,
        detection=DetectionSettings(train_in_background=False, capture_processes=False),
        alerts=alerts,
        clock=lambda: now[0],
        wait=wait,
    ).run(threading.Event())


def test_a_replayed_cpu_burn_is_alerted_once_per_queued_alert(db_path: Path, receiver: Receiver) -> None:
    alerts = AlertSettings(min_severity="low", cooldown_minutes=0, urls=(receiver.url,))
    replay_with_alerts(db_path, alerts)
    conn = store.open_database(db_path)
    try:
        # Whatever the recorder's sender had no time for (the replay runs in a moment) goes on the next run.
        sender = AlertSender(db_path, alerts, process_wait_ms=0)
        sender.deliver_due(conn)
        sender.deliver_due(conn)
        queued = conn.execute("SELECT episode_id, kind FROM alert_outbox ORDER BY id").fetchall()
        episodes = conn.execute("SELECT id, alert_sent FROM anomaly_predictions ORDER BY id").fetchall()
        states = {row[0] for row in conn.execute("SELECT state FROM alert_outbox")}
    finally:
        conn.close()
    assert queued, "the CPU burn opened no episode"
    assert states == {"sent"}
    assert {episode_id for episode_id, _ in queued} == {row[0] for row in episodes}
    assert all(sent == 1 for _, sent in episodes)
    posts = receiver.wait_for(len(queued))
    got = Counter(
        (int(fields_of(p)["episode"].split()[0]), fields_of(p)["episode"].split()[1].strip("()")) for p in posts
    )
    assert got == Counter(queued)


CHILD = """
import sys, time
from pathlib import Path
from scops_tui.alerts.config import AlertSettings
from scops_tui.alerts.sender import AlertSender
from scops_tui.detection import review
from scops_tui.detection.episodes import EpisodeEvent, EpisodeSnapshot
from scops_tui.store import database as store

db, url = Path(sys.argv[1]), sys.argv[2]
conn = store.open_database(db)
sender = AlertSender(db, AlertSettings(urls=(url,)), process_wait_ms=0)
now = int(time.time() * 1000)
snapshot = EpisodeSnapshot(now, now, 0.75, 1, (("cpu_usage", 7.0),))
with store.transaction(conn):  # as LiveDetection.persist: the episode and its alert in one transaction
    episode = review.open_episode(
        conn, snapshot, source="host-a", model_name="m", model_version="1", model_version_id=None
    )
    sender.outbox.note(conn, episode, EpisodeEvent("opened", snapshot))
sender.start()
sender.wake()
while conn.execute("SELECT attempts FROM alert_outbox").fetchone()[0] == 0:
    time.sleep(0.05)
print(episode, flush=True)
time.sleep(600)
"""


def test_an_alert_survives_a_kill_9_and_is_sent_once_after_restart(scops_home: Path, receiver: Receiver) -> None:
    db = scops_home / "scops.db"
    down = f"json://127.0.0.1:{free_port()}/hook"  # the channel is down while the first recorder lives
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), down], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    try:
        assert child.stdout is not None
        episode = int(child.stdout.readline())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    with contextlib.closing(sqlite3.connect(db)) as check:
        assert check.execute("SELECT state, attempts FROM alert_outbox").fetchall() == [("pending", 1)]
    write_config(scops_home, [receiver.url])
    env = {**os.environ, "SCOPS_HOME": str(scops_home)}
    # The first retry is due 5 s after the failed try: a recorder running 8 s must send it, once.
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "scops_tui", "record", "--no-detect", "--interval", "1", "--duration", "8", "-q"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    posts = receiver.wait_for(1)
    assert len(posts) == 1
    assert fields_of(posts[0])["episode"] == f"{episode} (opened)"
    with contextlib.closing(sqlite3.connect(db)) as check:
        assert check.execute("SELECT alert_sent FROM anomaly_predictions WHERE id = ?", (episode,)).fetchone() == (1,)
        assert check.execute("SELECT state FROM alert_outbox").fetchall() == [("sent",)]
