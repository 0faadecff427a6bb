-- The initial schema.
--
-- Times are INTEGER Unix microseconds in UTC: they sort and compare as plain
-- integers (index range scans for due deliveries and cursor paging), they
-- keep the microsecond precision PostgreSQL's timestamptz has, so both stores
-- round-trip the same values, and they need no parsing. NULL means "not set".
--
-- Tables are STRICT so that a value of the wrong type is an error, not a
-- silent conversion. JSON is stored as TEXT, sealed secrets and keys as BLOB.

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    audience    TEXT NOT NULL DEFAULT '',
    create_time INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    hash        BLOB NOT NULL UNIQUE, -- SHA-256 of the key
    prefix      TEXT NOT NULL DEFAULT '',
    create_time INTEGER NOT NULL,
    revoke_time INTEGER
) STRICT;

CREATE INDEX api_keys_project ON api_keys (project_id, create_time, id);

CREATE TABLE webhooks (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name              TEXT NOT NULL DEFAULT '',
    uri               TEXT NOT NULL,
    subscribed_events TEXT NOT NULL DEFAULT '[]', -- JSON array of event types
    state             TEXT NOT NULL,
    create_time       INTEGER NOT NULL,
    update_time       INTEGER NOT NULL,
    failing_since     INTEGER
) STRICT;

CREATE INDEX webhooks_project ON webhooks (project_id, create_time, id);

CREATE TABLE signing_secrets (
    id          TEXT PRIMARY KEY,
    webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    sealed      BLOB NOT NULL,
    truncated   TEXT NOT NULL DEFAULT '',
    create_time INTEGER NOT NULL,
    expire_time INTEGER
) STRICT;

CREATE INDEX signing_secrets_webhook ON signing_secrets (webhook_id, create_time);

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    type            TEXT NOT NULL,
    payload         BLOB NOT NULL, -- the exact body every delivery sends
    webhook_config  TEXT,          -- JSON; NULL for static routing
    idempotency_key TEXT NOT NULL DEFAULT '',
    source          TEXT NOT NULL DEFAULT '',
    create_time     INTEGER NOT NULL,
    delivery_count  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX events_project ON events (project_id, create_time, id);

CREATE INDEX events_idempotency ON events (project_id, idempotency_key, create_time)
    WHERE idempotency_key <> '';

-- deliveries is the queue, the attempt summary and the recovery list at once.
-- webhook_id has no foreign key on purpose: a deleted webhook's delivery
-- history stays.
CREATE TABLE deliveries (
    id                 TEXT PRIMARY KEY,
    event_id           TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    project_id         TEXT NOT NULL,
    kind               TEXT NOT NULL,
    webhook_id         TEXT NOT NULL DEFAULT '',
    uri                TEXT NOT NULL,
    state              TEXT NOT NULL,
    attempt_count      INTEGER NOT NULL DEFAULT 0,
    next_attempt_time  INTEGER NOT NULL,
    lease_token        TEXT NOT NULL DEFAULT '',
    first_attempt_time INTEGER,
    last_attempt_time  INTEGER,
    last_status_code   INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT NOT NULL DEFAULT '',
    create_time        INTEGER NOT NULL,
    update_time        INTEGER NOT NULL
) STRICT;

-- The claim query's index: only pending rows, in due order. Finished
-- deliveries leave it, so it stays as small as the backlog.
CREATE INDEX deliveries_due ON deliveries (next_attempt_time) WHERE state = 'pending';

CREATE INDEX deliveries_event ON deliveries (event_id);

-- For DeleteWebhook and RecoverDeliveries. state is left out so that the hot
-- path's state changes never touch this index.
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, create_time) WHERE webhook_id <> '';

CREATE TABLE attempts (
    id            TEXT PRIMARY KEY,
    delivery_id   TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL, -- 1, 2, … over the delivery's whole life
    time          INTEGER NOT NULL,
    status_code   INTEGER NOT NULL DEFAULT 0,
    latency_ns    INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    response_body TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX attempts_delivery ON attempts (delivery_id, number);

CREATE TABLE signing_keys (
    id                 TEXT PRIMARY KEY,
    algorithm          TEXT NOT NULL,
    sealed_private_key BLOB NOT NULL,
    create_time        INTEGER NOT NULL,
    retire_time        INTEGER,
    expire_time        INTEGER
) STRICT;
