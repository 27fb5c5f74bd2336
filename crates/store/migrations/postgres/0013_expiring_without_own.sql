-- The server's own certificates (its TLS identity and its OCSP responder, issue 16) renew
-- themselves; "expiring" lists what an operator must act on, so it leaves them out. The ids are
-- vcc_pki_store::SERVER_SERVICE_ID and OCSP_SERVICE_ID.
CREATE OR REPLACE VIEW v_expiring_certificates AS
SELECT c.id, c.serial_number, c.service_id, c.common_name, c.not_after,
       FLOOR(EXTRACT(EPOCH FROM (c.not_after::timestamptz - now())) / 86400)::BIGINT AS days_until_expiry
FROM certificates c
WHERE c.status = 'active'
  AND c.service_id NOT IN ('vcc-pki-server', 'vcc-pki-ocsp')
  AND c.not_after::timestamptz > now()
  AND c.not_after::timestamptz <= now() + interval '30 days';
