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
