"""The sender against real channels: a JSON webhook on 127.0.0.1 (through apprise) and a local command."""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from scops_tui.alerts import outbox
from scops_tui.alerts.channels import deliver
from scops_tui.alerts.config import Channel
from scops_tui.alerts.message import trial_message
from scops_tui.alerts.sender import AlertSender
from scops_tui.alerts.status import read_status
from tests.alerts.helpers import T0, EpisodeWriter, FakeClock, Receiver, fields_of, free_port, settings

PROCESSES = [{"pid": 4242, "name": "stress-ng", "cpu_percent": 97.5, "memory_percent": 0.1, "username": "root"}]


@pytest.fixture
def receiver() -> Receiver:
    server = Receiver().start()
    yield server
    server.stop()


def sender_for(db_path: Path, urls: list[str], clock: FakeClock, command: str | None = None) -> AlertSender:
    return AlertSender(db_path, settings(urls, command), clock=clock, process_wait_ms=0)


def alert_sent(conn: sqlite3.Connection, episode_id: int) -> int:
    return int(conn.execute("SELECT alert_sent FROM anomaly_predictions WHERE id = ?", (episode_id,)).fetchone()[0])


def test_each_episode_reaches_the_webhook_once_with_every_field(
    conn: sqlite3.Connection, db_path: Path, receiver: Receiver
) -> None:
    clock = FakeClock()
    sender = sender_for(db_path, [receiver.url], clock)
    writer = EpisodeWriter(conn, sender.outbox)
    first = writer.open(T0, 0.72, processes=PROCESSES)
    clock.advance(20 * 60)
    second = writer.open(clock(), 0.91, deviations=(("memory_usage", 5.0),))
    sender.deliver_due(conn)
    sender.deliver_due(conn)  # a second pass finds nothing left to send
    posts = receiver.wait_for(2)
    assert len(posts) == 2
    fields = fields_of(posts[0])
    assert fields["host"] == "web-1"
    assert fields["severity"] == "high"
    assert fields["peak score"] == "0.72"
    assert fields["started"] == "2026-11-30T00:53:20.000Z"
    assert fields["metrics"] == "cpu_usage (+8.0), load_1m (+2.0)"
    assert fields["top processes"] == "stress-ng (pid 4242, 98% CPU)"
    assert f"scops-tui anomalies ack|confirm|false-positive|resolve {first}" in fields["review"]
    assert f"episode {first}" in posts[0]["title"]
    assert fields_of(posts[1])["severity"] == "critical"
    assert posts[1]["type"] == "failure"
    assert alert_sent(conn, first) == alert_sent(conn, second) == 1


def test_a_webhook_down_for_a_while_gets_every_alert_once_when_it_is_back(
    conn: sqlite3.Connection, db_path: Path
) -> None:
    receiver = Receiver()  # not started: its port refuses connections
    clock = FakeClock()
    sender = sender_for(db_path, [receiver.url], clock)
    writer = EpisodeWriter(conn, sender.outbox)
    ids = []
    for i in range(3):
        clock.now = T0 + i * 16 * 60_000
        ids.append(writer.open(clock(), 0.6 + i * 0.1))
    for _ in range(3):
        sender.deliver_due(conn)
        clock.advance(outbox.LONGEST_RETRY_MS / 1000)
    status = read_status(conn, sender.settings)
    assert [a.episode_id for a in status.pending] == ids
    assert all(a.attempts == 3 and "Connection" in (a.last_error or "") for a in status.pending)
    assert status.channels[0].last_success_at is None and status.channels[0].last_error
    assert [alert_sent(conn, i) for i in ids] == [0, 0, 0]
    receiver.start()
    try:
        sender.deliver_due(conn)
        sender.deliver_due(conn)
        clock.advance(3600)
        sender.deliver_due(conn)
        posts = receiver.wait_for(3)
    finally:
        receiver.stop()
    assert sorted(int(fields_of(p)["episode"].split()[0]) for p in posts) == ids
    assert [alert_sent(conn, i) for i in ids] == [1, 1, 1]
    status = read_status(conn, sender.settings)
    assert status.pending == [] and status.sent_total == 3
    assert status.channels[0].last_success_at == clock.now - 3600 * 1000


def test_a_channel_that_got_the_alert_is_not_sent_it_again_when_another_is_retried(
    conn: sqlite3.Connection, db_path: Path, receiver: Receiver, tmp_path: Path
) -> None:
    flag = tmp_path / "fail"
    flag.write_text("1")
    command = f"{sys.executable} -c \"import pathlib,sys; sys.exit(1 if pathlib.Path('{flag}').exists() else 0)\""
    clock = FakeClock()
    sender = sender_for(db_path, [receiver.url], clock, command=command)
    episode = EpisodeWriter(conn, sender.outbox).open(T0, 0.7)
    sender.deliver_due(conn)
    assert len(receiver.wait_for(1)) == 1
    assert alert_sent(conn, episode) == 0
    flag.unlink()
    clock.advance(60)
    sender.deliver_due(conn)
    assert alert_sent(conn, episode) == 1
    assert len(receiver.posts) == 1


def test_the_command_gets_the_episode_as_json_on_stdin(conn: sqlite3.Connection, db_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    script = tmp_path / "page-me.py"
    script.write_text(f"import sys, pathlib\npathlib.Path({str(out)!r}).write_text(sys.stdin.read())\n")
    clock = FakeClock()
    sender = sender_for(db_path, [], clock, command=f"{sys.executable} {script}")
    episode = EpisodeWriter(conn, sender.outbox).open(T0, 0.65, processes=PROCESSES)
    sender.deliver_due(conn)
    got = json.loads(out.read_text())
    assert got["alert"] == "opened"
    assert got["host"] == "web-1"
    assert got["severity"] == "high"
    assert got["episodes"][0]["id"] == episode
    assert got["episodes"][0]["top_processes"] == PROCESSES
    assert got["episodes"][0]["contributing_metrics"][0]["metric"] == "cpu_usage"
    assert alert_sent(conn, episode) == 1


def test_a_failing_command_is_reported_not_fatal(conn: sqlite3.Connection, db_path: Path) -> None:
    clock = FakeClock()
    warnings: list[str] = []
    command = f"{sys.executable} -c \"import sys; sys.stderr.write('pager down'); sys.exit(3)\""
    sender = AlertSender(db_path, settings([], command), clock=clock, process_wait_ms=0, on_warning=warnings.append)
    episode = EpisodeWriter(conn, sender.outbox).open(T0, 0.65)
    sender.deliver_due(conn)
    sender.deliver_due(conn)  # not due again yet: no second report either
    assert warnings == [f"alert to command {sys.executable} *** failed: the command exited with status 3: pager down"]
    [pending] = read_status(conn, sender.settings).pending
    assert pending.episode_id == episode and pending.attempts == 1
    assert "status 3: pager down" in (pending.last_error or "")
    missing = deliver(Channel("command", "/nonexistent/page-me"), trial_message("h", T0))
    assert missing.error is not None and "could not start" in missing.error


def test_an_alert_undelivered_for_a_day_fails_for_good_and_is_reported(conn: sqlite3.Connection, db_path: Path) -> None:
    clock = FakeClock()
    warnings: list[str] = []
    url = f"json://127.0.0.1:{free_port()}/hook"
    sender = AlertSender(db_path, settings([url]), clock=clock, process_wait_ms=0, on_warning=warnings.append)
    episode = EpisodeWriter(conn, sender.outbox).open(T0, 0.65)
    while read_status(conn, sender.settings).pending:
        sender.deliver_due(conn)
        clock.advance(outbox.LONGEST_RETRY_MS / 1000)
    status = read_status(conn, sender.settings)
    assert status.failed_total == 1 and status.failed[0].episode_id == episode
    assert clock() - T0 >= outbox.GIVE_UP_AFTER_MS
    assert warnings[-1].startswith(f"alert for episode {episode} failed for good after 24 h")
    assert alert_sent(conn, episode) == 0


def test_a_new_alert_waits_briefly_for_its_top_processes(
    conn: sqlite3.Connection, db_path: Path, receiver: Receiver
) -> None:
    clock = FakeClock()
    sender = AlertSender(db_path, settings([receiver.url]), clock=clock, process_wait_ms=1500)
    writer = EpisodeWriter(conn, sender.outbox)
    episode = writer.open(T0, 0.7)
    assert sender.deliver_due(conn) == T0 + 1500
    assert receiver.posts == []
    from scops_tui.detection import review

    review.set_top_processes(conn, episode, PROCESSES)
    assert sender.deliver_due(conn) is None
    assert fields_of(receiver.wait_for(1)[0])["top processes"].startswith("stress-ng")
    late = writer.open(T0 + 20 * 60_000, 0.7, deviations=(("memory_usage", 4.0),))
    clock.now = T0 + 20 * 60_000 + 1500  # the wait is over: it goes without them
    sender.deliver_due(conn)
    posts = receiver.wait_for(2)
    assert fields_of(posts[1])["top processes"] == "(not measured yet)"
    assert alert_sent(conn, late) == 1


def test_a_grouped_follow_up_is_one_post_naming_every_episode(
    conn: sqlite3.Connection, db_path: Path, receiver: Receiver
) -> None:
    clock = FakeClock()
    sender = sender_for(db_path, [receiver.url], clock)
    writer = EpisodeWriter(conn, sender.outbox)
    writer.open(T0, 0.6)
    sender.deliver_due(conn)
    grouped = []
    for minutes in (2, 4, 6):
        clock.now = T0 + minutes * 60_000
        grouped.append(writer.open(clock(), 0.5))
        sender.deliver_due(conn)
    assert len(receiver.wait_for(1)) == 1
    clock.now = T0 + 15 * 60_000
    sender.deliver_due(conn)
    posts = receiver.wait_for(2)
    assert len(posts) == 2
    body = posts[1]["message"]
    assert "3 more episode(s)" in posts[1]["title"]
    assert all(f"episode {i}:" in body for i in grouped)
    assert [alert_sent(conn, i) for i in grouped] == [1, 1, 1]


def test_the_sender_thread_delivers_when_woken(conn: sqlite3.Connection, db_path: Path, receiver: Receiver) -> None:
    sender = AlertSender(db_path, settings([receiver.url]), process_wait_ms=0)
    sender.start()
    try:
        episode = EpisodeWriter(conn, sender.outbox).open(outbox.wall_ms(), 0.7)
        sender.wake()
        posts = receiver.wait_for(1)
    finally:
        sender.stop()
    assert int(fields_of(posts[0])["episode"].split()[0]) == episode


def test_a_url_apprise_cannot_use_is_reported_when_the_sender_starts(db_path: Path, conn: sqlite3.Connection) -> None:
    warned = threading.Event()
    warnings: list[str] = []

    def note(message: str) -> None:
        warnings.append(message)
        warned.set()

    sender = AlertSender(db_path, settings(["bogus://token123"]), on_warning=note)
    sender.start()
    try:
        assert warned.wait(60), "no warning"
    finally:
        sender.stop()
    assert warnings[0] == (
        "alerts to bogus://*** cannot be sent: apprise does not understand this URL (unknown scheme or a missing part)"
    )
