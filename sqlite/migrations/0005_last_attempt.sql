-- A delivery's row holds its last attempt; attempts holds the ones before
-- it. Most deliveries succeed at their first attempt, and recording a result
-- is then one row update instead of an update and an insert into a table of
-- three B-trees (rows, primary key, attempts_delivery): the insert was about
-- half of RecordResults' time (BenchmarkRecordResults).
--
-- last_attempt_id <> '' says the row holds an attempt that attempts does
-- not: its time and status code are last_attempt_time and
-- last_status_code, which only attempts change; its error has a column of
-- its own because last_error also takes the reasons of results without an
-- attempt. Rows written before this migration hold none (all their
-- attempts are in attempts) until their next attempt.
ALTER TABLE deliveries ADD COLUMN last_attempt_id TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN last_latency_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN last_attempt_error TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN last_response_body TEXT NOT NULL DEFAULT '';

-- A new attempt moves the held one into attempts, numbered after those
-- already there, whichever statement records it.
CREATE TRIGGER deliveries_keep_attempt AFTER UPDATE OF last_attempt_id ON deliveries
WHEN old.last_attempt_id <> '' AND new.last_attempt_id <> old.last_attempt_id
BEGIN
    INSERT INTO attempts (id, delivery_id, number, time, status_code, latency_ns, error, response_body)
    VALUES (old.last_attempt_id, old.id, (SELECT count(*) FROM attempts WHERE delivery_id = old.id) + 1,
        old.last_attempt_time, old.last_status_code, old.last_latency_ns, old.last_attempt_error, old.last_response_body);
END;
