-- scops-tui SQLite schema, version 3: anomaly episodes (end, peak, what deviated, top processes, review
-- state), one detector model per source, and model artifacts kept as JSON (never pickled).

ALTER TABLE anomaly_predictions ADD COLUMN end_timestamp INTEGER CHECK (end_timestamp >= timestamp);
ALTER TABLE anomaly_predictions ADD COLUMN peak_score REAL CHECK (peak_score BETWEEN 0 AND 1);
ALTER TABLE anomaly_predictions ADD COLUMN sample_count INTEGER NOT NULL DEFAULT 1 CHECK (sample_count >= 1);
ALTER TABLE anomaly_predictions ADD COLUMN contributing_metrics TEXT CHECK (contributing_metrics IS NULL OR json_valid(contributing_metrics));
ALTER TABLE anomaly_predictions ADD COLUMN top_processes TEXT CHECK (top_processes IS NULL OR json_valid(top_processes));
ALTER TABLE anomaly_predictions ADD COLUMN verdict TEXT CHECK (verdict IN ('confirmed', 'false_positive'));
ALTER TABLE anomaly_predictions ADD COLUMN verdict_by BLOB REFERENCES users (id);
ALTER TABLE anomaly_predictions ADD COLUMN verdict_at INTEGER CHECK (verdict_at >= 0);
ALTER TABLE anomaly_predictions ADD COLUMN resolved_by BLOB REFERENCES users (id);
ALTER TABLE anomaly_predictions ADD COLUMN resolved_at INTEGER CHECK (resolved_at >= 0);
ALTER TABLE anomaly_predictions ADD COLUMN model_version_id INTEGER REFERENCES ml_model_versions (id) ON DELETE SET NULL;
CREATE INDEX idx_anomaly_predictions_source_time ON anomaly_predictions (source, timestamp DESC);

ALTER TABLE ml_models ADD COLUMN source TEXT CHECK (length(source) BETWEEN 1 AND 100);
CREATE INDEX idx_ml_models_source ON ml_models (source);

CREATE TABLE model_artifacts (
    model_version_id INTEGER NOT NULL PRIMARY KEY REFERENCES ml_model_versions (id) ON DELETE CASCADE,
    format           TEXT    NOT NULL CHECK (length(format) BETWEEN 1 AND 100),
    body             TEXT    NOT NULL CHECK (json_valid(body)),
    sha256           TEXT    NOT NULL CHECK (length(sha256) = 64),
    created_at       INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
) STRICT;
