-- Counters kept by triggers, so that /api/health and `db stats` read O(days + tables) rows,
-- never every certificate (SPEC §10: "counters kept, not counted per request").
-- certificate_counts: certificates by status and expiry day (the day of not_after, UTC);
-- table_row_counts: rows per table. Every write path keeps them, because the database does.
-- `shard` (the backend's pid modulo 8) spreads concurrent writers over rows, so that two
-- transactions issuing at once do not queue on one counter row.
CREATE TABLE certificate_counts (
    status     TEXT NOT NULL,
    expiry_day TEXT NOT NULL,
    shard      INTEGER NOT NULL DEFAULT 0,
    n          BIGINT NOT NULL,
    PRIMARY KEY (status, expiry_day, shard)
);
INSERT INTO certificate_counts (status, expiry_day, shard, n)
    SELECT status, substr(not_after, 1, 10), 0, COUNT(*) FROM certificates GROUP BY status, substr(not_after, 1, 10);

CREATE FUNCTION vcc_track_certificate_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s INTEGER := pg_backend_pid() % 8;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO certificate_counts (status, expiry_day, shard, n)
            VALUES (OLD.status, substr(OLD.not_after, 1, 10), s, -1)
            ON CONFLICT (status, expiry_day, shard) DO UPDATE SET n = certificate_counts.n - 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO certificate_counts (status, expiry_day, shard, n)
            VALUES (NEW.status, substr(NEW.not_after, 1, 10), s, 1)
            ON CONFLICT (status, expiry_day, shard) DO UPDATE SET n = certificate_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER trg_certificate_counts AFTER INSERT OR DELETE OR UPDATE OF status, not_after ON certificates
    FOR EACH ROW EXECUTE FUNCTION vcc_track_certificate_counts();

CREATE TABLE table_row_counts (
    table_name TEXT NOT NULL,
    shard      INTEGER NOT NULL DEFAULT 0,
    n          BIGINT NOT NULL,
    PRIMARY KEY (table_name, shard)
);

CREATE FUNCTION vcc_track_table_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s INTEGER := pg_backend_pid() % 8;
    delta BIGINT := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    INSERT INTO table_row_counts (table_name, shard, n) VALUES (TG_TABLE_NAME, s, delta)
        ON CONFLICT (table_name, shard) DO UPDATE SET n = table_row_counts.n + delta;
    RETURN NULL;
END
$$;

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'root_ca', 0, COUNT(*) FROM root_ca;
CREATE TRIGGER trg_rows_root_ca AFTER INSERT OR DELETE ON root_ca FOR EACH ROW EXECUTE FUNCTION vcc_track_table_rows();

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'intermediate_ca', 0, COUNT(*) FROM intermediate_ca;
CREATE TRIGGER trg_rows_intermediate_ca AFTER INSERT OR DELETE ON intermediate_ca FOR EACH ROW EXECUTE FUNCTION vcc_track_table_rows();

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'certificates', 0, COUNT(*) FROM certificates;
CREATE TRIGGER trg_rows_certificates AFTER INSERT OR DELETE ON certificates FOR EACH ROW EXECUTE FUNCTION vcc_track_table_rows();

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'services', 0, COUNT(*) FROM services;
CREATE TRIGGER trg_rows_services AFTER INSERT OR DELETE ON services FOR EACH ROW EXECUTE FUNCTION vcc_track_table_rows();

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'revoked_certificates', 0, COUNT(*) FROM revoked_certificates;
CREATE TRIGGER trg_rows_revoked_certificates AFTER INSERT OR DELETE ON revoked_certificates FOR EACH ROW EXECUTE FUNCTION vcc_track_table_rows();

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'certificate_rotation_schedule', 0, COUNT(*) FROM certificate_rotation_schedule;
CREATE TRIGGER trg_rows_certificate_rotation_schedule AFTER INSERT OR DELETE ON certificate_rotation_schedule FOR EACH ROW EXECUTE FUNCTION vcc_track_table_rows();

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'crl_history', 0, COUNT(*) FROM crl_history;
CREATE TRIGGER trg_rows_crl_history AFTER INSERT OR DELETE ON crl_history FOR EACH ROW EXECUTE FUNCTION vcc_track_table_rows();

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'audit_log', 0, COUNT(*) FROM audit_log;
CREATE TRIGGER trg_rows_audit_log AFTER INSERT OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION vcc_track_table_rows();

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'api_tokens', 0, COUNT(*) FROM api_tokens;
CREATE TRIGGER trg_rows_api_tokens AFTER INSERT OR DELETE ON api_tokens FOR EACH ROW EXECUTE FUNCTION vcc_track_table_rows();
