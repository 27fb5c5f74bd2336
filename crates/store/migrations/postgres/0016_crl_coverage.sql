-- Which revocations each CRL covers (issue 18): the highest revoked_certificates.id committed
-- before the CRL's rows were read. Every replica compares it with the revocations it sees, so
-- a replica that dies between a revocation's commit and its shard's rebuild leaves the rebuild to
-- another (instead of an in-memory mark that died with it). NULL: a CRL made before this column.
ALTER TABLE crl_history ADD COLUMN covers_revocation_id BIGINT;
