-- scops-tui PostgreSQL schema, version 4: row-level security without side channels.
--
-- 1. Users are keyed per host, (source_db, id), like every other synced row. Before, a user was keyed
--    by its UUID alone and shared between hosts; the sync skipped another host's user through
--    scops_foreign_users(db, ids), a SECURITY DEFINER function that told any ingest role whether a UUID
--    belonged to another host's user. That function is gone, and since an ingest role can only insert
--    rows of its own source_db (the INSERT policy is checked before any unique index), no key of
--    another host's user can be confirmed by a collision either.
-- 2. scops_ensure_metrics_partitions makes partitions for an ingest role only within a fixed window
--    around now (31 days back, 2 days ahead); rows outside it land in metrics_default as before. The
--    table's owner (the admin) and superusers keep the wider range [2000-01-01, now + 2 days].

DROP FUNCTION scops_foreign_users(uuid, uuid[]);

-- Every foreign key to users(id) goes with the old primary key.
ALTER TABLE users DROP CONSTRAINT users_pkey CASCADE;
ALTER TABLE users ADD PRIMARY KEY (source_db, id);

-- A host whose rows point at a user first sent by another host gets its own copy of that user, dated
-- at the epoch so that the host's own copy (sent again below) replaces it.
DO $$
DECLARE
    ref record;
BEGIN
    FOR ref IN SELECT * FROM (VALUES
        ('ml_models', 'created_by'), ('ml_model_versions', 'created_by'), ('api_keys', 'user_id'),
        ('api_keys', 'created_by'), ('model_predictions', 'feedback_provided_by'),
        ('anomaly_predictions', 'acknowledged_by'), ('anomaly_predictions', 'verdict_by'),
        ('anomaly_predictions', 'resolved_by')) AS r (tab, col) LOOP
        EXECUTE format(
            'INSERT INTO users (id, source_db, username, email, role, is_active, last_login_at, created_at, updated_at) '
            'SELECT DISTINCT ON (r.source_db, u.id) u.id, r.source_db, u.username, u.email, u.role, u.is_active, '
            'u.last_login_at, u.created_at, timestamptz ''1970-01-01 00:00:00+00'' '
            'FROM %I AS r JOIN users AS u ON u.id = r.%I WHERE u.source_db <> r.source_db '
            'ON CONFLICT DO NOTHING', ref.tab, ref.col);
        EXECUTE format(
            'ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (source_db, %I) REFERENCES users (source_db, id) NOT VALID',
            ref.tab, ref.tab || '_' || ref.col || '_fkey', ref.col);
        BEGIN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', ref.tab, ref.tab || '_' || ref.col || '_fkey');
        EXCEPTION WHEN foreign_key_violation THEN
            NULL;  -- a copy refused by UNIQUE (source_db, username): new rows are checked all the same
        END;
    END LOOP;
END;
$$;

-- Every host sends its users again (a small table), so that the copies it skipped before land.
UPDATE sync_checkpoints SET last_id = 0, change_updated_at = 0, change_id = 0 WHERE table_name = 'users';

-- The original's view joined users by UUID alone; now by host and UUID.
CREATE OR REPLACE VIEW active_models WITH (security_invoker = true) AS
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
LEFT JOIN users AS u ON u.source_db = v.source_db AND u.id = v.created_by
WHERE m.is_active
ORDER BY v.created_at DESC;

CREATE OR REPLACE FUNCTION scops_ensure_metrics_partitions(days integer[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    day     integer;
    lo      timestamptz;
    made    integer := 0;
    name    text;
    oldest  timestamptz := timestamptz '2000-01-01 00:00:00+00';
BEGIN
    -- An ingest role (not the owner, not a superuser) may make partitions only near now.
    IF NOT pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = 'metrics'::regclass), 'MEMBER') THEN
        oldest := date_trunc('day', now(), 'UTC') - interval '31 days';
    END IF;
    FOREACH day IN ARRAY days LOOP
        lo := timestamptz '1970-01-01 00:00:00+00' + make_interval(days => day);
        CONTINUE WHEN lo < oldest OR lo > now() + interval '2 days';
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
