-- A service's certificates in expiry order (issue 15): "this service's expired (or expiring)
-- certificates, latest first" reads the service's entries from the bound down, instead of
-- fetching every certificate of the service (one heap page each) and sorting, or — with a
-- generic plan — walking the whole expiry index for the service's rows (12 s at 10 million).
CREATE INDEX idx_certificates_service_expiry ON certificates(service_id, not_after);
