"""The outbox on a fake clock: what is queued with an episode, escalation, cooldown grouping, retries."""

from __future__ import annotations

import sqlite3

import pytest

from scops_tui.alerts import outbox
from scops_tui.alerts.outbox import AlertOutbox, due_alerts, metrics_key, retry_delay_ms
from tests.alerts.helpers import T0, EpisodeWriter, FakeClock, settings

URL = "json://127.0.0.1:9/hook"


def rows(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT episode_id, kind, severity, group_lead IS NOT NULL, due_at, state FROM alert_outbox ORDER BY id"
    ).fetchall()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def writer(conn: sqlite3.Connection, clock: FakeClock) -> EpisodeWriter:
    return EpisodeWriter(conn, AlertOutbox(settings([URL]), clock))


def test_an_episode_at_or_above_the_floor_is_queued_due_now(conn: sqlite3.Connection, writer: EpisodeWriter) -> None:
    first = writer.open(T0, 0.45)  # medium: the floor
    assert rows(conn) == [(first, "opened", "medium", 0, T0, "pending")]


def test_an_episode_below_the_floor_is_not_queued(conn: sqlite3.Connection, writer: EpisodeWriter) -> None:
    writer.open(T0, 0.2)  # low
    assert rows(conn) == []


def test_an_episode_written_without_alerts_is_never_queued(conn: sqlite3.Connection) -> None:
    EpisodeWriter(conn, None).open(T0, 0.9)
    assert rows(conn) == []
    assert due_alerts(conn, T0 + 10**9) == []


def test_escalation_after_delivery_queues_one_more_alert(
    conn: sqlite3.Connection, writer: EpisodeWriter, clock: FakeClock
) -> None:
    episode = writer.open(T0, 0.5)
    [alert] = due_alerts(conn, clock())
    outbox.close_delivered(conn, alert, clock())
    clock.advance(30)
    writer.grow(episode, T0, clock(), 0.55)  # still medium: nothing new
    assert len(rows(conn)) == 1
    writer.grow(episode, T0, clock(), 0.85)  # critical
    writer.grow(episode, T0, clock(), 0.9)  # critical again: nothing new
    assert rows(conn)[1:] == [(episode, "escalated", "critical", 0, clock(), "pending")]
    assert conn.execute("SELECT alert_sent FROM anomaly_predictions WHERE id = ?", (episode,)).fetchone() == (1,)


def test_escalation_before_delivery_updates_the_alert_still_to_go(
    conn: sqlite3.Connection, writer: EpisodeWriter, clock: FakeClock
) -> None:
    episode = writer.open(T0, 0.5)
    writer.grow(episode, T0, T0 + 5000, 0.7)
    assert rows(conn) == [(episode, "opened", "high", 0, T0, "pending")]


def test_an_episode_that_opens_low_and_rises_past_the_floor_is_alerted_once(
    conn: sqlite3.Connection, writer: EpisodeWriter
) -> None:
    episode = writer.open(T0, 0.3)
    writer.grow(episode, T0, T0 + 5000, 0.65)
    writer.grow(episode, T0, T0 + 6000, 0.66)
    assert [(r[1], r[2]) for r in rows(conn)] == [("escalated", "high")]


def test_repeats_on_the_same_metrics_within_the_cooldown_become_one_follow_up(
    conn: sqlite3.Connection, writer: EpisodeWriter, clock: FakeClock
) -> None:
    lead = writer.open(T0, 0.5)
    clock.advance(60)
    second = writer.open(clock(), 0.6)
    clock.advance(5 * 60)
    third = writer.open(clock(), 0.45)
    clock.advance(60)
    other = writer.open(clock(), 0.5, deviations=(("memory_usage", 6.0),))  # other metrics: its own alert
    window_end = T0 + 15 * 60_000
    assert [a.episode_ids for a in due_alerts(conn, clock())] == [(lead,), (other,)]
    assert [a.episode_ids for a in due_alerts(conn, window_end - 1)] == [(lead,), (other,)]
    follow_up = [a for a in due_alerts(conn, window_end) if a.kind == "follow-up"]
    assert [(a.episode_ids, a.severity, a.due_at) for a in follow_up] == [((second, third), "high", window_end)]


def test_after_the_cooldown_an_episode_leads_again(
    conn: sqlite3.Connection, writer: EpisodeWriter, clock: FakeClock
) -> None:
    writer.open(T0, 0.5)
    clock.advance(15 * 60 + 1)
    later = writer.open(clock(), 0.5)
    assert [(a.episode_ids, a.kind) for a in due_alerts(conn, clock())][-1] == ((later,), "opened")


def test_no_cooldown_sends_every_episode_at_once(conn: sqlite3.Connection, clock: FakeClock) -> None:
    writer = EpisodeWriter(conn, AlertOutbox(settings([URL], cooldown=0), clock))
    ids = [writer.open(T0 + i, 0.5) for i in range(3)]
    assert [a.episode_ids for a in due_alerts(conn, clock())] == [(i,) for i in ids]


def test_a_failed_delivery_is_retried_with_backoff_then_given_up(
    conn: sqlite3.Connection, writer: EpisodeWriter, clock: FakeClock
) -> None:
    writer.open(T0, 0.5)
    delays = []
    gave_up = False
    while not gave_up:
        [alert] = due_alerts(conn, clock())
        gave_up = outbox.schedule_retry(conn, alert, "refused", clock())
        if not gave_up:
            next_at = conn.execute("SELECT next_attempt_at FROM alert_outbox").fetchone()[0]
            assert due_alerts(conn, next_at - 1) == []
            delays.append(next_at - clock())
            clock.now = next_at
    assert delays[:4] == [5_000, 10_000, 20_000, 40_000]
    assert max(delays) == outbox.LONGEST_RETRY_MS
    assert clock() - T0 >= outbox.GIVE_UP_AFTER_MS
    assert rows(conn)[0][5] == "failed"
    assert due_alerts(conn, clock() + 10**9) == []


def test_metrics_key_names_the_metrics_that_deviated_most() -> None:
    assert metrics_key((("cpu_usage", 8.0), ("load_1m", 5.0), ("disk_io_write", 1.0))) == "cpu_usage,load_1m"
    assert metrics_key((("memory_usage", 3.0),)) == "memory_usage"
    assert metrics_key(()) == ""


def test_retry_delays_double_up_to_the_longest() -> None:
    assert [retry_delay_ms(n) for n in (1, 2, 3)] == [5_000, 10_000, 20_000]
    assert retry_delay_ms(50) == outbox.LONGEST_RETRY_MS
