-- scops-tui PostgreSQL schema, version 1: the eight tables with native types, keyed so that many hosts
-- (local databases) sync into one server without collisions. Every synced row carries `source_db`, the
-- local database's identity (local_identity.database_id), and `local_id`, its id in that database;
-- references between synced tables use those composite keys. Users are keyed by their UUID alone
-- (a UUID is unique everywhere); `source_db` on a user says which host owns (may change) it.

CREATE TABLE users (
    id            uuid         PRIMARY KEY,
    source_db     uuid         NOT NULL,
    username      varchar(100) NOT NULL,
    email         varchar(255) NOT NULL,
    role          varchar(50)  NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    is_active     boolean      NOT NULL DEFAULT true,
    last_login_at timestamptz,
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now(),
    UNIQUE (source_db, username)
);
CREATE INDEX idx_users_active ON users (is_active, created_at);

-- Range-partitioned by time: daily partitions are made by scops_ensure_metrics_partitions() before a
-- batch lands; rows outside every partition (a host with a wrong clock) go to metrics_default.
CREATE TABLE metrics (
    source_db     uuid          NOT NULL,
    local_id      bigint        NOT NULL,
    "timestamp"   timestamptz   NOT NULL,
    source        varchar(100)  NOT NULL,
    cpu_usage     numeric(5, 2) NOT NULL CHECK (cpu_usage BETWEEN 0 AND 100),
    memory_usage  numeric(5, 2) NOT NULL CHECK (memory_usage BETWEEN 0 AND 100),
    disk_usage    numeric(5, 2) NOT NULL CHECK (disk_usage BETWEEN 0 AND 100),
    load_1m       numeric(8, 4) NOT NULL CHECK (load_1m >= 0),
    load_5m       numeric(8, 4) NOT NULL CHECK (load_5m >= 0),
    load_15m      numeric(8, 4) CHECK (load_15m >= 0),
    disk_io_read  bigint        NOT NULL CHECK (disk_io_read >= 0),
    disk_io_write bigint        NOT NULL CHECK (disk_io_write >= 0),
    network_rx    bigint        NOT NULL CHECK (network_rx >= 0),
    network_tx    bigint        NOT NULL CHECK (network_tx >= 0),
    response_time numeric(10, 3) NOT NULL CHECK (response_time >= 0),
    error_rate    numeric(5, 2) CHECK (error_rate BETWEEN 0 AND 100),
    is_anomaly    boolean       NOT NULL DEFAULT false,
    anomaly_score numeric(5, 4) CHECK (anomaly_score BETWEEN 0 AND 1),
    created_at    timestamptz   NOT NULL DEFAULT now(),
    created_by    uuid,
    -- Also serves one host's time ranges (the original's idx_metrics_source_time); ordering by time
    -- before local_id keeps it valid however ids and clocks relate.
    PRIMARY KEY (source_db, "timestamp", local_id)
) PARTITION BY RANGE ("timestamp");
CREATE TABLE metrics_default PARTITION OF metrics DEFAULT;
CREATE INDEX idx_metrics_anomaly ON metrics ("timestamp" DESC) WHERE is_anomaly;
COMMENT ON TABLE metrics IS 'One row per host sample, from every synced local database; daily partitions by timestamp';
COMMENT ON COLUMN metrics."timestamp" IS 'Collection time (UTC)';
COMMENT ON COLUMN metrics.created_by IS 'users.id of the author (not a foreign key: checking it per sample halves ingest)';

CREATE TABLE ml_models (
    source_db   uuid         NOT NULL,
    local_id    bigint       NOT NULL,
    model_name  varchar(100) NOT NULL,
    model_type  varchar(50)  NOT NULL
        CHECK (model_type IN ('isolation_forest', 'prophet', 'rule_based', 'ensemble', 'robust_statistical')),
    description text,
    is_active   boolean      NOT NULL DEFAULT false,
    source      varchar(100),
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    created_by  uuid         NOT NULL REFERENCES users (id),
    PRIMARY KEY (source_db, local_id),
    UNIQUE (source_db, model_name)
);
CREATE INDEX idx_ml_models_active ON ml_models (is_active, created_at DESC);

CREATE TABLE ml_model_versions (
    source_db           uuid          NOT NULL,
    local_id            bigint        NOT NULL,
    model_id            bigint        NOT NULL,
    version             varchar(20)   NOT NULL,
    training_timestamp  timestamptz   NOT NULL,
    training_data_start timestamptz   NOT NULL,
    training_data_end   timestamptz   NOT NULL CHECK (training_data_end >= training_data_start),
    training_data_size  integer       NOT NULL CHECK (training_data_size > 0),
    model_config        jsonb         NOT NULL,
    thresholds          jsonb         NOT NULL,
    accuracy            numeric(5, 4) CHECK (accuracy BETWEEN 0 AND 1),
    precision_score     numeric(5, 4) CHECK (precision_score BETWEEN 0 AND 1),
    recall_score        numeric(5, 4) CHECK (recall_score BETWEEN 0 AND 1),
    f1_score            numeric(5, 4) CHECK (f1_score BETWEEN 0 AND 1),
    model_path          varchar(500),
    scaler_path         varchar(500),
    status              varchar(20)   NOT NULL DEFAULT 'training'
        CHECK (status IN ('training', 'ready', 'deployed', 'deprecated')),
    is_deployed         boolean       NOT NULL DEFAULT false,
    deployment_notes    text,
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    created_by          uuid          NOT NULL REFERENCES users (id),
    PRIMARY KEY (source_db, local_id),
    UNIQUE (source_db, model_id, version),
    FOREIGN KEY (source_db, model_id) REFERENCES ml_models (source_db, local_id) ON DELETE CASCADE,
    CHECK ((status = 'deployed') = is_deployed)
);
CREATE INDEX idx_ml_model_versions_deployed ON ml_model_versions (is_deployed, source_db, model_id);
CREATE INDEX idx_ml_model_versions_status ON ml_model_versions (status, created_at DESC);
COMMENT ON COLUMN ml_model_versions.f1_score IS 'F1 from operator verdicts (scops-tui model evaluate)';

CREATE TABLE api_keys (
    source_db           uuid         NOT NULL,
    local_id            bigint       NOT NULL,
    key_name            varchar(100) NOT NULL,
    key_hash            varchar(255) NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    permissions         text[]       NOT NULL,
    user_id             uuid REFERENCES users (id),
    description         text,
    expires_at          timestamptz,
    last_used_at        timestamptz,
    usage_count         bigint       NOT NULL DEFAULT 0 CHECK (usage_count >= 0),
    rate_limit_per_hour integer DEFAULT 1000 CHECK (rate_limit_per_hour > 0),
    is_active           boolean      NOT NULL DEFAULT true,
    created_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    created_by          uuid REFERENCES users (id),
    PRIMARY KEY (source_db, local_id)
);
CREATE INDEX idx_api_keys_user ON api_keys (user_id, is_active);
CREATE INDEX idx_api_keys_active ON api_keys (is_active, expires_at);

CREATE TABLE api_key_usage (
    source_db           uuid         NOT NULL,
    local_id            bigint       NOT NULL,
    api_key_id          bigint       NOT NULL,
    endpoint            varchar(200) NOT NULL,
    method              varchar(10)  NOT NULL,
    status_code         integer      NOT NULL CHECK (status_code BETWEEN 100 AND 599),
    response_time_ms    integer CHECK (response_time_ms >= 0),
    request_size_bytes  integer CHECK (request_size_bytes >= 0),
    response_size_bytes integer CHECK (response_size_bytes >= 0),
    ip_address          inet,
    user_agent          text,
    created_at          timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (source_db, local_id),
    FOREIGN KEY (source_db, api_key_id) REFERENCES api_keys (source_db, local_id) ON DELETE CASCADE
);
CREATE INDEX idx_api_usage_key_time ON api_key_usage (source_db, api_key_id, created_at DESC);
CREATE INDEX idx_api_usage_endpoint ON api_key_usage (endpoint, created_at DESC);
CREATE INDEX idx_api_usage_time ON api_key_usage (created_at DESC);

CREATE TABLE model_predictions (
    source_db            uuid          NOT NULL,
    local_id             bigint        NOT NULL,
    model_version_id     bigint        NOT NULL,
    metrics_id           bigint,
    predicted_anomaly    boolean       NOT NULL,
    confidence_score     numeric(5, 4) NOT NULL CHECK (confidence_score BETWEEN 0 AND 1),
    prediction_time_ms   double precision NOT NULL CHECK (prediction_time_ms >= 0),
    model_features       jsonb,
    actual_anomaly       boolean,
    feedback_provided_at timestamptz,
    feedback_provided_by uuid REFERENCES users (id),
    created_at           timestamptz   NOT NULL DEFAULT now(),
    updated_at           timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (source_db, local_id),
    FOREIGN KEY (source_db, model_version_id) REFERENCES ml_model_versions (source_db, local_id),
    CHECK ((actual_anomaly IS NULL) = (feedback_provided_at IS NULL))
);
COMMENT ON COLUMN model_predictions.metrics_id IS
    'metrics.local_id of the scored sample in the same source_db (no foreign key: metrics is partitioned by time)';
CREATE INDEX idx_predictions_model_time ON model_predictions (source_db, model_version_id, created_at DESC);
CREATE INDEX idx_predictions_anomaly ON model_predictions (predicted_anomaly, created_at DESC);

CREATE TABLE anomaly_predictions (
    source_db            uuid          NOT NULL,
    local_id             bigint        NOT NULL,
    "timestamp"          timestamptz   NOT NULL,
    source               varchar(100)  NOT NULL,
    anomaly_detected     boolean       NOT NULL,
    severity             varchar(20) CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    confidence_score     numeric(5, 4) NOT NULL CHECK (confidence_score BETWEEN 0 AND 1),
    model_name           varchar(100)  NOT NULL,
    model_version        varchar(20)   NOT NULL,
    alert_sent           boolean       NOT NULL DEFAULT false,
    acknowledged         boolean       NOT NULL DEFAULT false,
    acknowledged_by      uuid REFERENCES users (id),
    acknowledged_at      timestamptz,
    resolution_notes     text,
    created_at           timestamptz   NOT NULL DEFAULT now(),
    updated_at           timestamptz   NOT NULL DEFAULT now(),
    end_timestamp        timestamptz CHECK (end_timestamp >= "timestamp"),
    peak_score           double precision CHECK (peak_score BETWEEN 0 AND 1),
    sample_count         integer       NOT NULL DEFAULT 1 CHECK (sample_count >= 1),
    contributing_metrics jsonb,
    top_processes        jsonb,
    verdict              varchar(20) CHECK (verdict IN ('confirmed', 'false_positive')),
    verdict_by           uuid REFERENCES users (id),
    verdict_at           timestamptz,
    resolved_by          uuid REFERENCES users (id),
    resolved_at          timestamptz,
    model_version_id     bigint,
    PRIMARY KEY (source_db, local_id),
    FOREIGN KEY (source_db, model_version_id) REFERENCES ml_model_versions (source_db, local_id)
        ON DELETE SET NULL (model_version_id),
    CHECK (NOT acknowledged OR (acknowledged_by IS NOT NULL AND acknowledged_at IS NOT NULL))
);
CREATE INDEX idx_anomaly_predictions_time ON anomaly_predictions ("timestamp" DESC);
CREATE INDEX idx_anomaly_predictions_unack ON anomaly_predictions (acknowledged, severity, "timestamp" DESC)
    WHERE NOT acknowledged;
CREATE INDEX idx_anomaly_predictions_source_time ON anomaly_predictions (source, "timestamp" DESC);

-- Sync bookkeeping: how far each local database's tables have been pushed, committed in the same
-- transaction as the rows (so a retried batch after a lost commit acknowledgement sends nothing twice).
CREATE TABLE sync_checkpoints (
    source_db         uuid        NOT NULL,
    table_name        text        NOT NULL,
    last_id           bigint      NOT NULL DEFAULT 0,
    change_updated_at bigint      NOT NULL DEFAULT 0,
    change_id         bigint      NOT NULL DEFAULT 0,
    synced_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_db, table_name)
);
COMMENT ON COLUMN sync_checkpoints.last_id IS 'highest local id sent (rows after it are new)';
COMMENT ON COLUMN sync_checkpoints.change_updated_at IS
    'local updated_at (epoch ms) and id of the newest change sent: later changes of older rows are re-sent';

-- Which login role may write which local database's rows (row-level security reads it).
CREATE TABLE sync_host_roles (
    role_name  name        NOT NULL,
    source_db  uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role_name, source_db)
);

-- Daily partitions, made on demand by the sync (which does not own the table, hence SECURITY DEFINER).
-- Days outside [2000-01-01, now + 2 days] are left to the default partition, as is a day whose rows
-- already sit in the default partition (creating the partition would fail on them).
CREATE FUNCTION scops_ensure_metrics_partitions(days integer[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    day     integer;
    lo      timestamptz;
    made    integer := 0;
    name    text;
BEGIN
    FOREACH day IN ARRAY days LOOP
        lo := timestamptz '1970-01-01 00:00:00+00' + make_interval(days => day);
        CONTINUE WHEN lo < timestamptz '2000-01-01 00:00:00+00' OR lo > now() + interval '2 days';
        name := 'metrics_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
        CONTINUE WHEN to_regclass(quote_ident(name)) IS NOT NULL;
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM metrics_default WHERE "timestamp" >= lo AND "timestamp" < lo + interval '1 day'
        );
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF metrics FOR VALUES FROM (%L) TO (%L)',
                           name, lo, lo + interval '1 day');
            made := made + 1;
        EXCEPTION WHEN duplicate_table OR invalid_object_definition THEN
            NULL;  -- made meanwhile by another host's sync, or covered by a hand-made partition
        END;
    END LOOP;
    RETURN made;
END;
$$;
