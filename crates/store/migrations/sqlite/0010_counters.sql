-- Counters kept by triggers, so that /api/health and `db stats` read O(days + tables) rows,
-- never every certificate (SPEC §10: "counters kept, not counted per request").
-- certificate_counts: certificates by status and expiry day (the day of not_after, UTC);
-- table_row_counts: rows per table. Every write path (REST, ACME, group commit, bulk insert,
-- tidy) keeps them, because the database does. `shard` spreads PostgreSQL's concurrent
-- writers over rows; SQLite has one writer and uses shard 0.
CREATE TABLE certificate_counts (
    status     TEXT NOT NULL,
    expiry_day TEXT NOT NULL,
    shard      INTEGER NOT NULL DEFAULT 0,
    n          INTEGER NOT NULL,
    PRIMARY KEY (status, expiry_day, shard)
);
INSERT INTO certificate_counts (status, expiry_day, shard, n)
    SELECT status, substr(not_after, 1, 10), 0, COUNT(*) FROM certificates GROUP BY status, substr(not_after, 1, 10);

CREATE TRIGGER trg_certificate_counts_insert AFTER INSERT ON certificates BEGIN
    INSERT OR IGNORE INTO certificate_counts (status, expiry_day, shard, n) VALUES (NEW.status, substr(NEW.not_after, 1, 10), 0, 0);
    UPDATE certificate_counts SET n = n + 1 WHERE status = NEW.status AND expiry_day = substr(NEW.not_after, 1, 10) AND shard = 0;
END;
CREATE TRIGGER trg_certificate_counts_update AFTER UPDATE OF status, not_after ON certificates BEGIN
    UPDATE certificate_counts SET n = n - 1 WHERE status = OLD.status AND expiry_day = substr(OLD.not_after, 1, 10) AND shard = 0;
    INSERT OR IGNORE INTO certificate_counts (status, expiry_day, shard, n) VALUES (NEW.status, substr(NEW.not_after, 1, 10), 0, 0);
    UPDATE certificate_counts SET n = n + 1 WHERE status = NEW.status AND expiry_day = substr(NEW.not_after, 1, 10) AND shard = 0;
END;
CREATE TRIGGER trg_certificate_counts_delete AFTER DELETE ON certificates BEGIN
    UPDATE certificate_counts SET n = n - 1 WHERE status = OLD.status AND expiry_day = substr(OLD.not_after, 1, 10) AND shard = 0;
END;

CREATE TABLE table_row_counts (
    table_name TEXT NOT NULL,
    shard      INTEGER NOT NULL DEFAULT 0,
    n          INTEGER NOT NULL,
    PRIMARY KEY (table_name, shard)
);

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'root_ca', 0, COUNT(*) FROM root_ca;
CREATE TRIGGER trg_rows_root_ca_insert AFTER INSERT ON root_ca BEGIN
    UPDATE table_row_counts SET n = n + 1 WHERE table_name = 'root_ca' AND shard = 0;
END;
CREATE TRIGGER trg_rows_root_ca_delete AFTER DELETE ON root_ca BEGIN
    UPDATE table_row_counts SET n = n - 1 WHERE table_name = 'root_ca' AND shard = 0;
END;

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'intermediate_ca', 0, COUNT(*) FROM intermediate_ca;
CREATE TRIGGER trg_rows_intermediate_ca_insert AFTER INSERT ON intermediate_ca BEGIN
    UPDATE table_row_counts SET n = n + 1 WHERE table_name = 'intermediate_ca' AND shard = 0;
END;
CREATE TRIGGER trg_rows_intermediate_ca_delete AFTER DELETE ON intermediate_ca BEGIN
    UPDATE table_row_counts SET n = n - 1 WHERE table_name = 'intermediate_ca' AND shard = 0;
END;

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'certificates', 0, COUNT(*) FROM certificates;
CREATE TRIGGER trg_rows_certificates_insert AFTER INSERT ON certificates BEGIN
    UPDATE table_row_counts SET n = n + 1 WHERE table_name = 'certificates' AND shard = 0;
END;
CREATE TRIGGER trg_rows_certificates_delete AFTER DELETE ON certificates BEGIN
    UPDATE table_row_counts SET n = n - 1 WHERE table_name = 'certificates' AND shard = 0;
END;

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'services', 0, COUNT(*) FROM services;
CREATE TRIGGER trg_rows_services_insert AFTER INSERT ON services BEGIN
    UPDATE table_row_counts SET n = n + 1 WHERE table_name = 'services' AND shard = 0;
END;
CREATE TRIGGER trg_rows_services_delete AFTER DELETE ON services BEGIN
    UPDATE table_row_counts SET n = n - 1 WHERE table_name = 'services' AND shard = 0;
END;

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'revoked_certificates', 0, COUNT(*) FROM revoked_certificates;
CREATE TRIGGER trg_rows_revoked_certificates_insert AFTER INSERT ON revoked_certificates BEGIN
    UPDATE table_row_counts SET n = n + 1 WHERE table_name = 'revoked_certificates' AND shard = 0;
END;
CREATE TRIGGER trg_rows_revoked_certificates_delete AFTER DELETE ON revoked_certificates BEGIN
    UPDATE table_row_counts SET n = n - 1 WHERE table_name = 'revoked_certificates' AND shard = 0;
END;

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'certificate_rotation_schedule', 0, COUNT(*) FROM certificate_rotation_schedule;
CREATE TRIGGER trg_rows_certificate_rotation_schedule_insert AFTER INSERT ON certificate_rotation_schedule BEGIN
    UPDATE table_row_counts SET n = n + 1 WHERE table_name = 'certificate_rotation_schedule' AND shard = 0;
END;
CREATE TRIGGER trg_rows_certificate_rotation_schedule_delete AFTER DELETE ON certificate_rotation_schedule BEGIN
    UPDATE table_row_counts SET n = n - 1 WHERE table_name = 'certificate_rotation_schedule' AND shard = 0;
END;

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'crl_history', 0, COUNT(*) FROM crl_history;
CREATE TRIGGER trg_rows_crl_history_insert AFTER INSERT ON crl_history BEGIN
    UPDATE table_row_counts SET n = n + 1 WHERE table_name = 'crl_history' AND shard = 0;
END;
CREATE TRIGGER trg_rows_crl_history_delete AFTER DELETE ON crl_history BEGIN
    UPDATE table_row_counts SET n = n - 1 WHERE table_name = 'crl_history' AND shard = 0;
END;

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'audit_log', 0, COUNT(*) FROM audit_log;
CREATE TRIGGER trg_rows_audit_log_insert AFTER INSERT ON audit_log BEGIN
    UPDATE table_row_counts SET n = n + 1 WHERE table_name = 'audit_log' AND shard = 0;
END;
CREATE TRIGGER trg_rows_audit_log_delete AFTER DELETE ON audit_log BEGIN
    UPDATE table_row_counts SET n = n - 1 WHERE table_name = 'audit_log' AND shard = 0;
END;

INSERT INTO table_row_counts (table_name, shard, n) SELECT 'api_tokens', 0, COUNT(*) FROM api_tokens;
CREATE TRIGGER trg_rows_api_tokens_insert AFTER INSERT ON api_tokens BEGIN
    UPDATE table_row_counts SET n = n + 1 WHERE table_name = 'api_tokens' AND shard = 0;
END;
CREATE TRIGGER trg_rows_api_tokens_delete AFTER DELETE ON api_tokens BEGIN
    UPDATE table_row_counts SET n = n - 1 WHERE table_name = 'api_tokens' AND shard = 0;
END;
