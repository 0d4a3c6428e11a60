-- scops-tui SQLite schema, version 5: a summary of metrics per minute and per hour, so that charts of
-- days or months read one row a minute or an hour instead of twelve (or sixty) a minute, and history
-- survives as a summary after pruning. Sums and maxima are of the stored scaled integers (see the
-- metrics table); rows are rolled up by id, and metrics_rollup_state.last_id says how far.

CREATE TABLE metrics_rollup (
    source        TEXT    NOT NULL,
    span_ms       INTEGER NOT NULL CHECK (span_ms IN (60000, 3600000)),
    bucket_start  INTEGER NOT NULL CHECK (bucket_start % span_ms = 0),
    samples       INTEGER NOT NULL CHECK (samples >= 1),
    cpu_sum       INTEGER NOT NULL, cpu_max       INTEGER NOT NULL,
    memory_sum    INTEGER NOT NULL, memory_max    INTEGER NOT NULL,
    disk_sum      INTEGER NOT NULL, disk_max      INTEGER NOT NULL,
    load_sum      INTEGER NOT NULL, load_max      INTEGER NOT NULL,
    read_sum      INTEGER NOT NULL, read_max      INTEGER NOT NULL,
    write_sum     INTEGER NOT NULL, write_max     INTEGER NOT NULL,
    rx_sum        INTEGER NOT NULL, rx_max        INTEGER NOT NULL,
    tx_sum        INTEGER NOT NULL, tx_max        INTEGER NOT NULL,
    score_max     INTEGER,
    anomalous     INTEGER NOT NULL CHECK (anomalous IN (0, 1)),
    PRIMARY KEY (source, span_ms, bucket_start)
) STRICT, WITHOUT ROWID;

CREATE TABLE metrics_rollup_state (
    singleton INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    last_id   INTEGER NOT NULL CHECK (last_id >= 0)
) STRICT;

INSERT INTO metrics_rollup
SELECT source, spans.span_ms, timestamp / spans.span_ms * spans.span_ms, count(*),
       sum(cpu_usage), max(cpu_usage), sum(memory_usage), max(memory_usage), sum(disk_usage), max(disk_usage),
       sum(load_1m), max(load_1m), sum(disk_io_read), max(disk_io_read), sum(disk_io_write), max(disk_io_write),
       sum(network_rx), max(network_rx), sum(network_tx), max(network_tx), max(anomaly_score), max(is_anomaly)
FROM metrics, (SELECT 60000 AS span_ms UNION ALL SELECT 3600000) AS spans
GROUP BY source, spans.span_ms, timestamp / spans.span_ms;

INSERT INTO metrics_rollup_state (last_id) SELECT coalesce(max(id), 0) FROM metrics;
