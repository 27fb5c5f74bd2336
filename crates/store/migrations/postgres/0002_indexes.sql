-- Lookups on every issuance (is this key compromised?) and every CRL (revocations of an issuer).
CREATE INDEX idx_certificates_public_key ON certificates(public_key_sha256);
CREATE INDEX idx_revoked_issuer ON revoked_certificates(issuer_ca_id, id);
