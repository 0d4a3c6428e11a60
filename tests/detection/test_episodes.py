"""Episode grouping: consecutive anomalous samples make one episode; hysteresis keeps noise from flooding."""

from __future__ import annotations

import pytest

from scops_tui.detection.episodes import LEVEL_WINDOW, EpisodeGrouper, severity_of

NAMES = ("cpu_usage", "memory_usage")


def run(scores: list[float], **kwargs: object) -> list[tuple[str, int, int, int]]:
    grouper = EpisodeGrouper(NAMES, **kwargs)  # type: ignore[arg-type]
    events = []
    for i, score in enumerate(scores):
        event = grouper.feed(i * 1000, score, (score * 10, 1.0))
        if event is not None:
            events.append((event.kind, event.episode.start_ms, event.episode.end_ms, event.episode.samples))
    return events


def test_calm_series_makes_no_episode() -> None:
    assert run([0.1, 0.2, 0.3, 0.2] * 10) == []


def test_consecutive_anomalous_samples_merge_into_one_episode() -> None:
    events = run([0.1, 0.9, 0.8, 0.95, 0.1, 0.1, 0.1], quiet_samples=3)
    assert [e[0] for e in events] == ["opened", "extended", "extended", "closed"]
    assert events[-1] == ("closed", 1000, 3000, 3)


def test_scores_between_the_thresholds_keep_the_episode_open() -> None:
    # 0.4 is below the open bar (0.5) but above the close bar (0.35): hysteresis.
    events = run([0.6, 0.4, 0.4, 0.4, 0.1, 0.1], open_threshold=0.5, close_threshold=0.35, quiet_samples=2)
    assert events[-1] == ("closed", 0, 3000, 4)


def test_a_noisy_series_flickering_around_the_threshold_gives_one_episode_not_many() -> None:
    flicker = [0.55, 0.3, 0.6, 0.2, 0.52, 0.3, 0.58] + [0.0] * 10
    events = run(flicker, quiet_samples=3)
    assert sum(1 for e in events if e[0] == "opened") == 1
    assert events[-1][0] == "closed"


def test_a_long_quiet_gap_separates_two_episodes() -> None:
    events = run([0.9, 0.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0], quiet_samples=3)
    assert [e[0] for e in events] == ["opened", "closed", "opened", "closed"]


def test_peak_severity_and_ranked_deviations() -> None:
    grouper = EpisodeGrouper(NAMES, quiet_samples=2)
    grouper.feed(0, 0.55, (1.0, 9.0))
    event = grouper.feed(1000, 0.85, (20.0, 2.0))
    assert event is not None
    assert event.episode.peak_score == 0.85
    assert event.episode.severity == "critical"
    assert event.episode.deviations == (("cpu_usage", 20.0), ("memory_usage", 9.0))


@pytest.mark.parametrize(
    ("score", "band"), [(0.0, "low"), (0.39, "low"), (0.4, "medium"), (0.6, "high"), (0.79, "high"), (0.8, "critical")]
)
def test_severity_bands(score: float, band: str) -> None:
    assert severity_of(score) == band


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError):
        EpisodeGrouper(NAMES, open_threshold=0.3, close_threshold=0.5)
    with pytest.raises(ValueError):
        EpisodeGrouper(NAMES, quiet_samples=0)


def feed_levels(grouper: EpisodeGrouper, scores: list[float], cpu: list[float]) -> list[tuple[str, int, str | None]]:
    """Feed (score, cpu level) pairs at 1 s; return (kind, sample index, reason) of each open/close."""
    events = []
    for i, (score, level) in enumerate(zip(scores, cpu, strict=True)):
        event = grouper.feed(i * 1000, score, (score * 10, 0.1), (level, 30.0 + 0.1 * (i % 3)))
        if event is not None and event.kind != "extended":
            events.append((event.kind, i, event.reason))
    return events


def calm_cpu(n: int) -> list[float]:
    return [3.0 + (i * 7 % 5) * 0.4 for i in range(n)]


def test_a_sustained_level_stays_one_episode_after_the_score_goes_quiet() -> None:
    # 100 calm samples, a 90-sample burn at 100 % whose score is high only at its onset (the detector
    # stops finding the level surprising), then calm again.
    cpu = calm_cpu(100) + [100.0] * 90 + calm_cpu(60)
    scores = [0.05] * 100 + [0.9, 0.7] + [0.05] * 88 + [0.05] * 60
    grouper = EpisodeGrouper(NAMES, open_threshold=0.45)
    events = feed_levels(grouper, scores, cpu)
    assert [e[0] for e in events] == ["opened", "closed"]
    assert events[0][1] == 100
    # Back to normal at sample 190: the level (mean of the last 5) is normal again within 5 samples, and
    # the episode closes after 5 quiet samples: within 10 samples of the host's return.
    kind, index, reason = events[1]
    assert (kind, reason) == ("closed", "quiet")
    assert 190 <= index <= 190 + LEVEL_WINDOW + grouper.quiet_samples
    snapshot = grouper.feed(999_000, 0.0, (0.0, 0.0), (3.0, 30.0))
    assert snapshot is None


def test_the_episode_end_is_the_last_abnormal_sample() -> None:
    cpu = calm_cpu(100) + [100.0] * 20 + calm_cpu(30)
    scores = [0.05] * 100 + [0.9] + [0.05] * 49
    grouper = EpisodeGrouper(NAMES, open_threshold=0.45)
    closed = None
    for i, (score, level) in enumerate(zip(scores, cpu, strict=True)):
        event = grouper.feed(i * 1000, score, (score * 10, 0.1), (level, 30.0))
        if event is not None and event.kind == "closed":
            closed = event.episode
    assert closed is not None
    assert closed.start_ms == 100_000
    # The last sample whose level (mean of 5) still holds the burn: before 120 + 5.
    assert 119_000 <= closed.end_ms < (120 + LEVEL_WINDOW) * 1000


def test_a_level_held_for_the_new_normal_time_is_no_longer_news() -> None:
    grouper = EpisodeGrouper(NAMES, open_threshold=0.45, new_normal_ms=120_000)
    cpu = calm_cpu(100) + [60.0] * 400
    # The detector keeps scoring the held level just above the close bar: it is the episode logic that
    # decides it is no longer news.
    scores = [0.05] * 100 + [0.9] + [0.35] * 399
    events = feed_levels(grouper, scores, cpu)
    assert events == [("opened", 100, None), ("closed", 220, "new_normal")]
    # While the level is held and the detector still scores it, nothing new opens ...
    assert grouper.feed(500_000, 0.9, (9.0, 0.1), (60.0, 30.0)) is None
    # ... but a change away from the held level is news again.
    event = grouper.feed(501_000, 0.9, (9.0, 0.1), (100.0, 30.0))
    assert event is not None and event.kind == "opened"


def test_a_spike_without_values_follows_the_score_alone() -> None:
    grouper = EpisodeGrouper(NAMES, open_threshold=0.45, quiet_samples=2)
    kinds = [e.kind for e in (grouper.feed(i * 1000, s, (s, 0.0)) for i, s in enumerate([0.9, 0.0, 0.0])) if e]
    assert kinds == ["opened", "closed"]


def test_a_blip_of_one_sample_holds_an_episode_open_no_longer_than_its_level_window() -> None:
    cpu = [*calm_cpu(100), 100.0, *calm_cpu(30)]
    scores = [0.05] * 100 + [0.9] + [0.05] * 30
    grouper = EpisodeGrouper(NAMES, open_threshold=0.45)
    events = feed_levels(grouper, scores, cpu)
    assert events[0] == ("opened", 100, None)
    assert events[1][0] == "closed" and events[1][1] <= 100 + LEVEL_WINDOW + grouper.quiet_samples


LIVE_NAMES = ("cpu_usage", "memory_usage", "load_1m")


def live_grouper() -> EpisodeGrouper:
    """Grouped as the recorder groups: load is not a level metric, only rises hold an episode."""
    return EpisodeGrouper(
        LIVE_NAMES,
        open_threshold=0.45,
        close_threshold=0.45,
        level_metrics=("cpu_usage", "memory_usage"),
        hold_rises_only=True,
    )


def calm_history(grouper: EpisodeGrouper, rows: int = 300) -> None:
    for i in range(rows):
        grouper.note_history((30.0 + (i % 5), 4.2 + 0.1 * (i % 3), 1.0))


def feed_all(grouper: EpisodeGrouper, samples: list[tuple[float, tuple[float, ...], tuple[float, ...]]]) -> list[str]:
    kinds = []
    for i, (score, deviations, values) in enumerate(samples):
        event = grouper.feed(i * 1000, score, deviations, values)
        kinds.append("" if event is None else event.kind)
    return kinds


def test_a_score_carried_by_the_settling_load_average_does_not_hold_an_episode_open() -> None:
    grouper = live_grouper()
    calm_history(grouper)
    burn = [(0.9, (6.0, 0.5, 3.0), (100.0, 4.2, 2.0))] * 20
    # The burn ends: cpu back at its usual level, the one-minute load average still high and scoring.
    after = [(0.6, (0.5, 0.3, 4.0), (31.0, 4.2, 1.8))] * 30
    kinds = feed_all(grouper, burn + after)
    assert kinds.count("opened") == 1
    closed_at = kinds.index("closed")
    assert 20 <= closed_at <= 20 + LEVEL_WINDOW + 5, f"closed at sample {closed_at}"


def test_memory_freed_below_its_usual_level_after_a_fault_is_not_a_new_episode() -> None:
    grouper = live_grouper()
    calm_history(grouper)
    hog = [(0.9, (0.5, 6.0, 0.5), (31.0, 18.0, 1.0))] * 20
    # Memory drops below where it was before the hog: the score stays high (it is unusual), led by memory.
    freed = [(0.65, (0.3, 4.5, 0.5), (31.0, 3.8, 1.0))] * 40
    kinds = feed_all(grouper, hog + freed)
    assert kinds.count("opened") == 1, kinds
    assert "closed" in kinds[20:35]


def test_a_new_rise_just_after_an_episode_opens_a_new_one() -> None:
    grouper = live_grouper()
    calm_history(grouper)
    hog = [(0.9, (0.5, 6.0, 0.5), (31.0, 18.0, 1.0))] * 20
    quiet = [(0.1, (0.1, 0.1, 0.1), (31.0, 4.2, 1.0))] * 15
    burn = [(0.9, (6.0, 0.5, 0.5), (100.0, 4.2, 1.0))] * 5
    kinds = feed_all(grouper, hog + quiet + burn)
    assert kinds.count("opened") == 2
    assert kinds[35] == "opened"


def bursts(grouper: EpisodeGrouper, count: int, *, every: int = 60, score: float = 0.7, start: int = 0) -> list[bool]:
    """Feed `count` 10-sample CPU bursts `every` samples apart (1 s each); return which opened an episode."""
    opened = []
    t = start
    for _ in range(count):
        kinds = []
        for i in range(every):
            hot = i < 10
            value = (100.0 if hot else 31.0, 4.2, 1.0)
            event = grouper.feed(t * 1000, score if hot else 0.1, (6.0 if hot else 0.2, 0.3, 0.3), value)
            kinds.append("" if event is None else event.kind)
            t += 1
        opened.append("opened" in kinds)
    return opened


def test_a_routine_job_is_news_twice_then_no_longer() -> None:
    grouper = live_grouper()
    calm_history(grouper)
    assert bursts(grouper, 8) == [True, True, False, False, False, False, False, False]


def test_a_routine_job_going_worse_is_news_again() -> None:
    grouper = live_grouper()
    calm_history(grouper)
    assert bursts(grouper, 3, score=0.65) == [True, True, False]
    assert bursts(grouper, 1, score=0.9, start=180) == [True]  # high -> critical


def test_a_routine_job_that_skipped_three_hours_is_news_again() -> None:
    grouper = live_grouper()
    calm_history(grouper)
    assert bursts(grouper, 3) == [True, True, False]
    assert bursts(grouper, 1, start=180 + 3 * 3600 + 60) == [True]


def run_spaced(scores: list[float], step_ms: int, **kwargs: object) -> list[tuple[str, int, int, int]]:
    grouper = EpisodeGrouper(NAMES, **kwargs)  # type: ignore[arg-type]
    events = []
    for i, score in enumerate(scores):
        event = grouper.feed(i * step_ms, score, (score * 10, 1.0))
        if event is not None:
            events.append((event.kind, event.episode.start_ms, event.episode.end_ms, event.episode.samples))
    return events


def test_a_one_second_blip_is_not_reported_as_an_episode() -> None:
    assert run_spaced([0.1] * 5 + [0.9] + [0.1] * 10, 1000, quiet_samples=3, confirm_ms=2000) == []


def test_a_second_abnormal_sample_confirms_the_episode_from_its_onset() -> None:
    events = run_spaced([0.1] * 5 + [0.9, 0.8] + [0.1] * 10, 1000, quiet_samples=3, confirm_ms=2000)
    # Nothing is said at the onset; the second sample opens the episode, dated from the onset.
    assert events == [("opened", 5000, 6000, 2), ("closed", 5000, 6000, 2)]


def test_an_unconfirmed_onset_is_not_the_current_episode() -> None:
    grouper = EpisodeGrouper(NAMES, confirm_ms=2000)
    for i in range(5):
        grouper.feed(i * 1000, 0.1, (1.0, 1.0))
    assert grouper.feed(5000, 0.9, (9.0, 1.0)) is None
    assert grouper.current is None
    event = grouper.feed(6000, 0.9, (9.0, 1.0))
    assert event is not None and event.kind == "opened"
    assert grouper.current is not None and grouper.current.start_ms == 5000


def test_at_a_slow_interval_one_sample_is_enough() -> None:
    # A 10 s sample is an average over 10 s: a change that shows on it has lasted long enough.
    events = run_spaced([0.1] * 5 + [0.9] + [0.1] * 10, 10_000, quiet_samples=3, confirm_ms=2000)
    assert events == [("opened", 50_000, 50_000, 1), ("closed", 50_000, 50_000, 1)]


def test_without_confirmation_one_sample_opens_at_once() -> None:
    events = run_spaced([0.1] * 5 + [0.9] + [0.1] * 10, 1000, quiet_samples=3)
    assert events[0] == ("opened", 5000, 5000, 1)


def test_blips_that_were_never_reported_do_not_make_a_real_change_routine() -> None:
    grouper = EpisodeGrouper(
        ("cpu_usage", "memory_usage", "load_1m"),
        open_threshold=0.5,
        close_threshold=0.5,
        level_metrics=("cpu_usage", "memory_usage"),
        hold_rises_only=True,
        confirm_ms=2000,
    )
    calm_history(grouper)
    t = 0
    # Five one-second CPU blips a minute apart: none is an episode, and none counts as an earlier occurrence.
    for _ in range(5):
        for i in range(60):
            hot = i == 0
            event = grouper.feed(t * 1000, 0.7 if hot else 0.1, (6.0 if hot else 0.2, 0.3, 0.3), (31.0, 4.2, 1.0))
            assert event is None
            t += 1
    # Then a real burn on the same metric: news.
    assert bursts(grouper, 1, start=t) == [True]


RATE_NAMES = ("cpu_usage", "memory_usage", "disk_io_write")


def rate_grouper(
    resolutions: dict[str, float] | None = None, memory: tuple[float, ...] = (4.2, 4.3, 4.4)
) -> EpisodeGrouper:
    """Grouped as the recorder groups, with disk writes as a bursty rate, after 300 calm samples (memory
    cycling through `memory`)."""
    grouper = EpisodeGrouper(
        RATE_NAMES,
        open_threshold=0.45,
        close_threshold=0.45,
        level_metrics=RATE_NAMES,
        burst_metrics=("disk_io_write",),
        resolutions=resolutions,
        hold_rises_only=True,
        confirm_ms=2000,
    )
    for i in range(300):
        grouper.note_history((30.0 + (i % 5), memory[i % len(memory)], 100_000.0 * (i % 4)))
    return grouper


def feed_writes(grouper: EpisodeGrouper, writes: list[float], step_ms: int = 1000) -> list[tuple[str, int]]:
    """Feed samples whose only change is the write rate (flagged, led by writes, when above 10 MB/s)."""
    events = []
    for i, rate in enumerate(writes):
        hot = rate > 10e6
        event = grouper.feed(i * step_ms, 0.7 if hot else 0.1, (0.3, 0.3, 6.0 if hot else 0.2), (31.0, 4.2, rate))
        if event is not None:
            events.append((event.kind, event.episode.start_ms))
    return events


def test_a_two_second_write_burst_at_one_second_is_not_an_episode() -> None:
    # Dirty-page writeback: 45 MB/s for two samples, then nothing. Two flagged samples, but no episode.
    calm = [100_000.0] * 20
    assert feed_writes(rate_grouper(), [*calm, 45e6, 45e6, *calm]) == []


def test_a_write_storm_in_bursts_is_one_episode_dated_from_its_first_burst() -> None:
    # stress-ng's write storm as the recorder saw it: 540 MB/s every 4 s, little in between.
    calm = [100_000.0] * 20
    storm = ([540e6] + [1e6] * 3) * 10
    events = feed_writes(rate_grouper(), calm + storm + calm)
    assert [kind for kind, _ in events if kind != "extended"] == ["opened", "closed"]
    assert events[0] == ("opened", 20_000)


def test_at_five_seconds_two_samples_of_writes_are_enough() -> None:
    calm = [100_000.0] * 20
    events = feed_writes(rate_grouper(), [*calm, 45e6, 45e6, *calm], step_ms=5000)
    assert events[0] == ("opened", 100_000)


def test_a_write_burst_with_the_cpu_joining_in_is_confirmed_at_once() -> None:
    grouper = rate_grouper()
    for i in range(20):
        grouper.feed(i * 1000, 0.1, (0.2, 0.2, 0.2), (31.0, 4.2, 100_000.0))
    assert grouper.feed(20_000, 0.7, (0.3, 0.3, 6.0), (31.0, 4.2, 200e6)) is None
    # The CPU rises beside the writes: a level metric that is not a bursty rate confirms at the second sample.
    event = grouper.feed(21_000, 0.8, (6.0, 0.3, 5.0), (100.0, 4.2, 200e6))
    assert event is not None and event.kind == "opened" and event.episode.start_ms == 20_000


def test_a_host_going_quiet_is_flagged_but_no_episode() -> None:
    grouper = live_grouper()
    grouper.confirm_ms = 2000
    calm_history(grouper)
    # A background job ends: CPU falls from 30 % to 2 % for a few samples, led by cpu (its score is high).
    quiet = [(0.65, (6.0, 0.5, 0.5), (2.0, 4.2, 1.0))] * 4
    normal = [(0.1, (0.2, 0.2, 0.2), (31.0, 4.2, 1.0))] * 10
    assert "opened" not in feed_all(grouper, normal + quiet + normal)
    # The same size of change upwards is an episode.
    grouper = live_grouper()
    grouper.confirm_ms = 2000
    calm_history(grouper)
    busy = [(0.65, (6.0, 0.5, 0.5), (95.0, 4.2, 1.0))] * 4
    assert "opened" in feed_all(grouper, normal + busy + normal)


def test_a_job_that_burst_twice_in_the_recorded_history_is_routine_at_start() -> None:
    history = live_grouper()
    calm_history(history)
    # The recorder's history, replayed at start: two CPU bursts a minute apart, then calm.
    t = 0
    for _ in range(2):
        for i in range(60):
            hot = i < 10
            history.replay_history(
                t * 1000, 0.7 if hot else 0.1, (6.0 if hot else 0.2, 0.3, 0.3), (100.0 if hot else 31.0, 4.2, 1.0)
            )
            t += 1
    history.end_history()
    assert history.current is None
    assert bursts(history, 1, start=t) == [False], "the third burst within three hours is routine"
    # A recorder that had not seen them reports the burst.
    fresh = live_grouper()
    calm_history(fresh)
    assert bursts(fresh, 1, start=t) == [True]


def test_an_episode_open_at_the_end_of_the_history_is_not_carried_on() -> None:
    grouper = live_grouper()
    calm_history(grouper)
    for i in range(5):
        grouper.replay_history(i * 1000, 0.9, (6.0, 0.3, 0.3), (100.0, 4.2, 1.0))
    assert grouper.current is not None
    grouper.end_history()
    assert grouper.current is None


def test_a_cpu_drop_does_not_make_a_cpu_burst_routine() -> None:
    grouper = EpisodeGrouper(LIVE_NAMES, open_threshold=0.45, level_metrics=("cpu_usage", "memory_usage"))
    calm_history(grouper)
    t = 0
    kinds = []
    # Twice the background job pauses: CPU falls from about 32 % to 2 % for 10 s (episodes of their own).
    for _ in range(2):
        for i in range(60):
            low = i < 10
            event = grouper.feed(
                t * 1000, 0.7 if low else 0.1, (6.0 if low else 0.2, 0.3, 0.3), (2.0 if low else 31.0, 4.2, 1.0)
            )
            kinds.append("" if event is None else event.kind)
            t += 1
    assert kinds.count("opened") == 2
    # Then a burn: the same metric, the other way. News, not the third time of the same change.
    assert bursts(grouper, 1, start=t) == [True]


def test_a_burn_after_a_busy_then_idle_spell_stays_one_episode() -> None:
    # Seen live: the host was busy at about 40 % for a while, then idle at 1 %. The range the CPU covered
    # then must still leave room for a burn at 100 % to hold the episode once the score goes quiet.
    grouper = live_grouper()
    grouper.confirm_ms = 2000
    for i in range(300):
        busy = i < 210
        grouper.note_history(((35.0 + (i % 7) * 2.5) if busy else (0.5 + (i % 3) * 0.5), 4.2, 1.0))
    burn = [(0.9, (6.0, 0.3, 0.3), (100.0, 4.2, 1.0))] * 3 + [(0.3, (1.0, 0.3, 0.3), (100.0, 4.2, 1.0))] * 60
    after = [(0.1, (0.2, 0.2, 0.2), (1.0, 4.2, 1.0))] * 20
    kinds = feed_all(grouper, burn + after)
    assert kinds.count("opened") == 1
    assert kinds.index("closed") >= 63, f"closed at sample {kinds.index('closed')} of a 63-sample burn"


def test_memory_one_reported_step_up_does_not_hold_an_episode() -> None:
    # Seen live: a write storm took memory from 2.8 % to 2.9 % (psutil reports it to 0.1 %) and it stayed
    # there; that one step held the episode 62 samples past the storm's end.
    storm = [(0.9, (0.5, 2.0, 6.0), (31.0, 2.9, 540e6))] * 20
    # The storm is over: writes back to nothing; the score stays up (led by memory, still 2.9 %).
    after = [(0.55, (0.5, 2.0, 0.3), (31.0, 2.9, 0.0))] * 40
    kinds = feed_all(rate_grouper({"memory_usage": 0.1}, memory=(2.8,)), storm + after)
    assert kinds.count("opened") == 1
    assert "closed" in kinds[20 : 20 + LEVEL_WINDOW + 6], "closed within the level window and the quiet samples"
    # Without the resolution, 2.9 % is above everything memory covered: it holds the episode throughout.
    assert "closed" not in feed_all(rate_grouper(memory=(2.8,)), storm + after)
