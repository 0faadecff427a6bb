-- Long-running operations (batches, interactions, video) and the files they
-- read and write. Request and result are lro's JSON documents, kept as TEXT
-- exactly as lro wrote them (NULL when absent).

CREATE TABLE operations (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    model          TEXT NOT NULL DEFAULT '',
    agent          TEXT NOT NULL DEFAULT '',
    display_name   TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL,
    request        TEXT,
    result         TEXT,
    error_code     TEXT NOT NULL DEFAULT '',
    error_message  TEXT NOT NULL DEFAULT '',
    webhook_config TEXT,
    create_time    INTEGER NOT NULL,
    update_time    INTEGER NOT NULL,
    end_time       INTEGER,
    expire_time    INTEGER,
    next_step_time INTEGER,
    -- Optimistic concurrency: every write checks and bumps it.
    version        INTEGER NOT NULL
) STRICT;

CREATE INDEX operations_project ON operations (project_id, create_time, id);

-- The runners' queue: only operations with a next step are in it.
CREATE INDEX operations_due ON operations (next_step_time) WHERE next_step_time IS NOT NULL;

CREATE TABLE files (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL DEFAULT '',
    mime_type    TEXT NOT NULL DEFAULT '',
    size_bytes   INTEGER NOT NULL,
    sha256       BLOB NOT NULL,
    source       TEXT NOT NULL,
    state        TEXT NOT NULL,
    create_time  INTEGER NOT NULL,
    update_time  INTEGER NOT NULL,
    expire_time  INTEGER,
    content      BLOB NOT NULL
) STRICT;

CREATE INDEX files_project ON files (project_id, create_time, id);

CREATE TABLE upload_sessions (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    file_id       TEXT NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    mime_type     TEXT NOT NULL DEFAULT '',
    declared_size INTEGER NOT NULL, -- -1 when the client did not declare it
    received      INTEGER NOT NULL DEFAULT 0,
    create_time   INTEGER NOT NULL,
    expire_time   INTEGER NOT NULL
) STRICT;

CREATE INDEX upload_sessions_expire ON upload_sessions (expire_time);

-- Chunks are rows of their own: appending one writes only its bytes, where
-- growing one BLOB would rewrite everything received so far. Finalizing
-- concatenates them in offset order.
CREATE TABLE upload_chunks (
    session_id TEXT NOT NULL REFERENCES upload_sessions (id) ON DELETE CASCADE,
    "offset"   INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (session_id, "offset")
) STRICT;
