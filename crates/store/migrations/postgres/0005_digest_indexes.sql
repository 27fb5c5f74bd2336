-- Issuance speed (docs/PERFORMANCE.md): drop the UNIQUE indexes on certificates.fingerprint_sha256
-- and audit_log.row_hash. Both values are SHA-256 digests, unique by construction (of a DER that
-- holds a unique serial; of an audit row that holds its predecessor's hash), nothing looks rows up
-- by them, and as random keys each cost a write to a random index page per certificate.
ALTER TABLE certificates DROP CONSTRAINT IF EXISTS certificates_fingerprint_sha256_key;
ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_row_hash_key;
