-- scops-tui SQLite schema, version 4: bookkeeping of the PostgreSQL sync. The server holds the
-- authoritative checkpoints (committed with the rows); these are the local copies that `sync status`
-- and `db prune` read without a connection, plus the last outcome and the rows the server refused.

CREATE TABLE sync_checkpoints (
    table_name        TEXT    NOT NULL PRIMARY KEY,
    last_id           INTEGER NOT NULL DEFAULT 0 CHECK (last_id >= 0),      -- rows with a higher id are unsent
    change_updated_at INTEGER NOT NULL DEFAULT 0,                           -- newest change sent: (updated_at, id)
    change_id         INTEGER NOT NULL DEFAULT 0,
    synced_at         INTEGER NOT NULL
) STRICT;

CREATE TABLE sync_state (
    singleton       INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    target          TEXT    NOT NULL,   -- the connection target, password masked
    first_used_at   INTEGER NOT NULL,   -- from then on `db prune` keeps rows not yet synced
    last_attempt_at INTEGER,
    last_success_at INTEGER,
    last_error      TEXT,
    last_error_at   INTEGER,
    last_rows       INTEGER
) STRICT;

CREATE TABLE sync_rejects (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name  TEXT    NOT NULL,
    local_id    INTEGER NOT NULL,
    sqlstate    TEXT,
    reason      TEXT    NOT NULL,
    rejected_at INTEGER NOT NULL,
    UNIQUE (table_name, local_id)
) STRICT;

-- The change streams of the two large mutable tables read by (updated_at, id).
CREATE INDEX idx_model_predictions_updated ON model_predictions (updated_at);
CREATE INDEX idx_anomaly_predictions_updated ON anomaly_predictions (updated_at);
