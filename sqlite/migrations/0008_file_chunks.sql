-- A file's content moves out of its row into pieces of its own, so that a
-- download reads one piece at a time instead of the whole file (a generated
-- file is cut into 1 MiB pieces; an upload keeps the chunks its client sent).
CREATE TABLE file_chunks (
    file_id  TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    "offset" INTEGER NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (file_id, "offset")
) STRICT;

INSERT INTO file_chunks (file_id, "offset", data)
SELECT id, 0, content FROM files WHERE length(content) > 0;

ALTER TABLE files DROP COLUMN content;
