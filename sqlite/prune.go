package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/webhookd/webhookd"
)

// Retention finds candidate events in three index-ordered streams, oldest
// first, each yielding an event at most once: through its newest succeeded
// delivery (deliveries_succeeded), through its newest failed delivery
// (deliveries_failed), and, for events routing gave no delivery, by age
// (events_undelivered). The streams run on the read pool, outside the write
// lock: a stream may have to step over many rows it must keep (the
// succeeded deliveries of events that also have a failed one, kept for the
// longer failed retention), and that reading must not hold up claims.
// sqlPruneCheck then decides, under the write lock, which candidates are
// still prunable — a delivery may have been retried meanwhile.
// The idempotency check keeps an event whose key a repeated publish must
// still find (see webhookd.IdempotencyWindow).
const (
	// sqlPruneSucceeded: every delivery succeeded, the newest before the
	// cutoff. d is the newest (by update_time, then id), so no sibling is
	// later, and every sibling succeeded.
	sqlPruneSucceeded = `
SELECT d.event_id FROM deliveries d
WHERE d.state = 'succeeded' AND d.update_time < :before
AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.event_id = d.event_id AND x.id <> d.id
    AND (x.state <> 'succeeded' OR (x.update_time, x.id) > (d.update_time, d.id)))
AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id
    AND e.idempotency_key <> '' AND e.create_time > :idempotent_since)
ORDER BY d.update_time
LIMIT :limit`

	// sqlPruneFailed: some delivery failed, none is pending, all finished
	// before the cutoff. d is the event's newest failed delivery.
	sqlPruneFailed = `
SELECT d.event_id FROM deliveries d
WHERE d.state = 'failed' AND d.update_time < :before
AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.event_id = d.event_id AND x.id <> d.id
    AND (x.state = 'pending' OR x.update_time >= :before
        OR (x.state = 'failed' AND (x.update_time, x.id) > (d.update_time, d.id))))
AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id
    AND e.idempotency_key <> '' AND e.create_time > :idempotent_since)
ORDER BY d.update_time
LIMIT :limit`

	// sqlPruneUndelivered: events with no delivery, created before the
	// cutoff. The NOT EXISTS does not trust delivery_count alone.
	sqlPruneUndelivered = `
SELECT e.id FROM events e
WHERE e.delivery_count = 0 AND e.create_time < :before
AND NOT (e.idempotency_key <> '' AND e.create_time > :idempotent_since)
AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.event_id = e.id)
ORDER BY e.create_time
LIMIT :limit`

	// sqlPruneCheck is the rule of Store.PruneEvents, applied to the
	// candidates (a JSON array) under the write lock.
	sqlPruneCheck = `
SELECT e.id FROM events e
WHERE e.id IN (SELECT value FROM json_each(:ids))
AND NOT (e.idempotency_key <> '' AND e.create_time > :idempotent_since)
AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.event_id = e.id AND x.state = 'pending')
AND coalesce((SELECT max(x.update_time) FROM deliveries x WHERE x.event_id = e.id), e.create_time) <
    CASE WHEN EXISTS (SELECT 1 FROM deliveries x WHERE x.event_id = e.id AND x.state = 'failed')
        THEN :failed_before ELSE :succeeded_before END`

	// The deletes, children first, each by an index: attempts by
	// attempts_delivery, deliveries by deliveries_event, events by key.
	sqlPruneAttempts = `DELETE FROM attempts WHERE delivery_id IN (
    SELECT id FROM deliveries WHERE event_id IN (SELECT value FROM json_each(?)))`
	sqlPruneDeliveries = `DELETE FROM deliveries WHERE event_id IN (SELECT value FROM json_each(?))`
	sqlPruneEvents     = `DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))`
)

// PruneEvents deletes up to p.Limit finished, old events with their
// deliveries and attempts. Candidates are found on the read pool; one
// IMMEDIATE transaction on the writer checks and deletes them. The writer is
// the store's only one, so a batch is kept small: claims and results wait
// for one batch's deletes at most, never for the search or the whole prune.
func (s *Store) PruneEvents(ctx context.Context, p webhookd.PruneParams) (int, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	idempotentSince := micros(s.now().Add(-webhookd.IdempotencyWindow))
	var candidates []string
	err := s.read(ctx, func(tx *sql.Tx) error {
		for _, q := range []struct {
			name, query string
			before      int64
		}{
			{"succeeded", sqlPruneSucceeded, micros(p.SucceededBefore)},
			{"failed", sqlPruneFailed, micros(p.FailedBefore)},
			{"undelivered", sqlPruneUndelivered, micros(p.SucceededBefore)},
		} {
			n := p.Limit - len(candidates)
			if n <= 0 {
				break
			}
			rows, err := tx.QueryContext(ctx, q.query, sql.Named("before", q.before),
				sql.Named("idempotent_since", idempotentSince), sql.Named("limit", n))
			if err != nil {
				return fmt.Errorf("sqlite: prune events: find %s: %w", q.name, err)
			}
			found, err := collect(rows, func(sc scanner) (string, error) {
				var id string
				return id, sc.Scan(&id)
			}, "prune events: find "+q.name)
			if err != nil {
				return err
			}
			candidates = append(candidates, found...) // the streams are disjoint
		}
		return nil
	})
	if err != nil || len(candidates) == 0 {
		return 0, err
	}
	candidatesJSON, err := json.Marshal(candidates)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune events: %w", err)
	}

	var deleted int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, sqlPruneCheck, sql.Named("ids", string(candidatesJSON)),
			sql.Named("idempotent_since", idempotentSince),
			sql.Named("succeeded_before", micros(p.SucceededBefore)), sql.Named("failed_before", micros(p.FailedBefore)))
		if err != nil {
			return fmt.Errorf("sqlite: prune events: check: %w", err)
		}
		ids, err := collect(rows, func(sc scanner) (string, error) {
			var id string
			return id, sc.Scan(&id)
		}, "prune events: check")
		if err != nil || len(ids) == 0 {
			return err
		}
		idsJSON, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("sqlite: prune events: %w", err)
		}
		for _, q := range []string{sqlPruneAttempts, sqlPruneDeliveries} {
			if _, err := tx.ExecContext(ctx, q, string(idsJSON)); err != nil {
				return fmt.Errorf("sqlite: prune events: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, sqlPruneEvents, string(idsJSON))
		if err != nil {
			return fmt.Errorf("sqlite: prune events: %w", err)
		}
		deleted, err = res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: prune events: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(deleted), nil
}
