-- Retention (PruneEvents) finds old events through their finished
-- deliveries, oldest first, so that a prune batch reads only the rows it
-- deletes (plus the few it must keep) instead of the whole history. One
-- partial index per final state: the prune query names the state exactly,
-- which is what SQLite needs to use a partial index, and pending rows — the
-- hot path's — are in neither, so claims and retries never touch them.
CREATE INDEX deliveries_succeeded ON deliveries (update_time) WHERE state = 'succeeded';
CREATE INDEX deliveries_failed ON deliveries (update_time) WHERE state = 'failed';

-- Events that routing gave no delivery (nobody subscribed) are found by age.
CREATE INDEX events_undelivered ON events (create_time) WHERE delivery_count = 0;
