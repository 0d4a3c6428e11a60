"""Episode grouping: consecutive anomalous samples make one episode; hysteresis keeps noise from flooding."""

from __future__ import annotations

import pytest

from scops_tui.detection.episodes import EpisodeGrouper, severity_of

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
