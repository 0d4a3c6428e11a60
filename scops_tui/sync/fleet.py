"""The fleet read from the central PostgreSQL: every host's latest state, the fleet-wide queue, a host's history.

Read only: the session sets `default_transaction_read_only` and runs nothing but SELECTs. The Hosts list
comes from `metrics_latest` (one row per host, kept by each sync batch), wide history windows from the
hourly rollup and narrow ones from the raw rows, so no screen scans a fleet's raw samples. Episodes get
a fleet id (their key on the server is the host and the host's own id); host labels are the source name,
with the database id's first eight digits where two hosts share a name.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from scops_tui.detection.registry import ModelVersion
from scops_tui.detection.review import SEVERITIES, Episode, ReviewError, Status
from scops_tui.store.history import EpisodeSpan, HistoryBucket, WindowSummary, bucket_width
from scops_tui.store.records import MetricRecord
from scops_tui.sync import fleet_history as history_sql
from scops_tui.sync.fleet_history import ms as _ms
from scops_tui.sync.server import SyncError, connect, one_line, require_schema
from scops_tui.sync.target import SyncTarget

if TYPE_CHECKING:
    import psycopg

EPISODE_LIMIT = 5_000
"""The queue shows at most this many episodes (newest first): a fleet's whole history would not help."""
READER_ROLE = "scops_reader"
T = TypeVar("T")

_L_TS = 'l."timestamp"'
_A_TS = 'a."timestamp"'


@dataclass(frozen=True)
class HostKey:
    """One host on the server: the local database it syncs from and the source it records under."""

    source_db: str
    source: str


@dataclass(frozen=True)
class HostState:
    """One row of the Hosts screen: a host's newest sample, open episodes and last sync."""

    key: HostKey
    label: str
    """How the fleet names the host: its source, with the database id's start if another host shares it."""
    last_sample_ms: int
    cpu_usage: float
    memory_usage: float
    disk_usage: float
    load_1m: float
    anomaly_score: float | None
    open_episodes: Mapping[str, int]
    """Open episodes (neither acknowledged nor resolved) per severity band."""
    last_sync_ms: int | None
    """When the host's last sync batch committed (any table)."""

    @property
    def open_total(self) -> int:
        """Open episodes of every severity."""
        return sum(self.open_episodes.values())


@dataclass(frozen=True)
class FleetHistory:
    """One window of a host's history from the server, as `store.history` shapes a local one."""

    rows: list[HistoryBucket]
    episodes: list[EpisodeSpan]
    summary: WindowSummary
    from_rollup: bool
    """True when the buckets were summed from the hourly rollup, False when read from raw rows."""


@dataclass(frozen=True)
class EpisodeOrigin:
    """Where a fleet episode lives: its host and the id it has in that host's database."""

    host: HostKey
    label: str
    local_id: int


@dataclass
class _Names:
    labels: dict[HostKey, str] = field(default_factory=dict)
    keys: dict[str, HostKey] = field(default_factory=dict)
    episode_ids: dict[tuple[str, int], int] = field(default_factory=dict)
    origins: dict[int, EpisodeOrigin] = field(default_factory=dict)


def host_labels(keys: Sequence[HostKey]) -> dict[HostKey, str]:
    """A short unique label per host: its source, or `source@db8` when several databases share that source."""
    counts: dict[str, int] = {}
    for key in keys:
        counts[key.source] = counts.get(key.source, 0) + 1
    return {key: key.source if counts[key.source] == 1 else f"{key.source}@{key.source_db[:8]}" for key in keys}


class FleetSession:
    """A read-only session on the central database, shared by the screens' thread workers (one query at a time)."""

    def __init__(self, target: SyncTarget) -> None:
        self.target = target
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.RLock()
        self._names = _Names()
        self.is_reader = False
        """Whether the login role is in scops_reader (else row-level security shows only its own hosts)."""
        self.role = ""
        self.server_now_ms: int | None = None
        """The server's clock at the last host-list read: ages are measured against it, not the viewer's clock."""

    # Connection

    def open(self) -> None:
        """Connect (if not yet) and check the server schema; raise SyncError/ServerUnreachable with one line."""
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                return
            conn = connect(self.target, autocommit=True)
            try:
                require_schema(conn, self.target)
                conn.execute("SET default_transaction_read_only = on")
                conn.execute("SET application_name = 'scops-tui fleet'")
                row = conn.execute(
                    "SELECT current_user, coalesce(pg_has_role(current_user, oid, 'MEMBER'), false) "
                    "FROM pg_roles WHERE rolname = %s",
                    (READER_ROLE,),
                ).fetchone()
            except BaseException:
                conn.close()
                raise
            self.role = str(row[0]) if row else ""
            self.is_reader = bool(row and row[1])
            self._conn = conn

    def close(self) -> None:
        """Close the connection (the next read opens a new one)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run `work` on the connection; a lost connection is opened again once; errors become one line."""
        import psycopg

        for attempt in (1, 2):
            with self._lock:
                self.open()
                assert self._conn is not None
                try:
                    return work(self._conn)
                except psycopg.OperationalError as exc:
                    self.close()
                    if attempt == 2:
                        raise SyncError(f"lost {self.target.display}: {one_line(exc, self.target)}") from None
                except psycopg.Error as exc:
                    raise SyncError(f"{self.target.display}: {one_line(exc, self.target)}") from None
        raise AssertionError("unreachable")

    # Hosts

    def hosts(self) -> list[HostState]:
        """Every host the role may see, with its newest sample, open episodes per severity and last sync."""

        def read(conn: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
            latest = conn.execute(
                f"SELECT l.source_db::text, l.source, {_ms(_L_TS)}, l.cpu_usage::float8, "  # noqa: S608 - constant
                "l.memory_usage::float8, l.disk_usage::float8, l.load_1m::float8, l.anomaly_score::float8, "
                f"(SELECT {_ms('max(c.synced_at)')} FROM sync_checkpoints AS c WHERE c.source_db = l.source_db) "
                "FROM metrics_latest AS l ORDER BY l.source, l.source_db"
            ).fetchall()
            open_rows = conn.execute(
                "SELECT source_db::text, source, coalesce(severity, 'low'), count(*) FROM anomaly_predictions "
                "WHERE NOT acknowledged AND resolved_at IS NULL GROUP BY 1, 2, 3"
            ).fetchall()
            clock = conn.execute(f"SELECT {_ms('now()')}").fetchone()
            self.server_now_ms = None if clock is None else int(clock[0])
            return latest, open_rows

        latest, open_rows = self._run(read)
        counts: dict[HostKey, dict[str, int]] = {}
        for db, source, severity, count in open_rows:
            counts.setdefault(HostKey(db, source), {})[severity] = int(count)
        labels = self._relabel([HostKey(r[0], r[1]) for r in latest])
        return [
            HostState(
                key=(key := HostKey(r[0], r[1])),
                label=labels[key],
                last_sample_ms=int(r[2]),
                cpu_usage=float(r[3]),
                memory_usage=float(r[4]),
                disk_usage=float(r[5]),
                load_1m=float(r[6]),
                anomaly_score=None if r[7] is None else float(r[7]),
                open_episodes=counts.get(key, {}),
                last_sync_ms=None if r[8] is None else int(r[8]),
            )
            for r in latest
        ]

    def _relabel(self, keys: Sequence[HostKey]) -> dict[HostKey, str]:
        labels = host_labels(keys)
        with self._lock:
            self._names.labels = dict(labels)
            self._names.keys = {label: key for key, label in labels.items()}
        return labels

    def labels(self) -> list[str]:
        """Every host's label, by name (reads the host list)."""
        return sorted(state.label for state in self.hosts())

    def host(self, label: str) -> HostKey:
        """The host a label names (re-reading the host list once if it is new); SyncError when none."""
        found = self._names.keys.get(label)
        if found is None:
            self.hosts()
            found = self._names.keys.get(label)
        if found is None:
            raise SyncError(f"no host {label!r} on {self.target.display}")
        return found

    def label(self, key: HostKey) -> str:
        """The label of a host (its source until the host list says otherwise)."""
        return self._names.labels.get(key, key.source)

    # Episodes

    def _fleet_id(self, source_db: str, local_id: int, key: HostKey) -> int:
        with self._lock:
            found = self._names.episode_ids.get((source_db, local_id))
            if found is None:
                found = len(self._names.episode_ids) + 1
                self._names.episode_ids[(source_db, local_id)] = found
            self._names.origins[found] = EpisodeOrigin(key, self.label(key), local_id)
            return found

    def origin(self, episode_id: int) -> EpisodeOrigin:
        """Which host an episode of the fleet queue belongs to, and its id there."""
        found = self._names.origins.get(episode_id)
        if found is None:
            raise ReviewError(f"no anomaly episode with fleet id {episode_id}")
        return found

    _EPISODE_SELECT = (
        f"SELECT a.source_db::text, a.local_id, {_ms(_A_TS)}, {_ms('a.end_timestamp')}, a.source, "  # noqa: S608 - constant
        "a.severity, a.confidence_score::float8, a.peak_score, a.sample_count, a.model_name, a.model_version, "
        f"a.acknowledged, u.username, {_ms('a.acknowledged_at')}, a.verdict, {_ms('a.resolved_at')}, "
        "a.resolution_notes, a.contributing_metrics, a.top_processes "
        "FROM anomaly_predictions AS a LEFT JOIN users AS u ON u.source_db = a.source_db AND u.id = a.acknowledged_by "
    )
    _STATUS = {
        "open": "NOT a.acknowledged AND a.resolved_at IS NULL",
        "acknowledged": "a.acknowledged AND a.resolved_at IS NULL",
        "resolved": "a.resolved_at IS NOT NULL",
        "all": "true",
    }

    def _episode(self, row: Sequence[Any]) -> Episode:
        key = HostKey(row[0], row[4])
        return Episode(
            id=self._fleet_id(row[0], int(row[1]), key),
            timestamp=int(row[2]),
            end_timestamp=None if row[3] is None else int(row[3]),
            source=self.label(key),
            severity=row[5],
            confidence_score=float(row[6]),
            peak_score=None if row[7] is None else float(row[7]),
            samples=int(row[8]),
            model_name=row[9],
            model_version=row[10],
            acknowledged=bool(row[11]),
            acknowledged_by=row[12],
            acknowledged_at=None if row[13] is None else int(row[13]),
            verdict=row[14],
            resolved_at=None if row[15] is None else int(row[15]),
            resolution_notes=row[16],
            contributing_metrics=_json_list(row[17]),
            top_processes=_json_list(row[18]),
        )

    def episodes(
        self, status: Status, severity: str | None, host: str | None = None, limit: int = EPISODE_LIMIT
    ) -> list[Episode]:
        """The fleet's queue with this status, at least as severe as `severity`, of one host or all, newest first."""
        if status not in self._STATUS:
            raise ReviewError(f"unknown status {status!r} (open, acknowledged, resolved or all)")
        where = [self._STATUS[status]]
        params: list[Any] = []
        if severity is not None:
            if severity not in SEVERITIES:
                raise ReviewError(f"unknown severity {severity!r} (low, medium, high or critical)")
            where.append("a.severity = ANY(%s)")
            params.append(list(SEVERITIES[SEVERITIES.index(severity) :]))
        if host is not None:
            key = self.host(host)
            where.append("a.source_db = %s::uuid AND a.source = %s")
            params += [key.source_db, key.source]
        sql = (
            self._EPISODE_SELECT + "WHERE " + " AND ".join(where) + ' ORDER BY a."timestamp" DESC, a.local_id DESC '
            "LIMIT %s"
        )
        params.append(int(limit))
        if not self._names.labels:
            self.hosts()
        rows = self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [self._episode(row) for row in rows]

    def episode(self, episode_id: int) -> Episode:
        """One episode by its fleet id."""
        origin = self.origin(episode_id)
        sql = self._EPISODE_SELECT + "WHERE a.source_db = %s::uuid AND a.local_id = %s"
        row = self._run(lambda conn: conn.execute(sql, (origin.host.source_db, origin.local_id)).fetchone())
        if row is None:
            raise ReviewError(f"episode {origin.local_id} of {origin.label} is no longer on the server")
        return self._episode(row)

    # History

    def history(self, label: str, start_ms: int, end_ms: int, buckets: int) -> FleetHistory:
        """A host's [start, end) in at most `buckets` buckets: hourly rollup when a bucket spans an hour or more."""
        key = self.host(label)
        if end_ms <= start_ms:
            return FleetHistory([], [], WindowSummary(0, {}, None), False)
        width = bucket_width(start_ms, end_ms, buckets)
        wide = width >= history_sql.HOUR_MS

        def read(conn: psycopg.Connection[Any]) -> FleetHistory:
            params = history_sql.window(key.source_db, key.source, start_ms, end_ms) | {"width": width}
            sql = history_sql.ROLLUP_SQL if wide else history_sql.RAW_SQL
            rows = [history_sql.bucket(row, start_ms, width, summed=wide) for row in conn.execute(sql, params)]
            spans = [
                EpisodeSpan(self._fleet_id(key.source_db, int(r[0]), key), int(r[1]), int(r[2]), r[3])
                for r in conn.execute(history_sql.SPANS_SQL, params)
            ]
            summary = history_sql.summary(conn, key.source_db, key.source, start_ms, end_ms, wide)
            return FleetHistory(rows, spans, summary, wide)

        return self._run(read)

    def bounds(self, label: str) -> tuple[int, int] | None:
        """The first hour with samples and the newest sample of a host (from the rollup and the latest row)."""
        key = self.host(label)
        row = self._run(
            lambda conn: conn.execute(
                f"SELECT (SELECT {_ms('min(h.hour)')} FROM metrics_hourly AS h "  # noqa: S608 - constant
                "WHERE h.source_db = l.source_db AND h.source = l.source), "
                f"{_ms(_L_TS)} FROM metrics_latest AS l WHERE l.source_db = %s::uuid AND l.source = %s",
                (key.source_db, key.source),
            ).fetchone()
        )
        if row is None or row[1] is None:
            return None
        return int(row[0] if row[0] is not None else row[1]), int(row[1])

    def recent(self, label: str, limit: int) -> list[MetricRecord]:
        """A host's newest `limit` samples, oldest first."""
        key = self.host(label)
        rows = self._run(
            lambda conn: conn.execute(
                f"SELECT {history_sql.RECORD_COLUMNS} FROM metrics WHERE source_db = %s::uuid AND source = %s "  # noqa: S608 - constant
                'ORDER BY "timestamp" DESC LIMIT %s',
                (key.source_db, key.source, int(limit)),
            ).fetchall()
        )
        return [history_sql.record(row) for row in reversed(rows)]

    def open_count(self, label: str | None = None) -> int:
        """Open episodes of one host, or of the fleet."""
        if label is None:
            sql, params = "SELECT count(*) FROM anomaly_predictions WHERE NOT acknowledged AND resolved_at IS NULL", ()
        else:
            key = self.host(label)
            sql = (
                "SELECT count(*) FROM anomaly_predictions WHERE NOT acknowledged AND resolved_at IS NULL "
                "AND source_db = %s::uuid AND source = %s"
            )
            params = (key.source_db, key.source)  # type: ignore[assignment]
        row = self._run(lambda conn: conn.execute(sql, params).fetchone())
        return int(row[0]) if row else 0

    def database_size(self) -> int:
        """Bytes the central database takes on the server."""
        row = self._run(lambda conn: conn.execute("SELECT pg_database_size(current_database())").fetchone())
        return int(row[0]) if row else 0

    def deployed_version(self, label: str) -> str | None:
        """The version deployed for a host's source, if its database synced one."""
        key = self.host(label)
        row = self._run(
            lambda conn: conn.execute(
                "SELECT v.version FROM ml_model_versions AS v JOIN ml_models AS m "
                "ON m.source_db = v.source_db AND m.local_id = v.model_id "
                "WHERE v.source_db = %s::uuid AND v.is_deployed AND (m.source = %s OR m.source IS NULL) "
                "ORDER BY v.created_at DESC LIMIT 1",
                (key.source_db, key.source),
            ).fetchone()
        )
        return None if row is None else str(row[0])

    def versions(self) -> list[ModelVersion]:
        """Every model version of every host the role may see, newest first (ids are each host's own)."""
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT v.local_id, v.model_id, m.model_name, m.source, v.version, m.model_type, v.status, "  # noqa: S608 - constant
                f"v.is_deployed, {_ms('v.training_timestamp')}, {_ms('v.training_data_start')}, "
                f"{_ms('v.training_data_end')}, v.training_data_size, v.accuracy::float8, v.precision_score::float8, "
                "v.recall_score::float8, v.f1_score::float8, v.model_config, v.thresholds "
                "FROM ml_model_versions AS v JOIN ml_models AS m "
                "ON m.source_db = v.source_db AND m.local_id = v.model_id "
                "ORDER BY v.created_at DESC LIMIT 1000"
            ).fetchall()
        )
        return [
            ModelVersion(
                int(r[0]),
                int(r[1]),
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                bool(r[7]),
                int(r[8]),
                int(r[9]),
                int(r[10]),
                int(r[11]),
                r[12],
                r[13],
                r[14],
                r[15],
                _json_dict(r[16]),
                _json_dict(r[17]),
            )
            for r in rows
        ]


def _json_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    loaded = json.loads(value) if isinstance(value, str) else value
    return list(loaded) if isinstance(loaded, list) else []


def _json_dict(value: Any) -> dict[str, Any]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return dict(loaded) if isinstance(loaded, dict) else {}
