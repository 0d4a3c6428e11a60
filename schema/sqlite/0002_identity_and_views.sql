-- scops-tui SQLite schema, version 2: the database's own identity (a UUID made once, for sync across
-- hosts; the program fills it in on first open) and a view that presents metrics in plain units.

CREATE TABLE local_identity (
    singleton   INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    database_id BLOB    NOT NULL CHECK (length(database_id) = 16),
    created_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
) STRICT;

-- Metrics in plain units: percentages, load averages and milliseconds as REAL, UUIDs as text.
CREATE VIEW metrics_readable AS
SELECT
    m.id,
    strftime('%Y-%m-%dT%H:%M:%fZ', m.timestamp / 1000.0, 'unixepoch') AS timestamp,
    m.source,
    m.cpu_usage / 100.0 AS cpu_usage,
    m.memory_usage / 100.0 AS memory_usage,
    m.disk_usage / 100.0 AS disk_usage,
    m.load_1m / 10000.0 AS load_1m,
    m.load_5m / 10000.0 AS load_5m,
    m.load_15m / 10000.0 AS load_15m,
    m.disk_io_read,
    m.disk_io_write,
    m.network_rx,
    m.network_tx,
    m.response_time / 1000.0 AS response_time,
    m.error_rate / 100.0 AS error_rate,
    m.is_anomaly,
    m.anomaly_score / 10000.0 AS anomaly_score,
    strftime('%Y-%m-%dT%H:%M:%fZ', m.created_at / 1000.0, 'unixepoch') AS created_at,
    u.username AS created_by
FROM metrics AS m
LEFT JOIN users AS u ON u.id = m.created_by;
