-- scops-tui SQLite schema, version 6: the alert outbox. The recorder queues an alert in the same
-- transaction that writes (or escalates) its episode; the recorder's sender thread delivers it to every
-- channel, then sets anomaly_predictions.alert_sent = 1. Local bookkeeping like sync_checkpoints: these
-- tables are never synced (the central side gets alert_sent with its episode).

CREATE TABLE alert_outbox (
    id              INTEGER PRIMARY KEY,
    episode_id      INTEGER NOT NULL REFERENCES anomaly_predictions (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('opened', 'escalated')),
    severity        TEXT    NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    metrics_key     TEXT    NOT NULL,     -- the metrics it deviated most on: repeats within the cooldown group
    group_lead      INTEGER REFERENCES alert_outbox (id) ON DELETE SET NULL,
                                          -- set: held back as part of one follow-up of this earlier alert
    created_at      INTEGER NOT NULL CHECK (created_at >= 0),
    due_at          INTEGER NOT NULL CHECK (due_at >= 0),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL CHECK (next_attempt_at >= 0),
    last_error      TEXT,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    finished_at     INTEGER CHECK (finished_at IS NULL OR finished_at >= 0)
) STRICT;

CREATE INDEX idx_alert_outbox_due ON alert_outbox (state, next_attempt_at);
CREATE INDEX idx_alert_outbox_episode ON alert_outbox (episode_id);
CREATE INDEX idx_alert_outbox_recent ON alert_outbox (metrics_key, created_at);
CREATE INDEX idx_alert_outbox_group ON alert_outbox (group_lead);

-- Which channel already has which alert: a retry goes only to the channels that have not got it.
CREATE TABLE alert_deliveries (
    outbox_id    INTEGER NOT NULL REFERENCES alert_outbox (id) ON DELETE CASCADE,
    channel      TEXT    NOT NULL,        -- channel id: a hash of its URL or command, never the URL
    delivered_at INTEGER NOT NULL CHECK (delivered_at >= 0),
    PRIMARY KEY (outbox_id, channel)
) STRICT, WITHOUT ROWID;

-- The last outcome per channel, for `alerts status` (the display form is masked).
CREATE TABLE alert_channels (
    channel         TEXT    NOT NULL PRIMARY KEY,
    display         TEXT    NOT NULL,
    last_success_at INTEGER,
    last_error      TEXT,
    last_error_at   INTEGER
) STRICT;
