-- Public keys revoked for keyCompromise. Every issuance checks its key here by primary key; the
-- join over certificates and revocations it replaces grew with every certificate sharing the key
-- (renewals keep their key).
CREATE TABLE compromised_keys (
    public_key_sha256 TEXT PRIMARY KEY,
    revoked_at        TEXT NOT NULL
);
INSERT INTO compromised_keys (public_key_sha256, revoked_at)
SELECT c.public_key_sha256, MIN(r.revoked_at)
FROM certificates c JOIN revoked_certificates r ON r.certificate_id = c.id
WHERE r.reason = 'keyCompromise'
GROUP BY c.public_key_sha256;
