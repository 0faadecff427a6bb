-- Each attempt keeps where it failed (the engine's error stage: dns,
-- connect, tls, timeout, connection, status, ...) and the receiver's
-- response headers beside its body, for the console and the events API.
-- The delivery's row holds its last attempt (migration 0005), so it gets
-- the same two columns, and the trigger that moves a held attempt into
-- attempts moves them too.
ALTER TABLE attempts ADD COLUMN error_stage TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN response_headers TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN last_error_stage TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN last_response_headers TEXT NOT NULL DEFAULT '';

DROP TRIGGER deliveries_keep_attempt;
CREATE TRIGGER deliveries_keep_attempt AFTER UPDATE OF last_attempt_id ON deliveries
WHEN old.last_attempt_id <> '' AND new.last_attempt_id <> old.last_attempt_id
BEGIN
    INSERT INTO attempts (id, delivery_id, number, time, status_code, latency_ns, error, response_body,
        error_stage, response_headers)
    VALUES (old.last_attempt_id, old.id, (SELECT count(*) FROM attempts WHERE delivery_id = old.id) + 1,
        old.last_attempt_time, old.last_status_code, old.last_latency_ns, old.last_attempt_error, old.last_response_body,
        old.last_error_stage, old.last_response_headers);
END;
