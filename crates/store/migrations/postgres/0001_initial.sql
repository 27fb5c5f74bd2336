-- VCC PKI schema for PostgreSQL: the same tables, columns and views as migrations/sqlite.
-- Times are RFC 3339 UTC text ('YYYY-MM-DDTHH:MM:SSZ', compared as text, cast to timestamptz in views);
-- serials are lower-case hex; JSON lists are text. BIGINT everywhere so both backends decode to i64.

CREATE TABLE root_ca (
    id                    BIGSERIAL PRIMARY KEY,
    common_name           TEXT NOT NULL,
    subject               TEXT NOT NULL,
    serial_number         TEXT NOT NULL UNIQUE,
    key_type              TEXT NOT NULL,
    certificate_der       BYTEA NOT NULL,
    encrypted_private_key TEXT NOT NULL,
    fingerprint_sha256    TEXT NOT NULL UNIQUE,
    not_before            TEXT NOT NULL,
    not_after             TEXT NOT NULL,
    status                TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at            TEXT NOT NULL
);

CREATE TABLE intermediate_ca (
    id                    BIGSERIAL PRIMARY KEY,
    root_ca_id            BIGINT NOT NULL REFERENCES root_ca(id),
    common_name           TEXT NOT NULL,
    subject               TEXT NOT NULL,
    serial_number         TEXT NOT NULL UNIQUE,
    key_type              TEXT NOT NULL,
    certificate_der       BYTEA NOT NULL,
    encrypted_private_key TEXT NOT NULL,
    fingerprint_sha256    TEXT NOT NULL UNIQUE,
    not_before            TEXT NOT NULL,
    not_after             TEXT NOT NULL,
    status                TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at            TEXT NOT NULL
);

CREATE TABLE services (
    id                    BIGSERIAL PRIMARY KEY,
    service_id            TEXT NOT NULL UNIQUE,
    service_name          TEXT NOT NULL,
    description           TEXT,
    endpoints             TEXT NOT NULL DEFAULT '[]',
    allowed_dns           TEXT NOT NULL DEFAULT '[]',
    allowed_ip            TEXT NOT NULL DEFAULT '[]',
    enrollment_token_hash TEXT UNIQUE,
    enrollment_expires_at TEXT,
    enrollment_used_at    TEXT,
    status                TEXT NOT NULL DEFAULT 'active',
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);

CREATE TABLE certificates (
    id                 BIGSERIAL PRIMARY KEY,
    serial_number      TEXT NOT NULL UNIQUE,
    service_id         TEXT NOT NULL REFERENCES services(service_id),
    common_name        TEXT NOT NULL,
    san_dns            TEXT NOT NULL DEFAULT '[]',
    san_ip             TEXT NOT NULL DEFAULT '[]',
    profile            TEXT NOT NULL,
    key_type           TEXT NOT NULL,
    key_source         TEXT NOT NULL CHECK (key_source IN ('csr', 'server')),
    public_key_sha256  TEXT NOT NULL,
    fingerprint_sha256 TEXT NOT NULL UNIQUE,
    certificate_der    BYTEA NOT NULL,
    issuer_ca_id       BIGINT NOT NULL REFERENCES intermediate_ca(id),
    not_before         TEXT NOT NULL,
    not_after          TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    renewed_from       TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX idx_certificates_service ON certificates(service_id, id);
CREATE INDEX idx_certificates_not_after ON certificates(not_after);

CREATE TABLE revoked_certificates (
    id              BIGSERIAL PRIMARY KEY,
    certificate_id  BIGINT NOT NULL UNIQUE REFERENCES certificates(id),
    serial_number   TEXT NOT NULL UNIQUE,
    issuer_ca_id    BIGINT NOT NULL REFERENCES intermediate_ca(id),
    revoked_at      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    reason_code     BIGINT NOT NULL,
    revoked_by      TEXT NOT NULL
);

CREATE TABLE certificate_rotation_schedule (
    id              BIGSERIAL PRIMARY KEY,
    certificate_id  BIGINT NOT NULL UNIQUE REFERENCES certificates(id),
    service_id      TEXT NOT NULL,
    renew_after     TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'renewed', 'revoked')),
    updated_at      TEXT NOT NULL
);

CREATE TABLE crl_history (
    id                 BIGSERIAL PRIMARY KEY,
    crl_number         BIGINT NOT NULL UNIQUE,
    issuer_ca_id       BIGINT NOT NULL REFERENCES intermediate_ca(id),
    this_update        TEXT NOT NULL,
    next_update        TEXT NOT NULL,
    revoked_count      BIGINT NOT NULL,
    crl_der            BYTEA NOT NULL,
    fingerprint_sha256 TEXT NOT NULL,
    created_at         TEXT NOT NULL
);

CREATE TABLE audit_log (
    id           BIGSERIAL PRIMARY KEY,
    occurred_at  TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    details      TEXT NOT NULL DEFAULT '{}',
    source_ip    TEXT,
    prev_hash    TEXT NOT NULL,
    row_hash     TEXT NOT NULL UNIQUE
);

CREATE TABLE api_tokens (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

-- Leases for scheduled work, so one replica at a time does it.
CREATE TABLE scheduler_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE VIEW v_certificate_status AS
SELECT c.id, c.serial_number, c.service_id, c.common_name, c.not_before, c.not_after,
       FLOOR(EXTRACT(EPOCH FROM (c.not_after::timestamptz - now())) / 86400)::BIGINT AS days_until_expiry,
       CASE
         WHEN c.status = 'revoked' THEN 'revoked'
         WHEN c.not_after::timestamptz <= now() THEN 'expired'
         WHEN c.not_after::timestamptz <= now() + interval '30 days' THEN 'expiring'
         ELSE 'active'
       END AS status
FROM certificates c;

CREATE VIEW v_active_certificates AS
SELECT c.*, FLOOR(EXTRACT(EPOCH FROM (c.not_after::timestamptz - now())) / 86400)::BIGINT AS days_until_expiry
FROM certificates c
WHERE c.status = 'active' AND c.not_after::timestamptz > now();

CREATE VIEW v_expiring_certificates AS
SELECT c.id, c.serial_number, c.service_id, c.common_name, c.not_after,
       FLOOR(EXTRACT(EPOCH FROM (c.not_after::timestamptz - now())) / 86400)::BIGINT AS days_until_expiry
FROM certificates c
WHERE c.status = 'active'
  AND c.not_after::timestamptz > now()
  AND c.not_after::timestamptz <= now() + interval '30 days';

CREATE VIEW v_service_certificates AS
SELECT s.service_id, s.service_name, s.status AS service_status,
       COUNT(c.id) AS total_certificates,
       SUM(CASE WHEN c.status = 'active' AND c.not_after::timestamptz > now() THEN 1 ELSE 0 END) AS active_certificates,
       MAX(c.not_after) AS latest_not_after
FROM services s
LEFT JOIN certificates c ON c.service_id = s.service_id
GROUP BY s.service_id, s.service_name, s.status;
