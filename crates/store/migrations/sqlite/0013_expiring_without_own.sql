-- The server's own certificates (its TLS identity and its OCSP responder, issue 16) renew
-- themselves; "expiring" lists what an operator must act on, so it leaves them out. The ids are
-- vcc_pki_store::SERVER_SERVICE_ID and OCSP_SERVICE_ID.
DROP VIEW IF EXISTS v_expiring_certificates;
CREATE VIEW v_expiring_certificates AS
SELECT c.id, c.serial_number, c.service_id, c.common_name, c.not_after,
       CAST(julianday(c.not_after) - julianday('now') AS INTEGER) AS days_until_expiry
FROM certificates c
WHERE c.status = 'active'
  AND c.service_id NOT IN ('vcc-pki-server', 'vcc-pki-ocsp')
  AND julianday(c.not_after) > julianday('now')
  AND julianday(c.not_after) - julianday('now') <= 30;
