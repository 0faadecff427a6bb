-- Long-running operations (batches, interactions, video) and the files they
-- read and write. Request and result are lro's JSON, kept as bytea for the
-- same reason as event payloads: the bytes are not ours to reorder.

CREATE TABLE operations (
    id             text PRIMARY KEY,
    project_id     text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind           text NOT NULL,
    model          text NOT NULL DEFAULT '',
    agent          text NOT NULL DEFAULT '',
    display_name   text NOT NULL DEFAULT '',
    state          text NOT NULL,
    request        bytea,
    result         bytea,
    error_code     text NOT NULL DEFAULT '',
    error_message  text NOT NULL DEFAULT '',
    webhook_config text,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    end_time       timestamptz,
    expire_time    timestamptz,
    next_step_time timestamptz,
    -- Optimistic concurrency: every write checks and bumps it.
    version        bigint NOT NULL
);

CREATE INDEX operations_project ON operations (project_id, create_time DESC, id DESC);
-- The runners' queue: only operations with a next step are in it.
CREATE INDEX operations_due ON operations (next_step_time) WHERE next_step_time IS NOT NULL;

CREATE TABLE files (
    id           text PRIMARY KEY,
    project_id   text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    display_name text NOT NULL DEFAULT '',
    mime_type    text NOT NULL DEFAULT '',
    size_bytes   bigint NOT NULL,
    sha256       bytea NOT NULL,
    source       text NOT NULL,
    state        text NOT NULL,
    create_time  timestamptz NOT NULL,
    update_time  timestamptz NOT NULL,
    expire_time  timestamptz,
    content      bytea NOT NULL
);

CREATE INDEX files_project ON files (project_id, create_time DESC, id DESC);

CREATE TABLE upload_sessions (
    id            text PRIMARY KEY,
    project_id    text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    file_id       text NOT NULL,
    display_name  text NOT NULL DEFAULT '',
    mime_type     text NOT NULL DEFAULT '',
    declared_size bigint NOT NULL,
    received      bigint NOT NULL DEFAULT 0,
    create_time   timestamptz NOT NULL,
    expire_time   timestamptz NOT NULL
);

CREATE INDEX upload_sessions_expire ON upload_sessions (expire_time);

-- Chunks are rows of their own: appending one writes only its bytes, where
-- growing one bytea would rewrite everything received so far. Finalizing
-- concatenates them in offset order.
CREATE TABLE upload_chunks (
    session_id text NOT NULL REFERENCES upload_sessions (id) ON DELETE CASCADE,
    "offset"   bigint NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (session_id, "offset")
);
