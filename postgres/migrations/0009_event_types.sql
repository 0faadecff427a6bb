-- Event types a project defines over the API (the built-in catalog and the
-- operator's WEBHOOKD_EVENT_TYPES are not stored). schema is text, not
-- jsonb, to give back the JSON Schema as the caller wrote it; NULL for none.
-- Listings page by name, the primary key's order.
CREATE TABLE IF NOT EXISTS event_types (
    project_id  text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text COLLATE "C" NOT NULL, -- bytewise, as SQLite and Go order names
    description text NOT NULL DEFAULT '',
    schema      text,
    deprecated  boolean NOT NULL DEFAULT false,
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    PRIMARY KEY (project_id, name)
);
