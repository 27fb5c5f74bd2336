-- An intermediate CA key made on this server whose certificate is signed elsewhere (an offline
-- root, issue 17): `ca create-intermediate --csr-out` keeps the key here (encrypted, or as a
-- token URI) with its CSR until `ca import-intermediate` brings the certificate back.
CREATE TABLE pending_intermediate_ca (
    id                    BIGSERIAL PRIMARY KEY,
    common_name           TEXT NOT NULL,
    subject               TEXT NOT NULL,
    key_type              TEXT NOT NULL,
    public_key_der        BYTEA NOT NULL UNIQUE,   -- SubjectPublicKeyInfo: how the certificate finds its key
    encrypted_private_key TEXT NOT NULL,
    key_uri               TEXT,
    csr_der               BYTEA NOT NULL,
    created_at            TEXT NOT NULL
);
