-- scops-tui PostgreSQL schema, version 3: roles and row-level security.
--
-- scops_ingest (group role): may SELECT, INSERT and UPDATE only the rows of the local databases its
-- login role is mapped to in sync_host_roles; never DELETE. scops_reader (group role): reads everything.
-- Neither owns the tables (the role that ran `scops-tui sync --init-server` does), so the policies bind
-- them without FORCE ROW LEVEL SECURITY. Per-host login roles are made with the SQL that
-- `scops-tui sync --init-server` prints. Group roles are cluster-wide, hence "if not exists".

DO $$
BEGIN
    BEGIN
        CREATE ROLE scops_ingest NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
    BEGIN
        CREATE ROLE scops_reader NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO scops_ingest, scops_reader', current_schema());
END;
$$;

-- The local databases the current login role may write (hashed once per statement by the planner).
CREATE FUNCTION scops_my_sources() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT source_db FROM sync_host_roles WHERE role_name = session_user
$$;
-- Users are shared by UUID and changed only by the host that sent them first. An upsert that met another
-- host's user would fail on its UPDATE policy, so the sync leaves out the ids this function names.
CREATE FUNCTION scops_foreign_users(db uuid, ids uuid[]) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT id FROM users WHERE id = ANY (ids) AND source_db <> db
$$;
REVOKE ALL ON FUNCTION scops_foreign_users(uuid, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scops_foreign_users(uuid, uuid[]) TO scops_ingest;
REVOKE ALL ON FUNCTION scops_my_sources() FROM PUBLIC;
REVOKE ALL ON FUNCTION scops_ensure_metrics_partitions(integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scops_my_sources() TO scops_ingest, scops_reader;
GRANT EXECUTE ON FUNCTION scops_ensure_metrics_partitions(integer[]) TO scops_ingest;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'metrics', 'ml_models', 'ml_model_versions', 'api_keys', 'api_key_usage',
                             'model_predictions', 'anomaly_predictions', 'metrics_hourly', 'sync_checkpoints'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO scops_ingest', t);
        EXECUTE format('GRANT SELECT ON %I TO scops_reader', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO scops_ingest '
                       'USING (source_db IN (SELECT scops_my_sources()))', t || '_ingest_select', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR INSERT TO scops_ingest '
                       'WITH CHECK (source_db IN (SELECT scops_my_sources()))', t || '_ingest_insert', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR UPDATE TO scops_ingest '
                       'USING (source_db IN (SELECT scops_my_sources())) '
                       'WITH CHECK (source_db IN (SELECT scops_my_sources()))', t || '_ingest_update', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO scops_reader USING (true)', t || '_reader', t);
    END LOOP;
END;
$$;

GRANT SELECT ON hourly_metrics_summary, active_models, recent_anomalies TO scops_ingest, scops_reader;
GRANT SELECT ON sync_host_roles TO scops_reader;
