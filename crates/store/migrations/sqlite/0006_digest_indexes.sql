-- no-transaction
-- Issuance speed (docs/PERFORMANCE.md): drop the UNIQUE indexes on certificates.fingerprint_sha256
-- and audit_log.row_hash. Both values are SHA-256 digests, unique by construction (of a DER that
-- holds a unique serial; of an audit row that holds its predecessor's hash), nothing looks rows up
-- by them, and as random keys each cost a write to a random index page per certificate.
-- SQLite cannot drop a column's UNIQUE constraint: both tables are rebuilt (sqlite.org/lang_altertable.html,
-- "making other kinds of table schema changes"), with foreign keys off, in one transaction. Run
-- again after a crash before sqlx records it, it rebuilds the same tables again.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP VIEW IF EXISTS v_certificate_status;
DROP VIEW IF EXISTS v_active_certificates;
DROP VIEW IF EXISTS v_expiring_certificates;
DROP VIEW IF EXISTS v_service_certificates;

DROP TABLE IF EXISTS certificates_rebuilt;
CREATE TABLE certificates_rebuilt (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    serial_number      TEXT NOT NULL UNIQUE,
    service_id         TEXT NOT NULL REFERENCES services(service_id),
    common_name        TEXT NOT NULL,
    san_dns            TEXT NOT NULL DEFAULT '[]',
    san_ip             TEXT NOT NULL DEFAULT '[]',
    profile            TEXT NOT NULL,
    key_type           TEXT NOT NULL,
    key_source         TEXT NOT NULL CHECK (key_source IN ('csr', 'server')),
    public_key_sha256  TEXT NOT NULL,
    fingerprint_sha256 TEXT NOT NULL,
    certificate_der    BLOB NOT NULL,
    issuer_ca_id       INTEGER NOT NULL REFERENCES intermediate_ca(id),
    not_before         TEXT NOT NULL,
    not_after          TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    renewed_from       TEXT,
    created_at         TEXT NOT NULL,
    crl_shard          INTEGER
);
INSERT INTO certificates_rebuilt (id, serial_number, service_id, common_name, san_dns, san_ip, profile, key_type, key_source, public_key_sha256, fingerprint_sha256, certificate_der, issuer_ca_id, not_before, not_after, status, renewed_from, created_at, crl_shard)
SELECT id, serial_number, service_id, common_name, san_dns, san_ip, profile, key_type, key_source, public_key_sha256, fingerprint_sha256, certificate_der, issuer_ca_id, not_before, not_after, status, renewed_from, created_at, crl_shard FROM certificates;
DROP TABLE certificates;
ALTER TABLE certificates_rebuilt RENAME TO certificates;
CREATE INDEX idx_certificates_service ON certificates(service_id, id);
CREATE INDEX idx_certificates_not_after ON certificates(not_after);
CREATE INDEX idx_certificates_public_key ON certificates(public_key_sha256);

DROP TABLE IF EXISTS audit_log_rebuilt;
CREATE TABLE audit_log_rebuilt (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at  TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    details      TEXT NOT NULL DEFAULT '{}',
    source_ip    TEXT,
    prev_hash    TEXT NOT NULL,
    row_hash     TEXT NOT NULL
);
INSERT INTO audit_log_rebuilt (id, occurred_at, actor, action, target_type, target_id, outcome, details, source_ip, prev_hash, row_hash)
SELECT id, occurred_at, actor, action, target_type, target_id, outcome, details, source_ip, prev_hash, row_hash FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_rebuilt RENAME TO audit_log;

CREATE VIEW v_certificate_status AS
SELECT c.id, c.serial_number, c.service_id, c.common_name, c.not_before, c.not_after,
       CAST(julianday(c.not_after) - julianday('now') AS INTEGER) AS days_until_expiry,
       CASE
         WHEN c.status = 'revoked' THEN 'revoked'
         WHEN julianday(c.not_after) <= julianday('now') THEN 'expired'
         WHEN julianday(c.not_after) - julianday('now') <= 30 THEN 'expiring'
         ELSE 'active'
       END AS status
FROM certificates c;

CREATE VIEW v_active_certificates AS
SELECT c.*, CAST(julianday(c.not_after) - julianday('now') AS INTEGER) AS days_until_expiry
FROM certificates c
WHERE c.status = 'active' AND julianday(c.not_after) > julianday('now');

CREATE VIEW v_expiring_certificates AS
SELECT c.id, c.serial_number, c.service_id, c.common_name, c.not_after,
       CAST(julianday(c.not_after) - julianday('now') AS INTEGER) AS days_until_expiry
FROM certificates c
WHERE c.status = 'active'
  AND julianday(c.not_after) > julianday('now')
  AND julianday(c.not_after) - julianday('now') <= 30;

CREATE VIEW v_service_certificates AS
SELECT s.service_id, s.service_name, s.status AS service_status,
       COUNT(c.id) AS total_certificates,
       SUM(CASE WHEN c.status = 'active' AND julianday(c.not_after) > julianday('now') THEN 1 ELSE 0 END) AS active_certificates,
       MAX(c.not_after) AS latest_not_after
FROM services s
LEFT JOIN certificates c ON c.service_id = s.service_id
GROUP BY s.service_id, s.service_name, s.status;

COMMIT;
PRAGMA foreign_keys = ON;
