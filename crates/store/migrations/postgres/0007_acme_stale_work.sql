-- When a challenge's validation began, so that work cut off by a crash or restart (a challenge
-- left 'processing') is found and restarted; and indexes for finding stale 'processing' rows.
ALTER TABLE acme_challenges ADD COLUMN started_at TEXT;
CREATE INDEX idx_acme_challenges_processing ON acme_challenges(started_at) WHERE status = 'processing';
CREATE INDEX idx_acme_orders_processing ON acme_orders(updated_at) WHERE status = 'processing';
