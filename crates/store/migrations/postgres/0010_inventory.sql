-- Inventory at scale (SPEC §11, issue 15): every search and filter of the dashboard and of
-- GET /api/certificates reads an index, never a scan.
-- certificate_names: every name a certificate carries (its CN, DNS and IP SANs), lower-cased,
-- kept by a trigger; a search by name reads (name, certificate_id) newest first.
CREATE TABLE certificate_names (
    name           TEXT NOT NULL,
    certificate_id BIGINT NOT NULL,
    PRIMARY KEY (name, certificate_id)
);
INSERT INTO certificate_names (name, certificate_id)
    SELECT DISTINCT lower(n), id FROM (
        SELECT id, common_name AS n FROM certificates WHERE common_name <> ''
        UNION ALL SELECT id, json_array_elements_text(san_dns::json) FROM certificates
        UNION ALL SELECT id, json_array_elements_text(san_ip::json) FROM certificates
    ) names
    ON CONFLICT DO NOTHING;

CREATE FUNCTION vcc_track_certificate_names() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM certificate_names WHERE certificate_id = OLD.id;
        RETURN NULL;
    END IF;
    INSERT INTO certificate_names (name, certificate_id)
        SELECT DISTINCT lower(n), NEW.id FROM (
            SELECT NEW.common_name AS n WHERE NEW.common_name <> ''
            UNION ALL SELECT json_array_elements_text(NEW.san_dns::json)
            UNION ALL SELECT json_array_elements_text(NEW.san_ip::json)
        ) names
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER trg_certificate_names AFTER INSERT OR DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION vcc_track_certificate_names();

-- Certificates issued per day (the overview's chart), kept by a trigger; `shard` as in
-- certificate_counts.
CREATE TABLE issuance_counts (
    issued_day TEXT NOT NULL,
    shard      INTEGER NOT NULL DEFAULT 0,
    n          BIGINT NOT NULL,
    PRIMARY KEY (issued_day, shard)
);
INSERT INTO issuance_counts (issued_day, shard, n)
    SELECT substr(created_at, 1, 10), 0, COUNT(*) FROM certificates GROUP BY substr(created_at, 1, 10);
CREATE FUNCTION vcc_track_issuance_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO issuance_counts (issued_day, shard, n)
        VALUES (substr(NEW.created_at, 1, 10), pg_backend_pid() % 8, 1)
        ON CONFLICT (issued_day, shard) DO UPDATE SET n = issuance_counts.n + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER trg_issuance_counts AFTER INSERT ON certificates
    FOR EACH ROW EXECUTE FUNCTION vcc_track_issuance_counts();

-- A search by fingerprint gives at least its first 16 hex digits: the index holds those only
-- (a digest is a random key; a short one keeps the cost per issuance small, see PERFORMANCE.md).
CREATE INDEX idx_certificates_fingerprint16 ON certificates(substr(fingerprint_sha256, 1, 16));
CREATE INDEX idx_certificates_profile ON certificates(profile, id);
CREATE INDEX idx_audit_target ON audit_log(target_id, id);
CREATE INDEX idx_audit_action ON audit_log(action, id);

-- Expiry with status: the health counts split today's and the 30th day's certificates at the
-- current time from the index alone, and the status filters read it in expiry order.
DROP INDEX IF EXISTS idx_certificates_not_after;
CREATE INDEX idx_certificates_expiry ON certificates(not_after, status);
