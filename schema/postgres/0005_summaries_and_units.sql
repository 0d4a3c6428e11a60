-- scops-tui PostgreSQL schema, version 5: summaries that mean what their names say, and units in COMMENTs.
--
-- 1. hourly_metrics_summary.avg_anomaly_score averaged only the flagged samples of the hour (0.6156 where
--    the hour's samples averaged 0.0291). The rollup now also keeps the score sum and count over every
--    scored sample (score_sum, score_rows, backfilled from metrics here and kept by the sync from now on);
--    avg_anomaly_score averages all samples, and the old figure stays as avg_flagged_anomaly_score.
-- 2. recent_anomalies listed flagged samples; it lists episodes (anomaly_predictions) now: every episode
--    that started, or was still going, in the last 24 hours, with its review status.
-- 3. Every column that holds a quantity says its unit in a COMMENT (psql's \d+ shows them).

ALTER TABLE metrics_hourly
    ADD COLUMN score_sum  numeric NOT NULL DEFAULT 0,
    ADD COLUMN score_rows bigint  NOT NULL DEFAULT 0;

UPDATE metrics_hourly AS h
SET score_sum = m.score_sum, score_rows = m.score_rows
FROM (
    SELECT source_db, source, date_trunc('hour', "timestamp", 'UTC') AS hour,
           coalesce(sum(anomaly_score), 0) AS score_sum, count(anomaly_score) AS score_rows
    FROM metrics
    GROUP BY 1, 2, 3
) AS m
WHERE h.source_db = m.source_db AND h.source = m.source AND h.hour = m.hour;

CREATE OR REPLACE VIEW hourly_metrics_summary WITH (security_invoker = true) AS
SELECT
    hour,
    source,
    sum(total_metrics)::bigint                                            AS total_metrics,
    round(sum(sum_cpu) / sum(total_metrics), 2)                           AS avg_cpu,
    max(max_cpu)                                                          AS max_cpu,
    round(sum(sum_memory) / sum(total_metrics), 2)                        AS avg_memory,
    max(max_memory)                                                       AS max_memory,
    round(sum(sum_response_time) / sum(total_metrics), 3)                 AS avg_response_time,
    sum(anomaly_count)::bigint                                            AS anomaly_count,
    round(sum(score_sum) / nullif(sum(score_rows), 0), 4)                 AS avg_anomaly_score,
    round(sum(anomaly_score_sum) / nullif(sum(anomaly_score_rows), 0), 4) AS avg_flagged_anomaly_score
FROM metrics_hourly
GROUP BY hour, source;

DROP VIEW recent_anomalies;
CREATE VIEW recent_anomalies WITH (security_invoker = true) AS
SELECT
    source_db,
    local_id AS episode_id,
    "timestamp",
    end_timestamp,
    source,
    severity,
    confidence_score,
    peak_score,
    sample_count,
    contributing_metrics,
    model_name,
    model_version,
    CASE WHEN resolved_at IS NOT NULL THEN 'resolved' WHEN acknowledged THEN 'acknowledged' ELSE 'open' END AS status,
    verdict,
    created_at
FROM anomaly_predictions
WHERE anomaly_detected AND coalesce(end_timestamp, now()) > now() - interval '24 hours'
ORDER BY "timestamp" DESC;
GRANT SELECT ON recent_anomalies TO scops_ingest, scops_reader;

COMMENT ON VIEW recent_anomalies IS 'Episodes that started or were still going in the last 24 hours, newest first';
COMMENT ON VIEW hourly_metrics_summary IS 'Per hour (UTC) and source, over every synced host: averages of all samples';

COMMENT ON COLUMN metrics.cpu_usage IS 'Percent of all CPUs busy, 0 to 100';
COMMENT ON COLUMN metrics.memory_usage IS 'Percent of memory in use, 0 to 100';
COMMENT ON COLUMN metrics.disk_usage IS 'Percent of the watched filesystem in use, 0 to 100';
COMMENT ON COLUMN metrics.load_1m IS 'Load average over 1 minute (runnable processes; no unit)';
COMMENT ON COLUMN metrics.load_5m IS 'Load average over 5 minutes (runnable processes; no unit)';
COMMENT ON COLUMN metrics.load_15m IS 'Load average over 15 minutes (runnable processes; no unit)';
COMMENT ON COLUMN metrics.disk_io_read IS 'Bytes per second read from block devices';
COMMENT ON COLUMN metrics.disk_io_write IS 'Bytes per second written to block devices';
COMMENT ON COLUMN metrics.network_rx IS 'Bytes per second received on all interfaces but loopback';
COMMENT ON COLUMN metrics.network_tx IS 'Bytes per second sent on all interfaces but loopback';
COMMENT ON COLUMN metrics.response_time IS 'Milliseconds the sample took to collect';
COMMENT ON COLUMN metrics.error_rate IS 'Percent of failed requests, 0 to 100 (imported series only)';
COMMENT ON COLUMN metrics.anomaly_score IS 'How unusual the sample is, 0 (normal) to 1 (fraction, no unit)';

COMMENT ON COLUMN metrics_hourly.hour IS 'Start of the hour (UTC)';
COMMENT ON COLUMN metrics_hourly.total_metrics IS 'Samples in the hour';
COMMENT ON COLUMN metrics_hourly.sum_cpu IS 'Sum of cpu_usage over the hour''s samples (percent points)';
COMMENT ON COLUMN metrics_hourly.max_cpu IS 'Highest cpu_usage of the hour (percent)';
COMMENT ON COLUMN metrics_hourly.sum_memory IS 'Sum of memory_usage over the hour''s samples (percent points)';
COMMENT ON COLUMN metrics_hourly.max_memory IS 'Highest memory_usage of the hour (percent)';
COMMENT ON COLUMN metrics_hourly.sum_response_time IS 'Sum of response_time over the hour''s samples (milliseconds)';
COMMENT ON COLUMN metrics_hourly.anomaly_count IS 'Samples flagged anomalous in the hour';
COMMENT ON COLUMN metrics_hourly.anomaly_score_sum IS 'Sum of anomaly_score over the flagged samples only (0 to 1 each)';
COMMENT ON COLUMN metrics_hourly.anomaly_score_rows IS 'Flagged samples with a score';
COMMENT ON COLUMN metrics_hourly.score_sum IS 'Sum of anomaly_score over every scored sample of the hour (0 to 1 each)';
COMMENT ON COLUMN metrics_hourly.score_rows IS 'Samples of the hour with a score';

COMMENT ON COLUMN ml_model_versions.training_data_size IS 'Samples the version was trained on';
COMMENT ON COLUMN ml_model_versions.accuracy IS 'Accuracy, 0 to 1 (fraction)';
COMMENT ON COLUMN ml_model_versions.precision_score IS 'Precision, 0 to 1 (fraction)';
COMMENT ON COLUMN ml_model_versions.recall_score IS 'Recall, 0 to 1 (fraction)';
COMMENT ON COLUMN ml_model_versions.f1_score IS 'F1 from operator verdicts (scops-tui model evaluate), 0 to 1 (fraction)';

COMMENT ON COLUMN api_keys.usage_count IS 'Requests made with the key';
COMMENT ON COLUMN api_keys.rate_limit_per_hour IS 'Requests allowed per hour';
COMMENT ON COLUMN api_key_usage.response_time_ms IS 'Milliseconds to answer the request';
COMMENT ON COLUMN api_key_usage.request_size_bytes IS 'Bytes of the request body';
COMMENT ON COLUMN api_key_usage.response_size_bytes IS 'Bytes of the response body';

COMMENT ON COLUMN model_predictions.confidence_score IS 'Score of the prediction, 0 to 1 (fraction)';
COMMENT ON COLUMN model_predictions.prediction_time_ms IS 'Milliseconds the model took to score';

COMMENT ON COLUMN anomaly_predictions."timestamp" IS 'Start of the episode (UTC)';
COMMENT ON COLUMN anomaly_predictions.end_timestamp IS 'End of the episode (UTC); NULL while it is still going';
COMMENT ON COLUMN anomaly_predictions.confidence_score IS 'Score when the episode opened, 0 to 1 (fraction)';
COMMENT ON COLUMN anomaly_predictions.peak_score IS 'Highest score during the episode, 0 to 1 (fraction)';
COMMENT ON COLUMN anomaly_predictions.sample_count IS 'Samples in the episode';
