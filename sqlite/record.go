package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/webhookd/webhookd"
)

// recordRow is one result as sqlRecordBatch reads it from its JSON
// parameter. Nil fields are JSON null, hence SQL NULL: "leave the column".
type recordRow struct {
	ID        string  `json:"id"`
	Token     string  `json:"token"`
	State     string  `json:"state"`
	Attempted int     `json:"attempted"`
	Next      *int64  `json:"next"`
	At        *int64  `json:"at"`
	Status    *int    `json:"status"`
	Error     *string `json:"error"`
}

// RecordResults applies a batch of results in one transaction: one UPDATE
// for every delivery, whatever the batch size (the results travel as one
// JSON parameter), then, in result order, the attempts and the webhooks'
// failing runs.
func (s *Store) RecordResults(ctx context.Context, results []webhookd.Result) error {
	rows := make([]recordRow, 0, len(results))
	for _, r := range results {
		row, err := newRecordRow(r)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil
	}
	rowsJSON, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("sqlite: record results: %w", err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		now := micros(s.now())
		dbRows, err := tx.StmtContext(ctx, s.stmts.recordBatch).QueryContext(ctx,
			sql.Named("results", string(rowsJSON)), sql.Named("now", now))
		if err != nil {
			return fmt.Errorf("sqlite: record results: %w", err)
		}
		type applied struct{ kind, webhookID string }
		done := make(map[string]*applied, len(rows))
		if _, err := collect(dbRows, func(sc scanner) (struct{}, error) {
			var id string
			var a applied
			if err := sc.Scan(&id, &a.kind, &a.webhookID); err != nil {
				return struct{}{}, err
			}
			done[id] = &a
			return struct{}{}, nil
		}, "record results"); err != nil {
			return err
		}
		if len(done) == 0 {
			return nil // every lease was stale
		}

		insertAttempt := tx.StmtContext(ctx, s.stmts.insertAttempt)
		wh := &failingRuns{now: now, failed: tx.StmtContext(ctx, s.stmts.webhookFailed),
			succeeded: tx.StmtContext(ctx, s.stmts.webhookSucceeded), cleared: map[string]bool{}}
		for _, r := range results {
			a := done[r.DeliveryID]
			if a == nil {
				continue // stale lease: someone else holds the delivery now
			}
			delete(done, r.DeliveryID) // a result repeated in the batch applies once
			if at := r.Attempt; at != nil {
				id := at.ID
				if id == "" {
					id = webhookd.NewSortableID(webhookd.PrefixAttempt, at.Time)
				}
				_, err := insertAttempt.ExecContext(ctx,
					sql.Named("id", id),
					sql.Named("delivery_id", r.DeliveryID),
					sql.Named("time", micros(at.Time)),
					sql.Named("status_code", at.StatusCode),
					sql.Named("latency_ns", int64(at.Latency)),
					sql.Named("error", at.Error),
					sql.Named("response_body", at.ResponseBody),
				)
				if err != nil {
					return fmt.Errorf("sqlite: record result of %s: attempt: %w", r.DeliveryID, err)
				}
			}
			if r.DisableAfter > 0 && webhookd.DeliveryKind(a.kind) == webhookd.DeliveryStatic && a.webhookID != "" {
				if err := wh.apply(ctx, r, a.webhookID); err != nil {
					return fmt.Errorf("sqlite: record result of %s: webhook %s: %w", r.DeliveryID, a.webhookID, err)
				}
			}
		}
		return nil
	})
}

// newRecordRow turns a result into the values sqlRecordBatch writes.
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
		at := micros(a.Time)
		row.Attempted, row.At, row.Status, row.Error = 1, &at, &a.StatusCode, &a.Error
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
		_, err := f.failed.ExecContext(ctx,
			sql.Named("attempt_time", micros(r.Attempt.Time)),
			sql.Named("disable_after", r.DisableAfter.Microseconds()),
			sql.Named("now", f.now),
			sql.Named("id", webhookID),
		)
		return err
	}
	return nil
}
