-- Retention finds the files past their ExpireTime (job outputs) by it; most
-- files (uploads) have none and are not in the index.
CREATE INDEX IF NOT EXISTS files_expire ON files (expire_time) WHERE expire_time IS NOT NULL;
