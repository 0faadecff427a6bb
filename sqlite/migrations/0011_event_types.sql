-- Event types a project defines over the API (the built-in catalog and the
-- operator's WEBHOOKD_EVENT_TYPES are not stored). schema is the JSON Schema
-- as the caller wrote it, NULL for none; deprecated is 0 or 1. Listings page
-- by name, the primary key's order.
CREATE TABLE event_types (
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    schema      TEXT,
    deprecated  INTEGER NOT NULL DEFAULT 0,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
) STRICT, WITHOUT ROWID;
