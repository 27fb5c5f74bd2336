-- VCC PKI schema: the seed's 8 tables and 4 views, plus api_tokens.
-- Times are RFC 3339 UTC text ('YYYY-MM-DDTHH:MM:SSZ'); serials are lower-case hex; JSON lists are text.

CREATE TABLE root_ca (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    common_name          TEXT NOT NULL,
    subject              TEXT NOT NULL,
    serial_number        TEXT NOT NULL UNIQUE,
    key_type             TEXT NOT NULL,
    certificate_der      BLOB NOT NULL,
    encrypted_private_key TEXT NOT NULL,          -- PKCS#8 PBES2 (PBKDF2-SHA256, AES-256-CBC) PEM
    fingerprint_sha256   TEXT NOT NULL UNIQUE,
    not_before           TEXT NOT NULL,
    not_after            TEXT NOT NULL,
    status               TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at           TEXT NOT NULL
);

CREATE TABLE intermediate_ca (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    root_ca_id           INTEGER NOT NULL REFERENCES root_ca(id),
    common_name          TEXT NOT NULL,
    subject              TEXT NOT NULL,
    serial_number        TEXT NOT NULL UNIQUE,
    key_type             TEXT NOT NULL,
    certificate_der      BLOB NOT NULL,
    encrypted_private_key TEXT NOT NULL,
    fingerprint_sha256   TEXT NOT NULL UNIQUE,
    not_before           TEXT NOT NULL,
    not_after            TEXT NOT NULL,
    status               TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at           TEXT NOT NULL
);

CREATE TABLE services (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
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
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
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
    certificate_der    BLOB NOT NULL,
    issuer_ca_id       INTEGER NOT NULL REFERENCES intermediate_ca(id),
    not_before         TEXT NOT NULL,
    not_after          TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    renewed_from       TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX idx_certificates_service ON certificates(service_id, id);
CREATE INDEX idx_certificates_not_after ON certificates(not_after);

CREATE TABLE revoked_certificates (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    certificate_id  INTEGER NOT NULL UNIQUE REFERENCES certificates(id),
    serial_number   TEXT NOT NULL UNIQUE,
    issuer_ca_id    INTEGER NOT NULL REFERENCES intermediate_ca(id),
    revoked_at      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    reason_code     INTEGER NOT NULL,
    revoked_by      TEXT NOT NULL
);

CREATE TABLE certificate_rotation_schedule (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    certificate_id  INTEGER NOT NULL UNIQUE REFERENCES certificates(id),
    service_id      TEXT NOT NULL,
    renew_after     TEXT NOT NULL,     -- two thirds into the certificate's lifetime
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'renewed', 'revoked')),
    updated_at      TEXT NOT NULL
);

CREATE TABLE crl_history (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    crl_number         INTEGER NOT NULL UNIQUE,
    issuer_ca_id       INTEGER NOT NULL REFERENCES intermediate_ca(id),
    this_update        TEXT NOT NULL,
    next_update        TEXT NOT NULL,
    revoked_count      INTEGER NOT NULL,
    crl_der            BLOB NOT NULL,
    fingerprint_sha256 TEXT NOT NULL,
    created_at         TEXT NOT NULL
);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
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
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin')),
    token_hash  TEXT NOT NULL UNIQUE,    -- SHA-256 of the 256-bit random token; the token itself is never stored
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE VIEW v_certificate_status AS
SELECT c.id, c.serial_number, c.service_id, c.common_name, c.not_before, c.not_after,
       CAST(julianday(c.not_after) - julianday('now') AS INTEGER) AS days_until_expiry,
       CASE
         WHEN c.status = 'revoked' THEN 'revoked'
         WHEN julianday(c.not_after) <= julianday('now') THEN 'expired'
         WHEN julianday(c.not_after) - julianday('now') <= 30 THEN 'expiring'
         ELSE 'active'
       END AS status
FROM certificates c;

CREATE VIEW v_active_certificates AS
SELECT c.*, CAST(julianday(c.not_after) - julianday('now') AS INTEGER) AS days_until_expiry
FROM certificates c
WHERE c.status = 'active' AND julianday(c.not_after) > julianday('now');

CREATE VIEW v_expiring_certificates AS
SELECT c.id, c.serial_number, c.service_id, c.common_name, c.not_after,
       CAST(julianday(c.not_after) - julianday('now') AS INTEGER) AS days_until_expiry
FROM certificates c
WHERE c.status = 'active'
  AND julianday(c.not_after) > julianday('now')
  AND julianday(c.not_after) - julianday('now') <= 30;

CREATE VIEW v_service_certificates AS
SELECT s.service_id, s.service_name, s.status AS service_status,
       COUNT(c.id) AS total_certificates,
       SUM(CASE WHEN c.status = 'active' AND julianday(c.not_after) > julianday('now') THEN 1 ELSE 0 END) AS active_certificates,
       MAX(c.not_after) AS latest_not_after
FROM services s
LEFT JOIN certificates c ON c.service_id = s.service_id
GROUP BY s.service_id, s.service_name, s.status;
