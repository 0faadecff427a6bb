-- The initial schema. Times are timestamptz (microsecond precision; the
-- store truncates its clock to match). Sealed secrets and private keys are
-- bytea and opaque to the store. Event payloads are bytea, not jsonb: jsonb
-- would reorder keys and the signatures cover the exact bytes.

CREATE TABLE projects (
    id          text PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    audience    text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text NOT NULL DEFAULT '',
    hash        bytea NOT NULL UNIQUE,
    prefix      text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    revoke_time timestamptz
);

CREATE INDEX api_keys_project ON api_keys (project_id, create_time, id);

CREATE TABLE webhooks (
    id                text PRIMARY KEY,
    project_id        text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name              text NOT NULL DEFAULT '',
    uri               text NOT NULL,
    subscribed_events text[] NOT NULL,
    state             text NOT NULL,
    create_time       timestamptz NOT NULL,
    update_time       timestamptz NOT NULL,
    failing_since     timestamptz
);

-- Listings page by (create_time, id); routing filters by project and state.
CREATE INDEX webhooks_project ON webhooks (project_id, create_time, id);

CREATE TABLE signing_secrets (
    -- seq orders secrets created in the same instant (a rotation right after
    -- a create under a fake clock): the newest is always listed first.
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    id          text PRIMARY KEY,
    webhook_id  text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    sealed      bytea NOT NULL,
    truncated   text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    expire_time timestamptz
);

CREATE INDEX signing_secrets_webhook ON signing_secrets (webhook_id);

CREATE TABLE events (
    id              text PRIMARY KEY,
    project_id      text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    type            text NOT NULL,
    payload         bytea NOT NULL,
    -- The JSON of webhookd.WebhookConfig, kept as text for the same reason
    -- as payload: user_metadata is echoed byte for byte.
    webhook_config  text,
    idempotency_key text,
    source          text NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL,
    delivery_count  integer NOT NULL
);

CREATE INDEX events_project ON events (project_id, create_time DESC, id DESC);
CREATE INDEX events_idempotency ON events (project_id, idempotency_key, create_time DESC)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE deliveries (
    -- seq keeps the deliveries of one event in routing order.
    seq                bigint GENERATED ALWAYS AS IDENTITY,
    id                 text PRIMARY KEY,
    event_id           text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    project_id         text NOT NULL,
    kind               text NOT NULL,
    -- No foreign key: a deleted webhook's delivery history is kept.
    webhook_id         text,
    uri                text NOT NULL,
    state              text NOT NULL,
    attempt_count      integer NOT NULL DEFAULT 0,
    next_attempt_time  timestamptz NOT NULL,
    lease_token        text NOT NULL DEFAULT '',
    first_attempt_time timestamptz,
    last_attempt_time  timestamptz,
    last_status_code   integer NOT NULL DEFAULT 0,
    last_error         text NOT NULL DEFAULT '',
    create_time        timestamptz NOT NULL,
    update_time        timestamptz NOT NULL
);

-- The queue: the claim scans only pending rows, oldest due first. Succeeded
-- and failed rows (the bulk of the table) stay out of this index.
CREATE INDEX deliveries_due ON deliveries (next_attempt_time) WHERE state = 'pending';
CREATE INDEX deliveries_event ON deliveries (event_id, seq);
-- Recovery of a webhook's failed deliveries, and failing pending ones when
-- the webhook is deleted.
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, state, create_time)
    WHERE webhook_id IS NOT NULL;

CREATE TABLE attempts (
    id            text PRIMARY KEY,
    delivery_id   text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number        integer NOT NULL,
    time          timestamptz NOT NULL,
    status_code   integer NOT NULL DEFAULT 0,
    latency_ns    bigint NOT NULL DEFAULT 0,
    error         text NOT NULL DEFAULT '',
    -- bytea: a receiver may answer with bytes that are not valid UTF-8.
    response_body bytea NOT NULL DEFAULT ''
);

CREATE INDEX attempts_delivery ON attempts (delivery_id, number);

CREATE TABLE signing_keys (
    seq                bigint GENERATED ALWAYS AS IDENTITY,
    id                 text PRIMARY KEY,
    algorithm          text NOT NULL,
    sealed_private_key bytea NOT NULL,
    create_time        timestamptz NOT NULL,
    retire_time        timestamptz,
    expire_time        timestamptz
);
