-- ACME (SPEC §9): nonce key, used nonces, accounts, orders, authorizations, challenges.
-- Ids are random base64url text (they appear in URLs); times RFC 3339 text; JSON lists as text.
CREATE TABLE acme_secrets (
    name       TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- A nonce is MAC'd and carries its expiry; this set makes it single-use across replicas.
CREATE TABLE acme_used_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
CREATE INDEX idx_acme_used_nonces_expiry ON acme_used_nonces(expires_at);

CREATE TABLE acme_accounts (
    id             TEXT PRIMARY KEY,
    key_thumbprint TEXT NOT NULL UNIQUE,
    jwk            TEXT NOT NULL,
    contact        TEXT NOT NULL DEFAULT '[]',
    status         TEXT NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
    eab_kid        TEXT,
    created_from   TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE INDEX idx_acme_accounts_source ON acme_accounts(created_from, created_at);

CREATE TABLE acme_orders (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES acme_accounts(id),
    status             TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
    identifiers        TEXT NOT NULL,
    profile            TEXT NOT NULL,
    not_before         TEXT,
    not_after          TEXT,
    expires_at         TEXT NOT NULL,
    error              TEXT,
    certificate_serial TEXT,
    replaces           TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX idx_acme_orders_account ON acme_orders(account_id, created_at, id);

CREATE TABLE acme_authorizations (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES acme_accounts(id),
    identifier_type  TEXT NOT NULL CHECK (identifier_type IN ('dns', 'ip')),
    identifier_value TEXT NOT NULL,
    wildcard         BIGINT NOT NULL DEFAULT 0,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'revoked')),
    expires_at       TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX idx_acme_authorizations_failures ON acme_authorizations(account_id, status, created_at);
CREATE INDEX idx_acme_authorizations_reuse
    ON acme_authorizations(account_id, identifier_type, identifier_value, status, expires_at);

CREATE TABLE acme_order_authorizations (
    order_id         TEXT NOT NULL REFERENCES acme_orders(id),
    authorization_id TEXT NOT NULL REFERENCES acme_authorizations(id),
    position         BIGINT NOT NULL,
    PRIMARY KEY (order_id, authorization_id)
);

CREATE TABLE acme_challenges (
    id               TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL REFERENCES acme_authorizations(id),
    challenge_type   TEXT NOT NULL,
    token            TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
    validated_at     TEXT,
    error            TEXT
);
CREATE INDEX idx_acme_challenges_authorization ON acme_challenges(authorization_id);

-- ACME Renewal Information (RFC 9773): windows pulled forward by an admin (`vcc-pki acme ari move`).
CREATE TABLE acme_renewal_overrides (
    serial_number   TEXT PRIMARY KEY,
    window_start    TEXT NOT NULL,
    window_end      TEXT NOT NULL,
    explanation_url TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX idx_acme_orders_replaces ON acme_orders(replaces);

-- External Account Binding keys (RFC 8555 §7.3.4), made by `vcc-pki acme eab create`. The policy
-- (allowed DNS suffixes, IP ranges, profiles) binds every account created with the key.
CREATE TABLE acme_eab_keys (
    kid          TEXT PRIMARY KEY,
    hmac_key     TEXT NOT NULL,
    allowed_dns  TEXT NOT NULL DEFAULT '[]',
    allowed_ip   TEXT NOT NULL DEFAULT '[]',
    profiles     TEXT NOT NULL DEFAULT '[]',
    reusable     BIGINT NOT NULL DEFAULT 0,
    expires_at   TEXT,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    used_at      TEXT
);
