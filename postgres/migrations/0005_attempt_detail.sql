-- Each attempt keeps where it failed (the engine's error stage: dns,
-- connect, tls, timeout, connection, status, ...) and the receiver's
-- response headers beside its body, for the console and the events API.
ALTER TABLE attempts ADD COLUMN error_stage text NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN response_headers text NOT NULL DEFAULT '';
