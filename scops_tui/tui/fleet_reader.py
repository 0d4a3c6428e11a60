"""The `Reader` of the central PostgreSQL: the fleet view's screens read through it as the local app's read a file.

A thin adaptor over `sync.fleet.FleetSession` (where the SQL and psycopg live): sources are host labels,
episode ids are fleet ids. Nothing here writes.
"""

from __future__ import annotations

from scops_tui.detection import registry
from scops_tui.detection.review import Episode, Status
from scops_tui.store.records import MetricRecord
from scops_tui.sync.fleet import EpisodeOrigin, FleetSession, HostState
from scops_tui.tui.readers import HistoryView, StatusFacts


class PostgresReader:
    """The `Reader` of a fleet session: every method blocks (call it from a thread worker)."""

    def __init__(self, session: FleetSession) -> None:
        self.session = session

    def status(self, source: str) -> StatusFacts:
        """The central database's size, the deployed version of host `source`, its open episodes."""
        return StatusFacts(
            size_bytes=self.session.database_size(),
            deployed_version=self.session.deployed_version(source),
            open_anomalies=self.session.open_count(source),
        )

    def episodes(self, status: Status, severity: str | None) -> list[Episode]:
        """Every host's episodes with this status, at least as severe as `severity`, newest first."""
        return self.session.episodes(status, severity)

    def host_episodes(self, status: Status, severity: str | None, host: str | None) -> list[Episode]:
        """As `episodes`, of one host (its label) or, for None, of all."""
        return self.session.episodes(status, severity, host)

    def episode(self, episode_id: int) -> Episode:
        """One episode by its fleet id."""
        return self.session.episode(episode_id)

    def origin(self, episode_id: int) -> EpisodeOrigin:
        """The host of a fleet episode and its id there (no I/O)."""
        return self.session.origin(episode_id)

    def history(self, source: str, start_ms: int, end_ms: int, buckets: int) -> HistoryView:
        """Host `source`'s [start, end) from the server, its episodes marked."""
        found = self.session.history(source, start_ms, end_ms, buckets)
        return HistoryView(start_ms, end_ms, buckets, found.rows, found.episodes, found.summary, [], source)

    def bounds(self, source: str) -> tuple[int, int] | None:
        """First hour and newest sample of host `source`."""
        return self.session.bounds(source)

    def recent(self, source: str, limit: int) -> list[MetricRecord]:
        """The newest samples of host `source`, oldest first."""
        return self.session.recent(source, limit)

    def sources(self) -> list[str]:
        """Every host's label."""
        return self.session.labels()

    def versions(self) -> list[registry.ModelVersion]:
        """Every host's model versions, newest first."""
        return self.session.versions()

    def hosts(self) -> list[HostState]:
        """Every host with its latest state (the Hosts screen)."""
        return self.session.hosts()
