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
	var eventIDs []string
	seenEvent := map[string]bool{}
	for _, c := range claims {
		if id := c.Delivery.EventID; !seenEvent[id] {
			seenEvent[id] = true
			eventIDs = append(eventIDs, id)
		}
	}

	type eventInfo struct {
		typ         string
		payload     []byte
		traceparent string
		audience    string
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
		if err := sc.Scan(&id, &e.typ, &e.payload, &e.traceparent, &e.audience); err != nil {
			return struct{}{}, err
		}
		events[id] = &e
		return struct{}{}, nil
	}, "claim deliveries: events")
	if err != nil {
		return err
	}

	webhooks, err := s.loadWebhooks(ctx, s.stmts.claimWebhooks, claims)
	if err != nil {
		return err
	}

	for _, c := range claims {
		e := events[c.Delivery.EventID]
		if e == nil { // impossible while deliveries reference events
			return fmt.Errorf("sqlite: claim deliveries: event %s of delivery %s is missing", c.Delivery.EventID, c.Delivery.ID)
		}
		c.EventType, c.Payload, c.TraceParent, c.Audience = e.typ, e.payload, e.traceparent, e.audience
	}
	webhooks.fill(claims)
	return nil
}

// webhookInfo is what a static delivery's claim needs of its webhook.
type webhookInfo struct {
	state   webhookd.WebhookState
	secrets []webhookd.SigningSecret
	headers map[string]string
}

// webhookInfos are webhookInfo by webhook id.
type webhookInfos map[string]*webhookInfo

// fill sets the webhook state, secrets and headers of the static claims. A webhook
// that is gone leaves them empty: the engine fails such a delivery.
func (ws webhookInfos) fill(claims []*webhookd.Claim) {
	for _, c := range claims {
		if w := ws[c.Delivery.WebhookID]; w != nil && c.Delivery.Kind == webhookd.DeliveryStatic {
			c.WebhookState, c.Secrets, c.Headers = w.state, w.secrets, w.headers
		}
	}
}

// loadWebhooks reads the state, headers and live secrets of the claims' webhooks with
// st, a claimWebhooks statement (of the read pool, or of the writer).
func (s *Store) loadWebhooks(ctx context.Context, st *sql.Stmt, claims []*webhookd.Claim) (webhookInfos, error) {
	var ids []string
	seen := map[string]bool{}
	for _, c := range claims {
		if id := c.Delivery.WebhookID; id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	webhooks := make(webhookInfos, len(ids))
	if len(ids) == 0 {
		return webhooks, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries: %w", err)
	}
	rows, err := st.QueryContext(ctx, micros(s.now()), string(list))
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries: webhooks: %w", err)
	}
	_, err = collect(rows, func(sc scanner) (struct{}, error) {
		var id, headers string
		var state webhookd.WebhookState
		sec, ok, err := scanSecret(sc, &id, &state, &headers)
		if err != nil {
			return struct{}{}, err
		}
		w := webhooks[id]
		if w == nil {
			h, err := decodeHeaders(headers)
			if err != nil {
				return struct{}{}, fmt.Errorf("webhook %s: headers: %w", id, err)
			}
			w = &webhookInfo{state: state, headers: h}
			webhooks[id] = w
		}
		if ok {
			w.secrets = append(w.secrets, sec)
		}
		return struct{}{}, nil
	}, "claim deliveries: webhooks")
	return webhooks, err
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
