package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
)

// Retention finds candidate events in three index-ordered streams, oldest
// first, each yielding an event at most once: through its newest succeeded
// delivery (deliveries_succeeded), through its newest failed delivery
// (deliveries_failed), and, for events routing gave no delivery, by age
// (events_undelivered). Other processes keep writing meanwhile (a manual
// retry can make a finished delivery pending again), so the streams only
// propose: pruneCheckQuery decides, after the candidates' deliveries are
// locked.
//
// The sibling checks end in OFFSET 0, which keeps PostgreSQL from turning
// NOT EXISTS into an anti-join: as a join it may hash every delivery of the
// table to check a few hundred candidates; as a subplan each candidate is one
// probe of deliveries_event, and the scan stops at the batch's LIMIT.
const (
	pruneSucceededQuery = `SELECT d.event_id FROM deliveries d
		WHERE d.state = 'succeeded' AND d.update_time < $1
		AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.event_id = d.event_id AND x.id <> d.id
			AND (x.state <> 'succeeded' OR (x.update_time, x.id) > (d.update_time, d.id))
			OFFSET 0)
		AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id
			AND e.idempotency_key IS NOT NULL AND e.create_time > $2)
		ORDER BY d.update_time
		LIMIT $3`

	pruneFailedQuery = `SELECT d.event_id FROM deliveries d
		WHERE d.state = 'failed' AND d.update_time < $1
		AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.event_id = d.event_id AND x.id <> d.id
			AND (x.state = 'pending' OR x.update_time >= $1
				OR (x.state = 'failed' AND (x.update_time, x.id) > (d.update_time, d.id)))
			OFFSET 0)
		AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id
			AND e.idempotency_key IS NOT NULL AND e.create_time > $2)
		ORDER BY d.update_time
		LIMIT $3`

	pruneUndeliveredQuery = `SELECT e.id FROM events e
		WHERE e.delivery_count = 0 AND e.create_time < $1
		AND NOT (e.idempotency_key IS NOT NULL AND e.create_time > $2)
		AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.event_id = e.id)
		ORDER BY e.create_time
		LIMIT $3`

	// pruneLockQuery locks the candidates' deliveries. SKIP LOCKED: a
	// delivery someone else is writing right now is not one to wait for —
	// its event is simply left for a later batch (pruneCheckQuery sees the
	// delivery missing from the locked set).
	pruneLockQuery = `SELECT id FROM deliveries WHERE event_id = ANY ($1) ORDER BY id FOR UPDATE SKIP LOCKED`

	// pruneCheckQuery is the rule of Store.PruneEvents, applied to the
	// candidates with their deliveries locked ($2): no delivery pending or
	// unlocked, the newest finished before the cutoff that applies, and no
	// idempotency key still live.
	pruneCheckQuery = `SELECT e.id FROM events e
		CROSS JOIN LATERAL (
			SELECT count(*) FILTER (WHERE x.state = 'pending' OR NOT x.id = ANY ($2)) AS blocked,
				COALESCE(bool_or(x.state = 'failed'), false) AS failed,
				max(x.update_time) AS newest
			FROM deliveries x WHERE x.event_id = e.id
		) a
		WHERE e.id = ANY ($1) AND a.blocked = 0
		AND CASE WHEN a.failed THEN a.newest < $4 ELSE COALESCE(a.newest, e.create_time) < $3 END
		AND NOT (e.idempotency_key IS NOT NULL AND e.create_time > $5)`

	// The deletes, children first, each by an index: attempts by
	// attempts_delivery, deliveries by deliveries_event, events by key.
	pruneAttemptsQuery = `DELETE FROM attempts
		WHERE delivery_id = ANY (ARRAY (SELECT id FROM deliveries WHERE event_id = ANY ($1)))`
	pruneDeliveriesQuery = `DELETE FROM deliveries WHERE event_id = ANY ($1)`
	pruneEventsQuery     = `DELETE FROM events WHERE id = ANY ($1)`
)

// PruneEvents deletes up to p.Limit finished, old events with their
// deliveries and attempts. The search runs outside any transaction (it may
// step over many rows it must keep, and a long transaction would hold back
// vacuum); then one short transaction locks the candidates' deliveries
// without waiting, checks the rule again under the locks, and deletes
// children first. The rows it locks are finished deliveries, which claims
// (pending rows only, SKIP LOCKED) never touch, so delivery goes on beside a
// long prune.
func (s *Store) PruneEvents(ctx context.Context, p webhookd.PruneParams) (int, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	succeededBefore, failedBefore := p.SucceededBefore.UTC(), p.FailedBefore.UTC()
	idempotentSince := s.now().Add(-webhookd.IdempotencyWindow)
	var candidates []string
	for _, q := range []struct {
		query  string
		before time.Time
	}{
		{pruneSucceededQuery, succeededBefore},
		{pruneFailedQuery, failedBefore},
		{pruneUndeliveredQuery, succeededBefore},
	} {
		n := p.Limit - len(candidates)
		if n <= 0 {
			break
		}
		rows, _ := s.pool.Query(ctx, q.query, q.before, idempotentSince, n)
		found, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return 0, mapErr(err, "prune events: find", "Event")
		}
		candidates = append(candidates, found...) // the streams are disjoint
	}
	if len(candidates) == 0 {
		return 0, nil
	}

	var deleted int64
	err := s.inCustomPlanTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, pruneLockQuery, candidates)
		locked, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if locked == nil {
			locked = []string{} // NULL would make "NOT x.id = ANY ($2)" NULL, not true
		}
		rows, _ = tx.Query(ctx, pruneCheckQuery, candidates, locked, succeededBefore, failedBefore, idempotentSince)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, pruneAttemptsQuery, ids); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, pruneDeliveriesQuery, ids); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, pruneEventsQuery, ids)
		if err != nil {
			return err
		}
		deleted = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, mapErr(err, "prune events", "Event")
	}
	return int(deleted), nil
}
