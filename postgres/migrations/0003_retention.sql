-- Retention (PruneEvents) finds old events through their finished
-- deliveries, oldest first, so that a prune batch reads only the rows it
-- deletes (plus the few it must keep) instead of the whole history. One
-- partial index per final state: pending rows — the hot path's — are in
-- neither. (CREATE INDEX blocks writes to the table while it builds; on a
-- very large existing deployment, create these CONCURRENTLY by hand first:
-- the IF NOT EXISTS then makes this migration a no-op.)
CREATE INDEX IF NOT EXISTS deliveries_succeeded ON deliveries (update_time) WHERE state = 'succeeded';
CREATE INDEX IF NOT EXISTS deliveries_failed ON deliveries (update_time) WHERE state = 'failed';

-- Events that routing gave no delivery (nobody subscribed) are found by age.
CREATE INDEX IF NOT EXISTS events_undelivered ON events (create_time) WHERE delivery_count = 0;
