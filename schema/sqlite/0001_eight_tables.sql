-- scops-tui SQLite schema, version 1: the eight tables of the original SmartCloudOps AI design,
-- with its defects fixed (see schema/README.md for every column and type choice).
-- Conventions: timestamps are INTEGER milliseconds since the Unix epoch, UTC; UUIDs are 16-byte BLOBs;
-- booleans are INTEGER 0/1; the high-volume metrics table keeps DECIMAL(p,s) values exactly as
-- INTEGER multiples of 10^-s. Every table is STRICT, so a value of the wrong type is refused.

CREATE TABLE users (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    username      TEXT    NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 100),
    email         TEXT    NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 255),
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    last_login_at INTEGER CHECK (last_login_at >= 0),
    created_at    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (created_at >= 0),
    updated_at    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (updated_at >= 0)
) STRICT;
CREATE INDEX idx_users_active ON users (is_active, created_at);

CREATE TABLE metrics (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp     INTEGER NOT NULL CHECK (timestamp >= 0),
    source        TEXT    NOT NULL CHECK (length(source) BETWEEN 1 AND 100),
    cpu_usage     INTEGER NOT NULL CHECK (cpu_usage BETWEEN 0 AND 10000),        -- percent x 100
    memory_usage  INTEGER NOT NULL CHECK (memory_usage BETWEEN 0 AND 10000),     -- percent x 100
    disk_usage    INTEGER NOT NULL CHECK (disk_usage BETWEEN 0 AND 10000),       -- percent x 100
    load_1m       INTEGER NOT NULL CHECK (load_1m >= 0),                         -- load x 10000
    load_5m       INTEGER NOT NULL CHECK (load_5m >= 0),                         -- load x 10000
    load_15m      INTEGER CHECK (load_15m >= 0),                                 -- load x 10000
    disk_io_read  INTEGER NOT NULL CHECK (disk_io_read >= 0),                    -- bytes/s
    disk_io_write INTEGER NOT NULL CHECK (disk_io_write >= 0),                   -- bytes/s
    network_rx    INTEGER NOT NULL CHECK (network_rx >= 0),                      -- bytes/s
    network_tx    INTEGER NOT NULL CHECK (network_tx >= 0),                      -- bytes/s
    response_time INTEGER NOT NULL CHECK (response_time >= 0),                   -- ms x 1000
    error_rate    INTEGER CHECK (error_rate BETWEEN 0 AND 10000),                -- percent x 100
    is_anomaly    INTEGER NOT NULL DEFAULT 0 CHECK (is_anomaly IN (0, 1)),
    anomaly_score INTEGER CHECK (anomaly_score BETWEEN 0 AND 10000),             -- score x 10000
    created_at    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (created_at >= 0),
    created_by    BLOB REFERENCES users (id),
    UNIQUE (source, timestamp)
) STRICT;
CREATE INDEX idx_metrics_anomaly ON metrics (is_anomaly, timestamp DESC) WHERE is_anomaly = 1;
CREATE INDEX idx_metrics_cpu_usage ON metrics (cpu_usage) WHERE cpu_usage > 8000;
CREATE INDEX idx_metrics_memory_usage ON metrics (memory_usage) WHERE memory_usage > 8000;

CREATE TABLE ml_models (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name  TEXT    NOT NULL UNIQUE CHECK (length(model_name) BETWEEN 1 AND 100),
    model_type  TEXT    NOT NULL CHECK (model_type IN ('isolation_forest', 'prophet', 'rule_based', 'ensemble', 'robust_statistical')),
    description TEXT,
    is_active   INTEGER NOT NULL DEFAULT 0 CHECK (is_active IN (0, 1)),
    created_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (created_at >= 0),
    updated_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (updated_at >= 0),
    created_by  BLOB    NOT NULL REFERENCES users (id)
) STRICT;
CREATE INDEX idx_ml_models_active ON ml_models (is_active, created_at DESC);

CREATE TABLE ml_model_versions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id            INTEGER NOT NULL REFERENCES ml_models (id) ON DELETE CASCADE,
    version             TEXT    NOT NULL CHECK (length(version) BETWEEN 1 AND 20),
    training_timestamp  INTEGER NOT NULL CHECK (training_timestamp >= 0),
    training_data_start INTEGER NOT NULL CHECK (training_data_start >= 0),
    training_data_end   INTEGER NOT NULL CHECK (training_data_end >= training_data_start),
    training_data_size  INTEGER NOT NULL CHECK (training_data_size > 0),
    model_config        TEXT    NOT NULL CHECK (json_valid(model_config)),
    thresholds          TEXT    NOT NULL CHECK (json_valid(thresholds)),
    accuracy            REAL CHECK (accuracy BETWEEN 0 AND 1),
    precision_score     REAL CHECK (precision_score BETWEEN 0 AND 1),
    recall_score        REAL CHECK (recall_score BETWEEN 0 AND 1),
    f1_score            REAL CHECK (f1_score BETWEEN 0 AND 1),
    model_path          TEXT CHECK (length(model_path) <= 500),
    scaler_path         TEXT CHECK (length(scaler_path) <= 500),
    status              TEXT    NOT NULL DEFAULT 'training' CHECK (status IN ('training', 'ready', 'deployed', 'deprecated')),
    is_deployed         INTEGER NOT NULL DEFAULT 0 CHECK (is_deployed IN (0, 1)),
    deployment_notes    TEXT,
    created_at          INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (created_at >= 0),
    updated_at          INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (updated_at >= 0),
    created_by          BLOB    NOT NULL REFERENCES users (id),
    UNIQUE (model_id, version),
    CHECK ((status = 'deployed') = (is_deployed = 1))
) STRICT;
CREATE INDEX idx_ml_model_versions_deployed ON ml_model_versions (is_deployed, model_id);
CREATE INDEX idx_ml_model_versions_status ON ml_model_versions (status, created_at DESC);
CREATE UNIQUE INDEX idx_ml_model_versions_one_deployed ON ml_model_versions (model_id) WHERE is_deployed = 1;

CREATE TABLE api_keys (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    key_name            TEXT    NOT NULL CHECK (length(key_name) BETWEEN 1 AND 100),
    key_hash            TEXT    NOT NULL UNIQUE CHECK (length(key_hash) = 64 AND key_hash NOT GLOB '*[^0-9a-f]*'),
    permissions         TEXT    NOT NULL CHECK (json_valid(permissions) AND json_type(permissions) = 'array'),
    user_id             BLOB REFERENCES users (id),
    description         TEXT,
    expires_at          INTEGER CHECK (expires_at >= 0),
    last_used_at        INTEGER CHECK (last_used_at >= 0),
    usage_count         INTEGER NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
    rate_limit_per_hour INTEGER DEFAULT 1000 CHECK (rate_limit_per_hour > 0),
    is_active           INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at          INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (created_at >= 0),
    updated_at          INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (updated_at >= 0),
    created_by          BLOB REFERENCES users (id)
) STRICT;
CREATE INDEX idx_api_keys_user ON api_keys (user_id, is_active);
CREATE INDEX idx_api_keys_active ON api_keys (is_active, expires_at);

CREATE TABLE api_key_usage (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key_id          INTEGER NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    endpoint            TEXT    NOT NULL CHECK (length(endpoint) BETWEEN 1 AND 200),
    method              TEXT    NOT NULL CHECK (length(method) BETWEEN 1 AND 10),
    status_code         INTEGER NOT NULL CHECK (status_code BETWEEN 100 AND 599),
    response_time_ms    INTEGER CHECK (response_time_ms >= 0),
    request_size_bytes  INTEGER CHECK (request_size_bytes >= 0),
    response_size_bytes INTEGER CHECK (response_size_bytes >= 0),
    ip_address          TEXT CHECK (length(ip_address) <= 45),
    user_agent          TEXT,
    created_at          INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (created_at >= 0)
) STRICT;
CREATE INDEX idx_api_usage_key_time ON api_key_usage (api_key_id, created_at DESC);
CREATE INDEX idx_api_usage_endpoint ON api_key_usage (endpoint, created_at DESC);
CREATE INDEX idx_api_usage_time ON api_key_usage (created_at DESC);

CREATE TABLE model_predictions (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    model_version_id     INTEGER NOT NULL REFERENCES ml_model_versions (id),
    metrics_id           INTEGER REFERENCES metrics (id) ON DELETE SET NULL,
    predicted_anomaly    INTEGER NOT NULL CHECK (predicted_anomaly IN (0, 1)),
    confidence_score     REAL    NOT NULL CHECK (confidence_score BETWEEN 0 AND 1),
    prediction_time_ms   REAL    NOT NULL CHECK (prediction_time_ms >= 0),
    model_features       TEXT CHECK (model_features IS NULL OR json_valid(model_features)),
    actual_anomaly       INTEGER CHECK (actual_anomaly IN (0, 1)),
    feedback_provided_at INTEGER CHECK (feedback_provided_at >= 0),
    feedback_provided_by BLOB REFERENCES users (id),
    created_at           INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (created_at >= 0),
    updated_at           INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (updated_at >= 0),
    CHECK ((actual_anomaly IS NULL) = (feedback_provided_at IS NULL))
) STRICT;
CREATE INDEX idx_predictions_model_time ON model_predictions (model_version_id, created_at DESC);
CREATE INDEX idx_predictions_anomaly ON model_predictions (predicted_anomaly, created_at DESC);
CREATE INDEX idx_predictions_metrics ON model_predictions (metrics_id) WHERE metrics_id IS NOT NULL;

CREATE TABLE anomaly_predictions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp        INTEGER NOT NULL CHECK (timestamp >= 0),
    source           TEXT    NOT NULL CHECK (length(source) BETWEEN 1 AND 100),
    anomaly_detected INTEGER NOT NULL CHECK (anomaly_detected IN (0, 1)),
    severity         TEXT CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    confidence_score REAL    NOT NULL CHECK (confidence_score BETWEEN 0 AND 1),
    model_name       TEXT    NOT NULL CHECK (length(model_name) BETWEEN 1 AND 100),
    model_version    TEXT    NOT NULL CHECK (length(model_version) BETWEEN 1 AND 20),
    alert_sent       INTEGER NOT NULL DEFAULT 0 CHECK (alert_sent IN (0, 1)),
    acknowledged     INTEGER NOT NULL DEFAULT 0 CHECK (acknowledged IN (0, 1)),
    acknowledged_by  BLOB REFERENCES users (id),
    acknowledged_at  INTEGER CHECK (acknowledged_at >= 0),
    resolution_notes TEXT,
    created_at       INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (created_at >= 0),
    updated_at       INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) CHECK (updated_at >= 0),
    CHECK (acknowledged = 0 OR (acknowledged_by IS NOT NULL AND acknowledged_at IS NOT NULL))
) STRICT;
CREATE INDEX idx_anomaly_predictions_time ON anomaly_predictions (timestamp DESC);
CREATE INDEX idx_anomaly_predictions_unack ON anomaly_predictions (acknowledged, severity, timestamp DESC) WHERE acknowledged = 0;

-- updated_at is kept by the database on every mutable table (the original had triggers on two tables only).
CREATE TRIGGER users_updated_at AFTER UPDATE ON users FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE users SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.id; END;
CREATE TRIGGER ml_models_updated_at AFTER UPDATE ON ml_models FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE ml_models SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.id; END;
CREATE TRIGGER ml_model_versions_updated_at AFTER UPDATE ON ml_model_versions FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE ml_model_versions SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.id; END;
CREATE TRIGGER api_keys_updated_at AFTER UPDATE ON api_keys FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE api_keys SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.id; END;
CREATE TRIGGER model_predictions_updated_at AFTER UPDATE ON model_predictions FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE model_predictions SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.id; END;
CREATE TRIGGER anomaly_predictions_updated_at AFTER UPDATE ON anomaly_predictions FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE anomaly_predictions SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.id; END;
