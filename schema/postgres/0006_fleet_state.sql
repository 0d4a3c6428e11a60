-- scops-tui PostgreSQL schema, version 6: what the fleet view (`scops-tui fleet`) reads without scanning raw rows.
--
-- 1. metrics_latest: one row per host (source_db, source) holding its newest sample, kept by the sync in the
--    same statement (so the same transaction) as each batch of metrics, from the rows that batch inserted;
--    a row only ever moves forward in time. The Hosts screen reads it, not metrics.
-- 2. metrics_hourly keeps every chart metric (disk use, load, disk and network rates: sums and maxima) and
--    the hour's highest score, backfilled here and kept by the sync from now on, so a host's history over
--    weeks is drawn from the rollup alone.
-- 3. Indexes for the fleet's review queue (open episodes per host and severity; a host's episodes by time).
-- Row-level security is the same as every synced table's: an ingest role sees and writes only its own
-- hosts' rows, scops_reader reads all.

CREATE TABLE metrics_latest (
    source_db     uuid          NOT NULL,
    source        varchar(100)  NOT NULL,
    "timestamp"   timestamptz   NOT NULL,
    cpu_usage     numeric(5, 2) NOT NULL,
    memory_usage  numeric(5, 2) NOT NULL,
    disk_usage    numeric(5, 2) NOT NULL,
    load_1m       numeric(8, 4) NOT NULL,
    load_5m       numeric(8, 4) NOT NULL,
    load_15m      numeric(8, 4),
    disk_io_read  bigint        NOT NULL,
    disk_io_write bigint        NOT NULL,
    network_rx    bigint        NOT NULL,
    network_tx    bigint        NOT NULL,
    is_anomaly    boolean       NOT NULL,
    anomaly_score numeric(5, 4),
    updated_at    timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (source_db, source)
);
COMMENT ON TABLE metrics_latest IS 'Newest sample of each host (source_db, source), kept by each sync batch';
COMMENT ON COLUMN metrics_latest."timestamp" IS 'Collection time of the newest sample (UTC)';
COMMENT ON COLUMN metrics_latest.cpu_usage IS 'Percent of all CPUs busy, 0 to 100';
COMMENT ON COLUMN metrics_latest.memory_usage IS 'Percent of memory in use, 0 to 100';
COMMENT ON COLUMN metrics_latest.disk_usage IS 'Percent of the watched filesystem in use, 0 to 100';
COMMENT ON COLUMN metrics_latest.load_1m IS 'Load average over 1 minute (runnable processes; no unit)';
COMMENT ON COLUMN metrics_latest.disk_io_read IS 'Bytes per second read from block devices';
COMMENT ON COLUMN metrics_latest.disk_io_write IS 'Bytes per second written to block devices';
COMMENT ON COLUMN metrics_latest.network_rx IS 'Bytes per second received on all interfaces but loopback';
COMMENT ON COLUMN metrics_latest.network_tx IS 'Bytes per second sent on all interfaces but loopback';
COMMENT ON COLUMN metrics_latest.anomaly_score IS 'How unusual the newest sample is, 0 to 1 (fraction, no unit)';
COMMENT ON COLUMN metrics_latest.updated_at IS 'When the sync batch that brought the newest sample committed (UTC)';

INSERT INTO metrics_latest (source_db, source, "timestamp", cpu_usage, memory_usage, disk_usage, load_1m, load_5m,
                            load_15m, disk_io_read, disk_io_write, network_rx, network_tx, is_anomaly, anomaly_score)
SELECT DISTINCT ON (source_db, source) source_db, source, "timestamp", cpu_usage, memory_usage, disk_usage, load_1m,
       load_5m, load_15m, disk_io_read, disk_io_write, network_rx, network_tx, is_anomaly, anomaly_score
FROM metrics
ORDER BY source_db, source, "timestamp" DESC, local_id DESC;

ALTER TABLE metrics_hourly
    ADD COLUMN sum_disk      numeric NOT NULL DEFAULT 0,
    ADD COLUMN max_disk      numeric(5, 2) NOT NULL DEFAULT 0,
    ADD COLUMN sum_load_1m   numeric NOT NULL DEFAULT 0,
    ADD COLUMN max_load_1m   numeric(8, 4) NOT NULL DEFAULT 0,
    ADD COLUMN sum_io_read   numeric NOT NULL DEFAULT 0,
    ADD COLUMN max_io_read   bigint  NOT NULL DEFAULT 0,
    ADD COLUMN sum_io_write  numeric NOT NULL DEFAULT 0,
    ADD COLUMN max_io_write  bigint  NOT NULL DEFAULT 0,
    ADD COLUMN sum_rx        numeric NOT NULL DEFAULT 0,
    ADD COLUMN max_rx        bigint  NOT NULL DEFAULT 0,
    ADD COLUMN sum_tx        numeric NOT NULL DEFAULT 0,
    ADD COLUMN max_tx        bigint  NOT NULL DEFAULT 0,
    ADD COLUMN max_score     numeric(5, 4);

UPDATE metrics_hourly AS h
SET sum_disk = m.sum_disk, max_disk = m.max_disk, sum_load_1m = m.sum_load_1m, max_load_1m = m.max_load_1m,
    sum_io_read = m.sum_io_read, max_io_read = m.max_io_read, sum_io_write = m.sum_io_write,
    max_io_write = m.max_io_write, sum_rx = m.sum_rx, max_rx = m.max_rx, sum_tx = m.sum_tx, max_tx = m.max_tx,
    max_score = m.max_score
FROM (
    SELECT source_db, source, date_trunc('hour', "timestamp", 'UTC') AS hour,
           sum(disk_usage) AS sum_disk, max(disk_usage) AS max_disk, sum(load_1m) AS sum_load_1m,
           max(load_1m) AS max_load_1m, sum(disk_io_read) AS sum_io_read, max(disk_io_read) AS max_io_read,
           sum(disk_io_write) AS sum_io_write, max(disk_io_write) AS max_io_write, sum(network_rx) AS sum_rx,
           max(network_rx) AS max_rx, sum(network_tx) AS sum_tx, max(network_tx) AS max_tx,
           max(anomaly_score) AS max_score
    FROM metrics
    GROUP BY 1, 2, 3
) AS m
WHERE h.source_db = m.source_db AND h.source = m.source AND h.hour = m.hour;

COMMENT ON COLUMN metrics_hourly.sum_disk IS 'Sum of disk_usage over the hour''s samples (percent points)';
COMMENT ON COLUMN metrics_hourly.max_disk IS 'Highest disk_usage of the hour (percent)';
COMMENT ON COLUMN metrics_hourly.sum_load_1m IS 'Sum of load_1m over the hour''s samples (no unit)';
COMMENT ON COLUMN metrics_hourly.max_load_1m IS 'Highest load_1m of the hour (no unit)';
COMMENT ON COLUMN metrics_hourly.sum_io_read IS 'Sum of disk_io_read over the hour''s samples (bytes per second)';
COMMENT ON COLUMN metrics_hourly.max_io_read IS 'Highest disk_io_read of the hour (bytes per second)';
COMMENT ON COLUMN metrics_hourly.sum_io_write IS 'Sum of disk_io_write over the hour''s samples (bytes per second)';
COMMENT ON COLUMN metrics_hourly.max_io_write IS 'Highest disk_io_write of the hour (bytes per second)';
COMMENT ON COLUMN metrics_hourly.sum_rx IS 'Sum of network_rx over the hour''s samples (bytes per second)';
COMMENT ON COLUMN metrics_hourly.max_rx IS 'Highest network_rx of the hour (bytes per second)';
COMMENT ON COLUMN metrics_hourly.sum_tx IS 'Sum of network_tx over the hour''s samples (bytes per second)';
COMMENT ON COLUMN metrics_hourly.max_tx IS 'Highest network_tx of the hour (bytes per second)';
COMMENT ON COLUMN metrics_hourly.max_score IS 'Highest anomaly_score of the hour, 0 to 1 (NULL: none scored)';

-- The fleet's queue: open episodes counted per host and severity, and a host's episodes by time.
CREATE INDEX idx_anomaly_predictions_open_host ON anomaly_predictions (source_db, source, severity)
    WHERE NOT acknowledged AND resolved_at IS NULL;
CREATE INDEX idx_anomaly_predictions_host_time ON anomaly_predictions (source_db, source, "timestamp" DESC);

ALTER TABLE metrics_latest ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON metrics_latest TO scops_ingest;
GRANT SELECT ON metrics_latest TO scops_reader;
CREATE POLICY metrics_latest_ingest_select ON metrics_latest FOR SELECT TO scops_ingest
    USING (source_db IN (SELECT scops_my_sources()));
CREATE POLICY metrics_latest_ingest_insert ON metrics_latest FOR INSERT TO scops_ingest
    WITH CHECK (source_db IN (SELECT scops_my_sources()));
CREATE POLICY metrics_latest_ingest_update ON metrics_latest FOR UPDATE TO scops_ingest
    USING (source_db IN (SELECT scops_my_sources())) WITH CHECK (source_db IN (SELECT scops_my_sources()));
CREATE POLICY metrics_latest_reader ON metrics_latest FOR SELECT TO scops_reader USING (true);
