package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
)

var _ webhookd.OperationStore = (*Store)(nil)

const operationColumns = `o.id, o.project_id, o.kind, o.model, o.agent, o.display_name, o.state, o.request, o.result,
	o.error_code, o.error_message, o.webhook_config, o.create_time, o.update_time, o.end_time, o.expire_time,
	o.next_step_time, o.version`

func scanOperation(row pgx.CollectableRow) (*webhookd.Operation, error) {
	var (
		op             webhookd.Operation
		request, reslt []byte
		wc             *string
	)
	err := row.Scan(&op.ID, &op.ProjectID, &op.Kind, &op.Model, &op.Agent, &op.DisplayName, &op.State, &request, &reslt,
		&op.ErrorCode, &op.ErrorMessage, &wc, &op.CreateTime, &op.UpdateTime, &op.EndTime, &op.ExpireTime,
		&op.NextStepTime, &op.Version)
	if err != nil {
		return nil, err
	}
	op.Request, op.Result = request, reslt
	if wc != nil {
		op.WebhookConfig = new(webhookd.WebhookConfig)
		if err := json.Unmarshal([]byte(*wc), op.WebhookConfig); err != nil {
			return nil, fmt.Errorf("operation %s: webhook_config: %w", op.ID, err)
		}
	}
	return &op, nil
}

// operationArgs are the values of every column but id and project_id, in
// the order of the INSERT and UPDATE below.
func operationArgs(op *webhookd.Operation) ([]any, error) {
	var wc *string
	if op.WebhookConfig != nil {
		b, err := json.Marshal(op.WebhookConfig)
		if err != nil {
			return nil, webhookd.FieldErrorf("webhook_config", "webhook_config: %v", err)
		}
		str := string(b)
		wc = &str
	}
	return []any{op.ID, op.ProjectID, string(op.Kind), op.Model, op.Agent, op.DisplayName, string(op.State),
		nullBytes(op.Request), nullBytes(op.Result), op.ErrorCode, op.ErrorMessage, wc, op.CreateTime, op.UpdateTime,
		nullTime(op.EndTime), nullTime(op.ExpireTime), nullTime(op.NextStepTime), op.Version}, nil
}

// nullBytes stores an absent JSON document as NULL, so that it reads back nil.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// CommitOperationChange applies c in one transaction: operations created and
// updated (each update under its version check), files, and events with
// their deliveries. The delivery engines are woken after commit.
func (s *Store) CommitOperationChange(ctx context.Context, c webhookd.OperationChange) error {
	if c.Empty() {
		return nil
	}
	deliveries := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		deliveries, err = c.Write(ctx, changeWriter{s, tx, s.now()})
		return err
	})
	if err != nil {
		return mapErr(err, "commit operation change", "Operation")
	}
	if deliveries > 0 {
		s.wakeAll()
	}
	return nil
}

// changeWriter makes an operation change's writes in tx at now (see
// webhookd.ChangeWriter).
type changeWriter struct {
	s   *Store
	tx  pgx.Tx
	now time.Time
}

// Publish publishes the change's events without a hand-off: they are
// claimed.
func (w changeWriter) Publish(ctx context.Context, events []webhookd.NewEvent) ([]webhookd.PlannedEvent, error) {
	planned, _, err := w.s.publishTx(ctx, w.tx, nil, w.now, events, true)
	return planned, err
}

// InsertOperation writes a new operation.
func (w changeWriter) InsertOperation(ctx context.Context, op *webhookd.Operation) error {
	args, err := operationArgs(op)
	if err != nil {
		return err
	}
	_, err = w.tx.Exec(ctx, `INSERT INTO operations (id, project_id, kind, model, agent, display_name, state, request, result,
			error_code, error_message, webhook_config, create_time, update_time, end_time, expire_time, next_step_time, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`, args...)
	return mapCreateErr(err, "create operation", "Operation")
}

// UpdateOperation writes op whole if the stored version is op.Version-1:
// a writer holding a stale copy conflicts and writes nothing.
func (w changeWriter) UpdateOperation(ctx context.Context, op *webhookd.Operation) error {
	args, err := operationArgs(op)
	if err != nil {
		return err
	}
	tag, err := w.tx.Exec(ctx, `UPDATE operations SET kind = $3, model = $4, agent = $5, display_name = $6, state = $7,
			request = $8, result = $9, error_code = $10, error_message = $11, webhook_config = $12, create_time = $13,
			update_time = $14, end_time = $15, expire_time = $16, next_step_time = $17, version = $18
		WHERE project_id = $2 AND id = $1 AND version = $18 - 1`, args...)
	if err != nil || tag.RowsAffected() == 1 {
		return err
	}
	var stored int64
	err = w.tx.QueryRow(ctx, `SELECT version FROM operations WHERE project_id = $1 AND id = $2`, op.ProjectID, op.ID).Scan(&stored)
	if err != nil {
		return mapErr(err, "update operation", "Operation")
	}
	return op.StaleError(stored)
}

// GetOperation returns one operation of the project.
func (s *Store) GetOperation(ctx context.Context, projectID, id string) (*webhookd.Operation, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+operationColumns+` FROM operations o WHERE o.project_id = $1 AND o.id = $2`, projectID, id)
	op, err := pgx.CollectExactlyOneRow(rows, scanOperation)
	return op, mapErr(err, "get operation", "Operation")
}

// ListOperations returns a page of a project's operations, newest first.
func (s *Store) ListOperations(ctx context.Context, projectID string, filter webhookd.OperationFilter, page webhookd.Page) ([]*webhookd.Operation, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+operationColumns+` FROM operations o
		WHERE o.project_id = $1 AND ($2 = '' OR o.kind = $2) AND ($3 OR (o.create_time, o.id) < ($4, $5))
		ORDER BY o.create_time DESC, o.id DESC
		LIMIT $6`, projectID, string(filter.Kind), page.After.IsZero(), page.After.Time, page.After.ID, limitOf(page.Size))
	ops, err := pgx.CollectRows(rows, scanOperation)
	return ops, mapErr(err, "list operations", "Operation")
}

// DeleteOperation removes an operation; its committed events and its files
// stay.
func (s *Store) DeleteOperation(ctx context.Context, projectID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM operations WHERE project_id = $1 AND id = $2`, projectID, id)
	if err != nil {
		return mapErr(err, "delete operation", "Operation")
	}
	return affectedOne(tag, "Operation")
}

// ClaimOperations leases up to limit due operations, earliest first, the same
// way (and with the same plan) as ClaimDeliveries leases deliveries. The version bump fences the previous
// holder: its commit fails the version check.
func (s *Store) ClaimOperations(ctx context.Context, limit int, lease time.Duration) ([]*webhookd.Operation, error) {
	if limit <= 0 {
		return nil, nil
	}
	now := s.now()
	rows, _ := s.pool.Query(ctx, `WITH due AS (
			SELECT id, next_step_time AS due_time
			FROM operations
			WHERE next_step_time <= $1
			ORDER BY next_step_time
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE operations o SET next_step_time = $3, version = o.version + 1
			WHERE o.id = ANY (ARRAY (SELECT id FROM due))
			RETURNING o.*
		)
		SELECT `+operationColumns+` FROM claimed o JOIN due ON due.id = o.id ORDER BY due.due_time, o.id`, now, limit, now.Add(lease))
	ops, err := pgx.CollectRows(rows, scanOperation)
	return ops, mapErr(err, "claim operations", "Operation")
}
