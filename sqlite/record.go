package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/lease"
)

// recordRow is one result as sqlRecordRow binds it. Nil fields are NULL:
// "leave the column". With an attempt, the delivery's row holds it from now
// on: AttemptID, Latency, Body, Stage and Headers beside At, Status and
// Error.
type recordRow struct {
	ID        string
	Token     string
	State     string
	Attempted int
	Next      *int64
	At        *int64
	Status    *int
	Error     *string

	AttemptID *string
	Latency   *int64
	Body      *string
	Stage     *string
	Headers   *string
}

// appendArgs appends r's values in sqlRecordRow's order.
func (r *recordRow) appendArgs(args []any) []any {
	return append(args, r.ID, r.Token, r.State, r.Attempted, r.Next, r.At, r.Status, r.Error,
		r.AttemptID, r.Latency, r.Body, r.Stage, r.Headers)
}

// RecordResults applies a batch of results in one transaction: the
// deliveries, a few statements for the batch (see multiRow), then, in result
// order, the webhooks' failing runs. Each attempt goes onto its delivery's
// row; the attempt the row held before moves to attempts (migration 0005).
// A delivery with results of several claims in the batch takes the one
// holding its lease (see lease.OnePerDelivery).
func (s *Store) RecordResults(ctx context.Context, results []webhookd.Result) error {
	if len(results) == 0 {
		return nil
	}
	published := false // operational events created deliveries
	err := s.write(ctx, func(tx *sql.Tx) error {
		batch, err := lease.OnePerDelivery(results, func(ids []string) (map[string]string, error) {
			return leaseTokens(ctx, tx, ids)
		})
		if err != nil {
			return fmt.Errorf("sqlite: record results: %w", err)
		}
		if len(batch) == 0 {
			return nil // every result was a stale claim's
		}
		rows := make([]recordRow, len(batch))
		for i, r := range batch {
			if rows[i], err = newRecordRow(r); err != nil {
				return err
			}
		}
		now := micros(s.now())

		type applied struct{ kind, webhookID string }
		done := make(map[string]*applied, len(rows))
		next := 0
		err = forRows(s.stmts.record, len(rows), []any{now}, func(args []any) []any {
			next++
			return rows[next-1].appendArgs(args)
		}, func(st *sql.Stmt, args []any) error {
			dbRows, err := tx.StmtContext(ctx, st).QueryContext(ctx, args...)
			if err != nil {
				return fmt.Errorf("sqlite: record results: %w", err)
			}
			_, err = collect(dbRows, func(sc scanner) (struct{}, error) {
				var id string
				var a applied
				if err := sc.Scan(&id, &a.kind, &a.webhookID); err != nil {
					return struct{}{}, err
				}
				done[id] = &a
				return struct{}{}, nil
			}, "record results")
			return err
		})
		if err != nil {
			return err
		}
		if len(done) == 0 {
			return nil // every lease was stale
		}

		wh := &failingRuns{now: now, failed: tx.StmtContext(ctx, s.stmts.webhookFailed),
			succeeded: tx.StmtContext(ctx, s.stmts.webhookSucceeded), cleared: map[string]bool{}, disabled: map[string]bool{}}
		var exhausted []string
		for _, r := range batch {
			a := done[r.DeliveryID]
			if a == nil {
				continue // stale lease: someone else holds the delivery now
			}
			static := webhookd.DeliveryKind(a.kind) == webhookd.DeliveryStatic && a.webhookID != ""
			switch {
			case r.Gone && static:
				if err := wh.gone(ctx, tx, r, a.webhookID); err != nil {
					return fmt.Errorf("sqlite: record result of %s: webhook %s: %w", r.DeliveryID, a.webhookID, err)
				}
			case r.Outcome == webhookd.OutcomeFailed && r.Attempt != nil:
				exhausted = append(exhausted, r.DeliveryID)
			}
			if r.DisableAfter > 0 && static && !r.Gone {
				if err := wh.apply(ctx, r, a.webhookID); err != nil {
					return fmt.Errorf("sqlite: record result of %s: webhook %s: %w", r.DeliveryID, a.webhookID, err)
				}
			}
		}
		ops, err := exhaustedEvents(ctx, tx, exhausted)
		if err != nil {
			return fmt.Errorf("sqlite: record results: %w", err)
		}
		ops = append(wh.events, ops...)
		if len(ops) == 0 {
			return nil
		}
		planned, _, err := s.publishTx(ctx, tx, nil, webhookd.NewPlanner(planReader{s, tx}, s.filters, fromMicros(now)), audiences{}, ops)
		if err != nil {
			return fmt.Errorf("sqlite: record results: operational events: %w", err)
		}
		published = webhookd.NewDeliveries(planned) > 0
		return nil
	})
	if err == nil && published {
		s.wake()
	}
	return err
}

// exhaustedEvents returns delivery.exhausted for each of the deliveries
// (failed after an attempt, just now) that warrants one.
func exhaustedEvents(ctx context.Context, tx *sql.Tx, ids []string) ([]webhookd.NewEvent, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.project_id, d.event_id, e.type, d.webhook_id, d.uri, d.attempt_count,
			coalesce(d.last_status_code, 0), d.last_error
		FROM deliveries d JOIN events e ON e.id = d.event_id
		WHERE d.id IN (SELECT value FROM json_each(?)) ORDER BY d.id`, string(idsJSON))
	if err != nil {
		return nil, err
	}
	var out []webhookd.NewEvent
	_, err = collect(rows, func(sc scanner) (struct{}, error) {
		var projectID string
		var d webhookd.DeliveryExhaustedData
		if err := sc.Scan(&d.DeliveryID, &projectID, &d.EventID, &d.EventType, &d.WebhookID, &d.URI, &d.AttemptCount, &d.LastStatusCode, &d.LastError); err != nil {
			return struct{}{}, err
		}
		if ne, ok := webhookd.DeliveryExhaustedEvent(projectID, d); ok {
			out = append(out, ne)
		}
		return struct{}{}, nil
	}, "exhausted deliveries")
	return out, err
}

// leaseTokens returns the current lease token of each of the deliveries.
func leaseTokens(ctx context.Context, tx *sql.Tx, ids []string) (map[string]string, error) {
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, lease_token FROM deliveries WHERE id IN (SELECT value FROM json_each(?))`, string(idsJSON))
	if err != nil {
		return nil, err
	}
	tokens := make(map[string]string, len(ids))
	_, err = collect(rows, func(sc scanner) (struct{}, error) {
		var id, token string
		err := sc.Scan(&id, &token)
		tokens[id] = token
		return struct{}{}, err
	}, "lease tokens")
	return tokens, err
}

// newRecordRow turns a result into the values sqlRecordRow binds.
func newRecordRow(r webhookd.Result) (recordRow, error) {
	row := recordRow{ID: r.DeliveryID, Token: r.LeaseToken, State: string(webhookd.DeliveryPending)}
	switch r.Outcome {
	case webhookd.OutcomeSucceeded:
		row.State = string(webhookd.DeliverySucceeded)
	case webhookd.OutcomeFailed:
		row.State = string(webhookd.DeliveryFailed)
	case webhookd.OutcomeRetry, webhookd.OutcomeDeferred:
		next := micros(r.NextAttemptTime)
		row.Next = &next
	default:
		return row, webhookd.Errorf(webhookd.EINVALID, "delivery %s: unknown outcome %q", r.DeliveryID, r.Outcome)
	}
	if a := r.Attempt; a != nil {
		at, latency := micros(a.Time), int64(a.Latency)
		id := a.ID
		if id == "" {
			id = webhookd.NewSortableID(webhookd.PrefixAttempt, a.Time)
		}
		row.Attempted, row.At, row.Status, row.Error = 1, &at, &a.StatusCode, &a.Error
		row.AttemptID, row.Latency, row.Body = &id, &latency, &a.ResponseBody
		row.Stage, row.Headers = &a.ErrorStage, &a.ResponseHeaders
	} else if r.Error != "" {
		row.Error = &r.Error
	}
	return row, nil
}

// failingRuns applies auto-disable for the results of one batch, in order.
type failingRuns struct {
	now               int64
	failed, succeeded *sql.Stmt
	// cleared holds the webhooks whose failing run a success of this batch
	// has ended, with no failure since: another success has nothing to do.
	cleared map[string]bool
	// disabled holds the webhooks this batch disabled, and events the
	// webhook.disabled events that tell of it.
	disabled map[string]bool
	events   []webhookd.NewEvent
}

// gone disables webhookID at once, if it is enabled, because r's attempt
// was answered 410 Gone.
func (f *failingRuns) gone(ctx context.Context, tx *sql.Tx, r webhookd.Result, webhookID string) error {
	w := webhookd.Webhook{ID: webhookID, State: webhookd.WebhookDisabled}
	err := tx.QueryRowContext(ctx, `UPDATE webhooks SET state = 'disabled', update_time = ?
		WHERE id = ? AND state = 'enabled' RETURNING project_id, uri`, f.now, webhookID).Scan(&w.ProjectID, &w.URI)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // not enabled (or deleted): nothing changes
	}
	if err != nil {
		return err
	}
	f.disabled[webhookID] = true
	f.events = append(f.events, webhookd.WebhookDisabledEvent(&w, webhookd.DisabledGone, "receiver answered 410 Gone", r.DeliveryID))
	return nil
}

func (f *failingRuns) apply(ctx context.Context, r webhookd.Result, webhookID string) error {
	switch {
	case r.Outcome == webhookd.OutcomeSucceeded:
		if f.cleared[webhookID] {
			return nil
		}
		if _, err := f.succeeded.ExecContext(ctx, webhookID); err != nil {
			return err
		}
		f.cleared[webhookID] = true
	case r.Attempt != nil && (r.Outcome == webhookd.OutcomeRetry || r.Outcome == webhookd.OutcomeFailed):
		delete(f.cleared, webhookID)
		w := webhookd.Webhook{ID: webhookID}
		var disabledNow bool
		err := f.failed.QueryRowContext(ctx,
			sql.Named("attempt_time", micros(r.Attempt.Time)),
			sql.Named("disable_after", r.DisableAfter.Microseconds()),
			sql.Named("now", f.now),
			sql.Named("id", webhookID),
		).Scan(&w.ProjectID, &w.URI, &w.State, &disabledNow)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil // deleted meanwhile
		case err != nil:
			return err
		case disabledNow && !f.disabled[webhookID]:
			f.disabled[webhookID] = true
			f.events = append(f.events, webhookd.WebhookDisabledEvent(&w, webhookd.DisabledFailedDeliveries,
				fmt.Sprintf("failing continuously for %s", r.DisableAfter), r.DeliveryID))
		}
		return nil
	}
	return nil
}
