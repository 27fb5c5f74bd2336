-- Leases for scheduled work, so one replica at a time does it (same table as on PostgreSQL).
CREATE TABLE scheduler_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
