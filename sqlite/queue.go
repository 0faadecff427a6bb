package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/webhookd/webhookd"
)

// ClaimDeliveries leases up to limit due deliveries in one UPDATE … RETURNING
// on the writer, then loads what sending them needs — events, project
// audiences, webhook states and live secrets — with two queries for the whole
// batch on the read pool, outside the write lock.
func (s *Store) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]*webhookd.Claim, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, webhookd.Errorf(webhookd.EINVALID, "lease must be positive, got %v", lease)
	}
	var claims []*webhookd.Claim
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := s.now()
		rows, err := tx.StmtContext(ctx, s.stmts.claim).QueryContext(ctx,
			sql.Named("now", micros(now)), sql.Named("lease_end", micros(now.Add(lease))), sql.Named("limit", limit))
		if err != nil {
			return fmt.Errorf("sqlite: claim deliveries: %w", err)
		}
		claims, err = collect(rows, func(sc scanner) (*webhookd.Claim, error) {
			d, err := scanDelivery(sc)
			return &webhookd.Claim{Delivery: d}, err
		}, "claim deliveries")
		return err
	})
	if err != nil || len(claims) == 0 {
		return nil, err
	}
	if err := s.fillClaims(ctx, claims); err != nil {
		// The leases simply run out; the deliveries are claimed again then.
		return nil, err
	}
	return claims, nil
}

// fillClaims adds to each claim its event's type and payload, its project's
// audience and, for static deliveries, the webhook's state and live secrets.
func (s *Store) fillClaims(ctx context.Context, claims []*webhookd.Claim) error {
	var eventIDs, webhookIDs []string
	seenEvent, seenWebhook := map[string]bool{}, map[string]bool{}
	for _, c := range claims {
		if id := c.Delivery.EventID; !seenEvent[id] {
			seenEvent[id] = true
			eventIDs = append(eventIDs, id)
		}
		if id := c.Delivery.WebhookID; id != "" && !seenWebhook[id] {
			seenWebhook[id] = true
			webhookIDs = append(webhookIDs, id)
		}
	}

	type eventInfo struct {
		typ      string
		payload  []byte
		audience string
	}
	events := make(map[string]*eventInfo, len(eventIDs))
	ids, err := json.Marshal(eventIDs)
	if err != nil {
		return fmt.Errorf("sqlite: claim deliveries: %w", err)
	}
	rows, err := s.stmts.claimEvents.QueryContext(ctx, string(ids))
	if err != nil {
		return fmt.Errorf("sqlite: claim deliveries: events: %w", err)
	}
	_, err = collect(rows, func(sc scanner) (struct{}, error) {
		var id string
		var e eventInfo
		if err := sc.Scan(&id, &e.typ, &e.payload, &e.audience); err != nil {
			return struct{}{}, err
		}
		events[id] = &e
		return struct{}{}, nil
	}, "claim deliveries: events")
	if err != nil {
		return err
	}

	type webhookInfo struct {
		state   webhookd.WebhookState
		secrets []webhookd.SigningSecret
	}
	webhooks := make(map[string]*webhookInfo, len(webhookIDs))
	if len(webhookIDs) > 0 {
		ids, err := json.Marshal(webhookIDs)
		if err != nil {
			return fmt.Errorf("sqlite: claim deliveries: %w", err)
		}
		rows, err := s.stmts.claimWebhooks.QueryContext(ctx, micros(s.now()), string(ids))
		if err != nil {
			return fmt.Errorf("sqlite: claim deliveries: webhooks: %w", err)
		}
		_, err = collect(rows, func(sc scanner) (struct{}, error) {
			var id string
			var state webhookd.WebhookState
			sec, ok, err := scanSecret(sc, &id, &state)
			if err != nil {
				return struct{}{}, err
			}
			w := webhooks[id]
			if w == nil {
				w = &webhookInfo{state: state}
				webhooks[id] = w
			}
			if ok {
				w.secrets = append(w.secrets, sec)
			}
			return struct{}{}, nil
		}, "claim deliveries: webhooks")
		if err != nil {
			return err
		}
	}

	for _, c := range claims {
		e := events[c.Delivery.EventID]
		if e == nil { // impossible while deliveries reference events
			return fmt.Errorf("sqlite: claim deliveries: event %s of delivery %s is missing", c.Delivery.EventID, c.Delivery.ID)
		}
		c.EventType, c.Payload, c.Audience = e.typ, e.payload, e.audience
		if w := webhooks[c.Delivery.WebhookID]; w != nil && c.Delivery.Kind == webhookd.DeliveryStatic {
			c.WebhookState, c.Secrets = w.state, w.secrets
		}
	}
	return nil
}

// RecordResults applies a batch of results in one transaction with the
// prepared statements of the hot path.
func (s *Store) RecordResults(ctx context.Context, results []webhookd.Result) error {
	for _, r := range results {
		switch r.Outcome {
		case webhookd.OutcomeSucceeded, webhookd.OutcomeRetry, webhookd.OutcomeFailed, webhookd.OutcomeDeferred:
		default:
			return webhookd.Errorf(webhookd.EINVALID, "delivery %s: unknown outcome %q", r.DeliveryID, r.Outcome)
		}
	}
	if len(results) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		rec := &recorder{
			now:              micros(s.now()),
			record:           tx.StmtContext(ctx, s.stmts.record),
			insertAttempt:    tx.StmtContext(ctx, s.stmts.insertAttempt),
			webhookFailed:    tx.StmtContext(ctx, s.stmts.webhookFailed),
			webhookSucceeded: tx.StmtContext(ctx, s.stmts.webhookSucceeded),
			cleared:          map[string]bool{},
		}
		for _, r := range results {
			if err := rec.apply(ctx, r); err != nil {
				return fmt.Errorf("sqlite: record result of %s: %w", r.DeliveryID, err)
			}
		}
		return nil
	})
}

// recorder applies the results of one RecordResults transaction.
type recorder struct {
	now                                                    int64
	record, insertAttempt, webhookFailed, webhookSucceeded *sql.Stmt
	// cleared holds the webhooks whose failing run a success of this batch
	// has ended, with no failure since: another success has nothing to do.
	cleared map[string]bool
}

func (rec *recorder) apply(ctx context.Context, r webhookd.Result) error {
	now, record, insertAttempt := rec.now, rec.record, rec.insertAttempt
	state := webhookd.DeliveryPending
	switch r.Outcome {
	case webhookd.OutcomeSucceeded:
		state = webhookd.DeliverySucceeded
	case webhookd.OutcomeFailed:
		state = webhookd.DeliveryFailed
	}
	// NULL leaves a column as it is (see sqlRecord).
	var next, attemptTime, status, errText any
	attempted := 0
	if r.Outcome == webhookd.OutcomeRetry || r.Outcome == webhookd.OutcomeDeferred {
		next = micros(r.NextAttemptTime)
	}
	if a := r.Attempt; a != nil {
		attempted = 1
		attemptTime, status, errText = micros(a.Time), a.StatusCode, a.Error
	} else if r.Error != "" {
		errText = r.Error
	}

	var kind, webhookID string
	err := record.QueryRowContext(ctx,
		sql.Named("state", string(state)),
		sql.Named("attempted", attempted),
		sql.Named("next_attempt_time", next),
		sql.Named("attempt_time", attemptTime),
		sql.Named("status_code", status),
		sql.Named("error", errText),
		sql.Named("now", now),
		sql.Named("id", r.DeliveryID),
		sql.Named("lease_token", r.LeaseToken),
	).Scan(&kind, &webhookID)
	if err == sql.ErrNoRows {
		return nil // stale lease: someone else holds the delivery now
	}
	if err != nil {
		return err
	}

	if a := r.Attempt; a != nil {
		id := a.ID
		if id == "" {
			id = newSortableID(webhookd.PrefixAttempt, time.UnixMicro(now))
		}
		_, err := insertAttempt.ExecContext(ctx,
			sql.Named("id", id),
			sql.Named("delivery_id", r.DeliveryID),
			sql.Named("time", micros(a.Time)),
			sql.Named("status_code", a.StatusCode),
			sql.Named("latency_ns", int64(a.Latency)),
			sql.Named("error", a.Error),
			sql.Named("response_body", a.ResponseBody),
		)
		if err != nil {
			return fmt.Errorf("attempt: %w", err)
		}
	}

	if r.DisableAfter <= 0 || webhookd.DeliveryKind(kind) != webhookd.DeliveryStatic || webhookID == "" {
		return nil
	}
	switch {
	case r.Outcome == webhookd.OutcomeSucceeded:
		if rec.cleared[webhookID] {
			return nil
		}
		if _, err := rec.webhookSucceeded.ExecContext(ctx, webhookID); err != nil {
			return fmt.Errorf("webhook %s: %w", webhookID, err)
		}
		rec.cleared[webhookID] = true
	case r.Attempt != nil && (r.Outcome == webhookd.OutcomeRetry || r.Outcome == webhookd.OutcomeFailed):
		delete(rec.cleared, webhookID)
		_, err := rec.webhookFailed.ExecContext(ctx,
			sql.Named("attempt_time", micros(r.Attempt.Time)),
			sql.Named("disable_after", r.DisableAfter.Microseconds()),
			sql.Named("now", now),
			sql.Named("id", webhookID),
		)
		if err != nil {
			return fmt.Errorf("webhook %s: %w", webhookID, err)
		}
	}
	return nil
}

// QueueStats counts pending deliveries at the store clock's now. Both counts
// come from the deliveries_due index.
func (s *Store) QueueStats(ctx context.Context) (webhookd.QueueStats, error) {
	var st webhookd.QueueStats
	var oldest sql.NullInt64
	now := micros(s.now())
	err := s.reader.QueryRowContext(ctx, `SELECT
		count(*),
		count(*) FILTER (WHERE next_attempt_time <= :now),
		min(next_attempt_time) FILTER (WHERE next_attempt_time <= :now)
		FROM deliveries WHERE state = 'pending'`, sql.Named("now", now)).Scan(&st.Pending, &st.Due, &oldest)
	if err != nil {
		return st, fmt.Errorf("sqlite: queue stats: %w", err)
	}
	if oldest.Valid {
		st.OldestDue = fromMicros(oldest.Int64)
	}
	return st, nil
}
