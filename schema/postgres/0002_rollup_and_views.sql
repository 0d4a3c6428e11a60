-- scops-tui PostgreSQL schema, version 2: the hourly metrics rollup and the original's helper views.
--
-- metrics_hourly is kept by the sync itself, in the same transaction as each batch of metrics, from the
-- rows that batch actually inserted (a re-sent batch inserts nothing and so adds nothing): it is always
-- exactly the aggregate of metrics, without the full recomputation of a materialized view refresh.

CREATE TABLE metrics_hourly (
    source_db          uuid          NOT NULL,
    source             varchar(100)  NOT NULL,
    hour               timestamptz   NOT NULL,
    total_metrics      bigint        NOT NULL,
    sum_cpu            numeric       NOT NULL,
    max_cpu            numeric(5, 2) NOT NULL,
    sum_memory         numeric       NOT NULL,
    max_memory         numeric(5, 2) NOT NULL,
    sum_response_time  numeric       NOT NULL,
    anomaly_count      bigint        NOT NULL,
    anomaly_score_sum  numeric       NOT NULL,
    anomaly_score_rows bigint        NOT NULL,
    PRIMARY KEY (source_db, source, hour)
);
CREATE INDEX idx_metrics_hourly_hour ON metrics_hourly (hour DESC, source);

-- The original's materialized view, as a view over the rollup (same columns, all hosts together).
CREATE VIEW hourly_metrics_summary WITH (security_invoker = true) AS
SELECT
    hour,
    source,
    sum(total_metrics)::bigint                                          AS total_metrics,
    round(sum(sum_cpu) / sum(total_metrics), 2)                         AS avg_cpu,
    max(max_cpu)                                                        AS max_cpu,
    round(sum(sum_memory) / sum(total_metrics), 2)                      AS avg_memory,
    max(max_memory)                                                     AS max_memory,
    round(sum(sum_response_time) / sum(total_metrics), 3)               AS avg_response_time,
    sum(anomaly_count)::bigint                                          AS anomaly_count,
    round(sum(anomaly_score_sum) / nullif(sum(anomaly_score_rows), 0), 4) AS avg_anomaly_score
FROM metrics_hourly
GROUP BY hour, source;

CREATE VIEW active_models WITH (security_invoker = true) AS
SELECT
    m.source_db,
    m.model_name,
    v.version,
    v.accuracy,
    v.f1_score,
    v.is_deployed,
    v.created_at AS version_created_at,
    u.username   AS created_by_username
FROM ml_models AS m
JOIN ml_model_versions AS v ON v.source_db = m.source_db AND v.model_id = m.local_id
LEFT JOIN users AS u ON u.id = v.created_by
WHERE m.is_active
ORDER BY v.created_at DESC;

CREATE VIEW recent_anomalies WITH (security_invoker = true) AS
SELECT
    source_db,
    "timestamp",
    source,
    cpu_usage,
    memory_usage,
    disk_usage,
    response_time,
    anomaly_score,
    created_at
FROM metrics
WHERE is_anomaly AND "timestamp" > now() - interval '24 hours'
ORDER BY "timestamp" DESC;
