-- Partitioned CRLs (docs/REVOCATION.md): a certificate issued with a public URL belongs to one CRL
-- shard, named in its CRL distribution point; its revocation carries the shard, so one shard's CRL
-- is built from its own rows. NULL: only in the complete CRL (`/crl`), as before shards existed.
ALTER TABLE certificates ADD COLUMN crl_shard BIGINT;
ALTER TABLE revoked_certificates ADD COLUMN crl_shard BIGINT;
-- NULL for the complete CRL, else the shard the CRL covers. Numbers stay one sequence for all.
ALTER TABLE crl_history ADD COLUMN crl_shard BIGINT;
CREATE INDEX idx_revoked_shard ON revoked_certificates(issuer_ca_id, crl_shard, id);
CREATE INDEX idx_crl_history_shard ON crl_history(crl_shard, crl_number);
