package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/webhookd/webhookd"
)

var _ webhookd.OperationStore = (*Store)(nil)

const operationColumns = `id, project_id, kind, model, agent, display_name, state, request, result,
error_code, error_message, webhook_config, create_time, update_time, end_time, expire_time, next_step_time, version`

func scanOperation(sc scanner) (*webhookd.Operation, error) {
	var (
		op                   webhookd.Operation
		request, result, wc  sql.NullString
		created, updated     int64
		end, expire, nextRun sql.NullInt64
	)
	err := sc.Scan(&op.ID, &op.ProjectID, &op.Kind, &op.Model, &op.Agent, &op.DisplayName, &op.State, &request, &result,
		&op.ErrorCode, &op.ErrorMessage, &wc, &created, &updated, &end, &expire, &nextRun, &op.Version)
	if err != nil {
		return nil, err
	}
	if request.Valid {
		op.Request = json.RawMessage(request.String)
	}
	if result.Valid {
		op.Result = json.RawMessage(result.String)
	}
	if wc.Valid {
		op.WebhookConfig = new(webhookd.WebhookConfig)
		if err := json.Unmarshal([]byte(wc.String), op.WebhookConfig); err != nil {
			return nil, fmt.Errorf("operation %s: webhook_config: %w", op.ID, err)
		}
	}
	op.CreateTime, op.UpdateTime = fromMicros(created), fromMicros(updated)
	op.EndTime, op.ExpireTime, op.NextStepTime = timePtr(end), timePtr(expire), timePtr(nextRun)
	return &op, nil
}

// nullText stores an absent JSON document as NULL, so that it reads back nil.
func nullText(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// operationArgs are the values of operationColumns, in order.
func operationArgs(op *webhookd.Operation) ([]any, error) {
	var wc any
	if op.WebhookConfig != nil {
		b, err := json.Marshal(op.WebhookConfig)
		if err != nil {
			return nil, webhookd.FieldErrorf("webhook_config", "webhook_config: %v", err)
		}
		wc = string(b)
	}
	return []any{op.ID, op.ProjectID, string(op.Kind), op.Model, op.Agent, op.DisplayName, string(op.State),
		nullText(op.Request), nullText(op.Result), op.ErrorCode, op.ErrorMessage, wc,
		micros(op.CreateTime), micros(op.UpdateTime), nullMicros(op.EndTime), nullMicros(op.ExpireTime),
		nullMicros(op.NextStepTime), op.Version}, nil
}

// CommitOperationChange applies c in one transaction: operations created and
// updated (each update under its version check), files, and events with
// their deliveries. Listeners are woken after the commit when deliveries
// became due.
func (s *Store) CommitOperationChange(ctx context.Context, c webhookd.OperationChange) error {
	if c.Empty() {
		return nil
	}
	deliveries := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		deliveries, err = c.Write(ctx, changeWriter{s, tx, s.now()})
		return err
	})
	if err != nil {
		return err
	}
	if deliveries > 0 {
		s.wake()
	}
	return nil
}

// changeWriter makes an operation change's writes in tx at now (see
// webhookd.ChangeWriter).
type changeWriter struct {
	s   *Store
	tx  *sql.Tx
	now time.Time
}

// Publish publishes the change's events without a hand-off: they are
// claimed.
func (w changeWriter) Publish(ctx context.Context, events []webhookd.NewEvent) ([]webhookd.PlannedEvent, error) {
	planned, _, err := w.s.publishTx(ctx, w.tx, nil, webhookd.NewPlanner(planReader{w.s, w.tx}, w.s.filters, w.now), audiences{}, events)
	return planned, err
}

// InsertOperation writes a new operation.
func (w changeWriter) InsertOperation(ctx context.Context, op *webhookd.Operation) error {
	args, err := operationArgs(op)
	if err != nil {
		return err
	}
	_, err = w.tx.ExecContext(ctx, `INSERT INTO operations (`+operationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return mapCreateErr(err, "create operation", "Operation")
}

// UpdateOperation writes op whole if the stored version is op.Version-1: a
// writer holding a stale copy conflicts and writes nothing.
func (w changeWriter) UpdateOperation(ctx context.Context, op *webhookd.Operation) error {
	args, err := operationArgs(op)
	if err != nil {
		return err
	}
	res, err := w.tx.ExecContext(ctx, `UPDATE operations SET kind = ?3, model = ?4, agent = ?5, display_name = ?6,
			state = ?7, request = ?8, result = ?9, error_code = ?10, error_message = ?11, webhook_config = ?12,
			create_time = ?13, update_time = ?14, end_time = ?15, expire_time = ?16, next_step_time = ?17, version = ?18
		WHERE id = ?1 AND project_id = ?2 AND version = ?18 - 1`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: update operation: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var stored int64
	err = w.tx.QueryRowContext(ctx, `SELECT version FROM operations WHERE project_id = ? AND id = ?`, op.ProjectID, op.ID).Scan(&stored)
	if err != nil {
		return mapErr(err, "update operation", "Operation")
	}
	return op.StaleError(stored)
}

// GetOperation returns one operation of the project.
func (s *Store) GetOperation(ctx context.Context, projectID, id string) (*webhookd.Operation, error) {
	op, err := scanOperation(s.reader.QueryRowContext(ctx,
		`SELECT `+operationColumns+` FROM operations WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil {
		return nil, mapErr(err, "get operation", "Operation")
	}
	return op, nil
}

// ListOperations returns a page of a project's operations, newest first.
func (s *Store) ListOperations(ctx context.Context, projectID string, filter webhookd.OperationFilter, page webhookd.Page) ([]*webhookd.Operation, error) {
	beforeTime, beforeID := int64(math.MaxInt64), ""
	if !page.After.IsZero() {
		beforeTime, beforeID = micros(page.After.Time), page.After.ID
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+operationColumns+` FROM operations
		WHERE project_id = ? AND (? = '' OR kind = ?) AND (create_time, id) < (?, ?)
		ORDER BY create_time DESC, id DESC LIMIT ?`,
		projectID, string(filter.Kind), string(filter.Kind), beforeTime, beforeID, limit(page))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list operations: %w", err)
	}
	return collect(rows, scanOperation, "list operations")
}

// DeleteOperation removes an operation; its committed events and its files
// stay.
func (s *Store) DeleteOperation(ctx context.Context, projectID, id string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM operations WHERE project_id = ? AND id = ?`, projectID, id)
		return affectedOne(res, err, "delete operation", "Operation")
	})
}

// sqlDueOperations walks the partial index operations_due.
const sqlDueOperations = `SELECT id, next_step_time FROM operations
WHERE next_step_time <= ? ORDER BY next_step_time, id LIMIT ?`

// ClaimOperations leases up to limit due operations, earliest first, the way
// ClaimDeliveries leases deliveries; the version bump fences the previous
// holder, whose commit then fails the version check. SQLite's RETURNING sees
// only new values, so the due order is read first, in the same transaction.
func (s *Store) ClaimOperations(ctx context.Context, limit int, lease time.Duration) ([]*webhookd.Operation, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, webhookd.Errorf(webhookd.EINVALID, "lease must be positive, got %v", lease)
	}
	var ops []*webhookd.Operation
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := s.now()
		rows, err := tx.QueryContext(ctx, sqlDueOperations, micros(now), limit)
		if err != nil {
			return fmt.Errorf("sqlite: claim operations: %w", err)
		}
		type due struct {
			id   string
			time int64
		}
		dues, err := collect(rows, func(sc scanner) (due, error) {
			var d due
			return d, sc.Scan(&d.id, &d.time)
		}, "claim operations")
		if err != nil || len(dues) == 0 {
			return err
		}
		order := make(map[string]int, len(dues))
		ids := make([]string, len(dues))
		for i, d := range dues {
			order[d.id], ids[i] = i, d.id
		}
		idsJSON, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("sqlite: claim operations: %w", err)
		}
		rows, err = tx.QueryContext(ctx, `UPDATE operations SET next_step_time = ?, version = version + 1
			WHERE id IN (SELECT value FROM json_each(?))
			RETURNING `+operationColumns, micros(now.Add(lease)), string(idsJSON))
		if err != nil {
			return fmt.Errorf("sqlite: claim operations: %w", err)
		}
		if ops, err = collect(rows, scanOperation, "claim operations"); err != nil {
			return err
		}
		slices.SortFunc(ops, func(a, b *webhookd.Operation) int { return cmp.Compare(order[a.ID], order[b.ID]) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ops, nil
}
