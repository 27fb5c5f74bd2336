-- Inventory at scale (SPEC §11, issue 15): every search and filter of the dashboard and of
-- GET /api/certificates reads an index, never a scan.
-- certificate_names: every name a certificate carries (its CN, DNS and IP SANs), lower-cased,
-- kept by triggers; a search by name reads (name, certificate_id) newest first.
CREATE TABLE certificate_names (
    name           TEXT NOT NULL,
    certificate_id INTEGER NOT NULL,
    PRIMARY KEY (name, certificate_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO certificate_names (name, certificate_id)
    SELECT lower(common_name), id FROM certificates WHERE common_name <> '';
INSERT OR IGNORE INTO certificate_names (name, certificate_id)
    SELECT lower(j.value), c.id FROM certificates c, json_each(c.san_dns) j;
INSERT OR IGNORE INTO certificate_names (name, certificate_id)
    SELECT lower(j.value), c.id FROM certificates c, json_each(c.san_ip) j;
CREATE TRIGGER trg_certificate_names_insert AFTER INSERT ON certificates BEGIN
    INSERT OR IGNORE INTO certificate_names (name, certificate_id)
        SELECT lower(NEW.common_name), NEW.id WHERE NEW.common_name <> '';
    INSERT OR IGNORE INTO certificate_names (name, certificate_id)
        SELECT lower(value), NEW.id FROM json_each(NEW.san_dns);
    INSERT OR IGNORE INTO certificate_names (name, certificate_id)
        SELECT lower(value), NEW.id FROM json_each(NEW.san_ip);
END;
CREATE TRIGGER trg_certificate_names_delete AFTER DELETE ON certificates BEGIN
    DELETE FROM certificate_names WHERE certificate_id = OLD.id;
END;

-- Certificates issued per day (the overview's chart), kept by a trigger.
CREATE TABLE issuance_counts (
    issued_day TEXT NOT NULL,
    shard      INTEGER NOT NULL DEFAULT 0,
    n          INTEGER NOT NULL,
    PRIMARY KEY (issued_day, shard)
);
INSERT INTO issuance_counts (issued_day, shard, n)
    SELECT substr(created_at, 1, 10), 0, COUNT(*) FROM certificates GROUP BY substr(created_at, 1, 10);
CREATE TRIGGER trg_issuance_counts_insert AFTER INSERT ON certificates BEGIN
    INSERT OR IGNORE INTO issuance_counts (issued_day, shard, n) VALUES (substr(NEW.created_at, 1, 10), 0, 0);
    UPDATE issuance_counts SET n = n + 1 WHERE issued_day = substr(NEW.created_at, 1, 10) AND shard = 0;
END;

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
