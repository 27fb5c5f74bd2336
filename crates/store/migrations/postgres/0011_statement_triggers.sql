-- The counters and the name index of a certificate insert, kept once per statement instead of
-- once per row (issue 15): a row trigger in PL/pgSQL costs ~0.5 ms per certificate, so a bulk
-- load (a restore, an import, `bench inventory`) of ten million rows spent hours in triggers.
-- A statement trigger reads the statement's new rows as a transition table and applies them
-- set-based: the same counts for one issued certificate, a few statements for a million.
-- UPDATE and DELETE keep their row triggers (a revocation changes one row; PostgreSQL allows no
-- transition table on a trigger with a column list such as UPDATE OF status, not_after).

DROP TRIGGER trg_certificate_counts ON certificates;
CREATE TRIGGER trg_certificate_counts AFTER DELETE OR UPDATE OF status, not_after ON certificates
    FOR EACH ROW EXECUTE FUNCTION vcc_track_certificate_counts();

CREATE FUNCTION vcc_track_inserted_certificates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s INTEGER := pg_backend_pid() % 8;
BEGIN
    INSERT INTO certificate_counts (status, expiry_day, shard, n)
        SELECT status, substr(not_after, 1, 10), s, COUNT(*) FROM inserted
        GROUP BY status, substr(not_after, 1, 10)
        ON CONFLICT (status, expiry_day, shard) DO UPDATE SET n = certificate_counts.n + EXCLUDED.n;
    INSERT INTO table_row_counts (table_name, shard, n)
        SELECT 'certificates', s, COUNT(*) FROM inserted HAVING COUNT(*) > 0
        ON CONFLICT (table_name, shard) DO UPDATE SET n = table_row_counts.n + EXCLUDED.n;
    INSERT INTO issuance_counts (issued_day, shard, n)
        SELECT substr(created_at, 1, 10), s, COUNT(*) FROM inserted
        GROUP BY substr(created_at, 1, 10)
        ON CONFLICT (issued_day, shard) DO UPDATE SET n = issuance_counts.n + EXCLUDED.n;
    INSERT INTO certificate_names (name, certificate_id)
        SELECT DISTINCT lower(n), id FROM (
            SELECT id, common_name AS n FROM inserted WHERE common_name <> ''
            UNION ALL SELECT id, json_array_elements_text(san_dns::json) FROM inserted
            UNION ALL SELECT id, json_array_elements_text(san_ip::json) FROM inserted
        ) names
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

DROP TRIGGER trg_rows_certificates ON certificates;
CREATE TRIGGER trg_rows_certificates AFTER DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION vcc_track_table_rows();

DROP TRIGGER trg_issuance_counts ON certificates;
DROP FUNCTION vcc_track_issuance_counts();

DROP TRIGGER trg_certificate_names ON certificates;
CREATE TRIGGER trg_certificate_names AFTER DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION vcc_track_certificate_names();

CREATE TRIGGER trg_inserted_certificates AFTER INSERT ON certificates
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION vcc_track_inserted_certificates();
