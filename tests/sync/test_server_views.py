"""The server's summaries mean what their names say, and every column holding a quantity names its unit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from scops_tui.detection import review
from scops_tui.detection.episodes import EpisodeSnapshot
from scops_tui.store import database as store
from scops_tui.store.records import MetricRecord
from scops_tui.store.timestamps import now_ms
from tests.pg import T0, admin_connect, fill, sync

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "postgres"


def scored(conn: sqlite3.Connection, count: int, start: int, every: int = 10) -> None:
    """`count` samples one second apart; one in `every` flagged with a high score, the rest scored low."""
    system = store.user_id(conn, "system")
    records = [
        MetricRecord(
            start + i * 1000, "host", 10.0, 20.0, 30.0, 0.1, 0.2, None, 1, 2, 3, 4, 0.5, None,
            i % every == 0, 0.9 if i % every == 0 else 0.01 * (i % 5),
        )
        for i in range(count)
    ]  # fmt: skip
    store.insert_metrics(conn, records, created_by=system, created_at=start)


def mismatches(url: str) -> int:
    """Hours whose avg_anomaly_score differs from the plain average over all of the hour's samples."""
    with psycopg.connect(url) as pg:
        return int(
            pg.execute(
                "SELECT count(*) FROM (SELECT date_trunc('hour', \"timestamp\", 'UTC') AS hour, source, "
                "round(avg(anomaly_score), 4) AS score FROM metrics GROUP BY 1, 2) m "
                "FULL JOIN hourly_metrics_summary s USING (hour, source) "
                "WHERE m.score IS DISTINCT FROM s.avg_anomaly_score"
            ).fetchone()[0]
        )


def test_avg_anomaly_score_averages_every_sample_of_the_hour(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    """Fast path, then the safe path (checkpoints forgotten, new rows among old): both keep the average exact."""
    scored(conn, 4000, T0)
    sync(db_path, pg_server, batch_size=700)
    assert mismatches(pg_server) == 0
    with psycopg.connect(pg_server) as pg:
        flagged, overall = pg.execute(
            "SELECT avg_flagged_anomaly_score, avg_anomaly_score FROM hourly_metrics_summary ORDER BY hour LIMIT 1"
        ).fetchone()
    assert float(flagged) == pytest.approx(0.9) and float(overall) < 0.2
    dbname = psycopg.conninfo.conninfo_to_dict(pg_server)["dbname"]
    with admin_connect(str(dbname)) as admin:
        admin.execute("DELETE FROM sync_checkpoints")
    scored(conn, 500, T0 + 4000 * 1000)
    sync(db_path, pg_server, batch_size=700)
    assert mismatches(pg_server) == 0


def test_the_migration_backfills_the_hours_synced_before_it(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    """Hours rolled up by an older sync (no score_sum yet) get their all-sample average from metrics."""
    scored(conn, 3000, T0)
    sync(db_path, pg_server)
    migration = (SCHEMA / "0005_summaries_and_units.sql").read_text()
    backfill = migration[migration.index("UPDATE metrics_hourly") :]
    backfill = backfill[: backfill.index(";") + 1]
    dbname = str(psycopg.conninfo.conninfo_to_dict(pg_server)["dbname"])
    with admin_connect(dbname) as admin:
        admin.execute("UPDATE metrics_hourly SET score_sum = 0, score_rows = 0")
        assert mismatches(pg_server) > 0
        admin.execute(backfill)
    assert mismatches(pg_server) == 0


def test_recent_anomalies_lists_episodes_with_their_status(
    conn: sqlite3.Connection, db_path: Path, pg_server: str
) -> None:
    fill(conn, metrics=50)
    now = now_ms()
    old = EpisodeSnapshot(now - 3 * 86_400_000, now - 3 * 86_400_000 + 60_000, 0.8, 12, (("cpu_usage", 9.0),))
    review.open_episode(conn, old, source="host", model_name="detector@host", model_version="1", model_version_id=None)
    recent = EpisodeSnapshot(now - 3_600_000, now - 3_000_000, 0.7, 30, (("memory_usage", 7.0),))
    episode = review.open_episode(
        conn, recent, source="host", model_name="detector@host", model_version="1", model_version_id=None
    )
    review.acknowledge(conn, episode, store.operator_username())
    sync(db_path, pg_server)
    with psycopg.connect(pg_server) as pg:
        rows = pg.execute("SELECT episode_id, status, sample_count, peak_score FROM recent_anomalies").fetchall()
        samples = pg.execute("SELECT count(*) FROM metrics WHERE is_anomaly").fetchone()[0]
    # fill's episode (three hours ago) and the acknowledged one; not the one from three days ago, no samples.
    assert sorted((status, count) for _id, status, count, _peak in rows) == [("acknowledged", 30), ("open", 3)]
    assert episode in {row[0] for row in rows}
    assert samples == 0 or len(rows) != samples


def test_every_column_holding_a_quantity_has_a_comment(pg_server: str) -> None:
    """Numbers (but ids, versions and bookkeeping) and times carry a COMMENT that says what unit they are in."""
    with psycopg.connect(pg_server) as pg:
        missing = pg.execute(
            "SELECT c.table_name || '.' || c.column_name FROM information_schema.columns AS c "
            "JOIN pg_class AS t ON t.relname = c.table_name AND t.relnamespace = current_schema()::regnamespace "
            "WHERE c.table_schema = current_schema() "
            "AND c.table_name IN ('metrics', 'metrics_hourly', 'ml_model_versions', 'api_keys', 'api_key_usage', "
            "'model_predictions', 'anomaly_predictions') "
            "AND c.data_type IN ('numeric', 'integer', 'bigint', 'double precision', 'real') "
            "AND c.column_name NOT LIKE '%%id' AND c.column_name NOT IN ('local_id', 'status_code') "
            "AND col_description(t.oid, c.ordinal_position) IS NULL ORDER BY 1"
        ).fetchall()
    assert missing == []
