-- API tokens get a second role: 'auditor' (read-only; SPEC §11). SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt with its rows and ids.
CREATE TABLE api_tokens_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
    token_hash  TEXT NOT NULL UNIQUE,    -- SHA-256 of the 256-bit random token; the token itself is never stored
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
INSERT INTO api_tokens_new (id, name, role, token_hash, created_at, revoked_at)
    SELECT id, name, role, token_hash, created_at, revoked_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
