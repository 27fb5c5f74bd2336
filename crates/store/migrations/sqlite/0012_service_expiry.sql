-- A service's certificates in expiry order (issue 15): "this service's expired (or expiring)
-- certificates, latest first" reads the service's entries from the bound down instead of every
-- certificate of the service (the worst query at 10 million before: p99 44 ms).
CREATE INDEX idx_certificates_service_expiry ON certificates(service_id, not_after);
