package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/handoff"
)

const eventColumns = `id, project_id, type, payload, webhook_config, idempotency_key, source, traceparent, create_time, delivery_count`

func scanEvent(sc scanner) (*webhookd.Event, error) {
	var e webhookd.Event
	var cfg sql.NullString
	var created int64
	if err := sc.Scan(&e.ID, &e.ProjectID, &e.Type, &e.Payload, &cfg, &e.IdempotencyKey, &e.Source, &e.TraceParent, &created, &e.DeliveryCount); err != nil {
		return nil, err
	}
	if cfg.Valid {
		e.WebhookConfig = &webhookd.WebhookConfig{}
		if err := json.Unmarshal([]byte(cfg.String), e.WebhookConfig); err != nil {
			return nil, fmt.Errorf("event %s: webhook_config: %w", e.ID, err)
		}
	}
	e.CreateTime = fromMicros(created)
	return &e, nil
}

// publishTx plans a request's events with planner and writes the new ones
// and their deliveries in tx, each delivery as ho admits it (see
// writeEvents), for every transaction that publishes: PublishEvent's
// batches, and operation changes. A request fails as a whole, with
// nothing written, when one of its events does: failed is its index (-1
// when err is the database's, and the transaction must roll back).
// Planning every event before writing any is what lets a request fail
// beside the requests that share its transaction without a savepoint,
// which would write every page the request changes to a sub-journal.
func (s *Store) publishTx(ctx context.Context, tx *sql.Tx, ho *handoff.Tx, planner *webhookd.Planner, audiences audiences, events []webhookd.NewEvent) (
	planned []webhookd.PlannedEvent, failed int, err error,
) {
	if planned, failed, err = planner.Plan(ctx, events); err != nil {
		return nil, failed, err
	}
	for i, p := range planned {
		if p.Created {
			if _, err := audiences.of(ctx, s, tx, p.Event.ProjectID); err != nil {
				return nil, i, err
			}
		}
	}
	if err := s.writeEvents(ctx, tx, ho, planned); err != nil {
		return nil, -1, err
	}
	return planned, -1, nil
}

// routeColumns are the columns of a webhook that routing reads (see
// scanRouteWebhook): what webhookd.Route decides by, and what a delivery
// needs.
const routeColumns = `id, uri, state, subscribed_events, filter`

// scanRouteWebhook scans routeColumns.
func scanRouteWebhook(sc scanner) (*webhookd.Webhook, error) {
	var w webhookd.Webhook
	var events string
	if err := sc.Scan(&w.ID, &w.URI, &w.State, &events, &w.Filter); err != nil {
		return nil, err
	}
	var err error
	if w.SubscribedEvents, err = decodeEvents(events); err != nil {
		return nil, fmt.Errorf("webhook %s: subscribed_events: %w", w.ID, err)
	}
	return &w, nil
}

// decodeEvents reads a subscribed_events column. The column is written
// compact by eventsJSON, and event types are plain ASCII, so the list is
// cut out of the text without a JSON decoder (a publish reads every webhook
// of its project); anything else is decoded as JSON.
func decodeEvents(s string) ([]string, error) {
	inner, ok := strings.CutPrefix(s, "[")
	if inner, ok2 := strings.CutSuffix(inner, "]"); ok && ok2 && plainJSON(inner) {
		if inner == "" {
			return []string{}, nil
		}
		out := make([]string, 0, strings.Count(inner, ",")+1)
		for part := range strings.SplitSeq(inner, ",") {
			t, ok := strings.CutPrefix(part, `"`)
			if t, ok2 := strings.CutSuffix(t, `"`); ok && ok2 && !strings.Contains(t, `"`) {
				out = append(out, t)
				continue
			}
			out = nil
			break
		}
		if out != nil {
			return out, nil
		}
	}
	var out []string
	err := json.Unmarshal([]byte(s), &out)
	return out, err
}

// plainJSON reports whether s holds only printable ASCII that JSON reads
// as it is written: no escape, no white space.
func plainJSON(s string) bool {
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c > '~' || c == '\\' {
			return false
		}
	}
	return true
}

// planReader is what planning a publish reads, on the writer inside the
// publishing transaction (see webhookd.PublishReader).
type planReader struct {
	s  *Store
	tx *sql.Tx
}

func (r planReader) Webhook(ctx context.Context, projectID, id string) (*webhookd.Webhook, error) {
	w, err := scanRouteWebhook(r.tx.StmtContext(ctx, r.s.stmts.routeWebhook).QueryRowContext(ctx, projectID, id))
	return w, mapErr(err, "publish event: route", "Webhook")
}

func (r planReader) Webhooks(ctx context.Context, projectID string) ([]*webhookd.Webhook, error) {
	rows, err := r.tx.StmtContext(ctx, r.s.stmts.routeWebhooks).QueryContext(ctx, projectID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: publish event: route: %w", err)
	}
	return collect(rows, scanRouteWebhook, "publish event: route")
}

func (r planReader) IdempotentEvent(ctx context.Context, projectID, key string, since time.Time) (*webhookd.Event, error) {
	ev, err := scanEvent(r.tx.StmtContext(ctx, r.s.stmts.idempotentEvent).QueryRowContext(ctx, projectID, key, micros(since)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return ev, mapErr(err, "publish event: idempotency", "Event")
}

// audiences holds the projects a publish transaction found, by id, with
// their audience (for the claims it hands off): nothing a publish writes
// changes them, so a batch of one project's events looks it up once.
type audiences map[string]string

// of returns the audience of a project, which must exist.
func (a audiences) of(ctx context.Context, s *Store, tx *sql.Tx, projectID string) (string, error) {
	if aud, ok := a[projectID]; ok {
		return aud, nil
	}
	var aud string
	if err := tx.StmtContext(ctx, s.stmts.projectAudience).QueryRowContext(ctx, projectID).Scan(&aud); err != nil {
		return "", mapErr(err, "publish event", "Project")
	}
	a[projectID] = aud
	return aud, nil
}

// writeEvents inserts the new events of planned and their deliveries, the
// rows of each table in a few statements (see multiRow), each delivery as
// ho admits it: leased (kept in ho's claims, without its webhook's state and
// secrets yet; see fillHandOff), put off, or due at once. It fails only
// when the database does, and then the whole transaction must roll back.
func (s *Store) writeEvents(ctx context.Context, tx *sql.Tx, ho *handoff.Tx, planned []webhookd.PlannedEvent) error {
	var events []*webhookd.PlannedEvent
	n := 0 // deliveries
	for i := range planned {
		if p := &planned[i]; p.Created {
			events = append(events, p)
			n += len(p.Destinations)
		}
	}
	i := 0
	err := execRows(ctx, tx, s.stmts.events, len(events), func(args []any) []any {
		p := events[i]
		i++
		ev := p.Event
		return append(args, ev.ID, ev.ProjectID, ev.Type, ev.Payload, nullText(p.Config), ev.IdempotencyKey, ev.Source, ev.TraceParent, micros(ev.CreateTime), ev.DeliveryCount)
	})
	if err != nil {
		return fmt.Errorf("sqlite: publish event: %w", err)
	}
	e, j := 0, 0 // the next delivery: events[e].Destinations[j]
	err = execRows(ctx, tx, s.stmts.deliveries, n, func(args []any) []any {
		for j == len(events[e].Destinations) {
			e, j = e+1, 0
		}
		ev, dest := events[e].Event, events[e].Destinations[j]
		j++
		d := ev.NewDelivery(dest)
		ho.Admit(ev, dest, &d)
		return append(args, d.ID, d.EventID, d.ProjectID, string(d.Kind), d.WebhookID, d.URI,
			micros(d.NextAttemptTime), d.LeaseToken, micros(d.CreateTime), micros(d.UpdateTime))
	})
	if err != nil {
		return fmt.Errorf("sqlite: publish event: delivery: %w", err)
	}
	return nil
}

// execRows writes n rows with m's statements; next appends the values of
// the next row to args.
func execRows(ctx context.Context, tx *sql.Tx, m *multiRow, n int, next func(args []any) []any) error {
	return forRows(m, n, nil, next, func(st *sql.Stmt, args []any) error {
		_, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		return err
	})
}

// GetEvent implements webhookd.Store.
func (s *Store) GetEvent(ctx context.Context, projectID, id string) (*webhookd.Event, error) {
	e, err := scanEvent(s.reader.QueryRowContext(ctx,
		`SELECT `+eventColumns+` FROM events WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil {
		return nil, mapErr(err, "get event", "Event")
	}
	return e, nil
}

// ListEvents returns a page of a project's events that f keeps, newest
// first. The filter's conditions are plain ANDs on events_project's range:
// a type or delivery state that is rare in a large project costs a longer
// walk of the index, which a console search can afford and publishing
// does not pay for (no index of its own to keep up).
func (s *Store) ListEvents(ctx context.Context, projectID string, f webhookd.EventFilter, page webhookd.Page) ([]*webhookd.Event, error) {
	// The zero cursor is the position after every row.
	beforeTime, beforeID := int64(math.MaxInt64), ""
	if !page.After.IsZero() {
		beforeTime, beforeID = micros(page.After.Time), page.After.ID
	}
	var end int64 = math.MaxInt64
	if !f.EndTime.IsZero() {
		end = micros(f.EndTime)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+eventColumns+` FROM events e
		WHERE project_id = :project AND (create_time, id) < (:before_time, :before_id)
			AND create_time >= :start AND create_time < :end
			AND (:type = '' OR type = :type)
			AND (:state = '' OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.state = :state))
		ORDER BY create_time DESC, id DESC LIMIT :limit`,
		sql.Named("project", projectID), sql.Named("before_time", beforeTime), sql.Named("before_id", beforeID),
		sql.Named("start", micros(f.StartTime)), sql.Named("end", end),
		sql.Named("type", f.Type), sql.Named("state", string(f.DeliveryState)), sql.Named("limit", limit(page)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	return collect(rows, scanEvent, "list events")
}

const deliveryColumns = `id, event_id, project_id, kind, webhook_id, uri, state, attempt_count, next_attempt_time,
lease_token, first_attempt_time, last_attempt_time, last_status_code, last_error, create_time, update_time`

func scanDelivery(sc scanner) (*webhookd.Delivery, error) {
	var d webhookd.Delivery
	var next, created, updated int64
	var first, last sql.NullInt64
	err := sc.Scan(&d.ID, &d.EventID, &d.ProjectID, &d.Kind, &d.WebhookID, &d.URI, &d.State, &d.AttemptCount, &next,
		&d.LeaseToken, &first, &last, &d.LastStatusCode, &d.LastError, &created, &updated)
	if err != nil {
		return nil, err
	}
	d.NextAttemptTime = fromMicros(next)
	d.FirstAttemptTime = timePtr(first)
	d.LastAttemptTime = timePtr(last)
	d.CreateTime = fromMicros(created)
	d.UpdateTime = fromMicros(updated)
	return &d, nil
}

// ListDeliveries returns an event's deliveries in creation order.
func (s *Store) ListDeliveries(ctx context.Context, projectID, eventID string) ([]*webhookd.Delivery, error) {
	var ds []*webhookd.Delivery
	err := s.read(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM events WHERE project_id = ? AND id = ?`, projectID, eventID).Scan(&one)
		if err != nil {
			return mapErr(err, "list deliveries", "Event")
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
			WHERE event_id = ? ORDER BY create_time, rowid`, eventID)
		if err != nil {
			return fmt.Errorf("sqlite: list deliveries: %w", err)
		}
		ds, err = collect(rows, scanDelivery, "list deliveries")
		return err
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// GetDelivery implements webhookd.Store.
func (s *Store) GetDelivery(ctx context.Context, projectID, id string) (*webhookd.Delivery, error) {
	d, err := scanDelivery(s.reader.QueryRowContext(ctx,
		`SELECT `+deliveryColumns+` FROM deliveries WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil {
		return nil, mapErr(err, "get delivery", "Delivery")
	}
	return d, nil
}

// ListWebhookDeliveries returns a page of a webhook's deliveries, newest
// first, through deliveries_webhook.
func (s *Store) ListWebhookDeliveries(ctx context.Context, projectID, webhookID string, state webhookd.DeliveryState, page webhookd.Page) ([]*webhookd.Delivery, error) {
	beforeTime, beforeID := int64(math.MaxInt64), ""
	if !page.After.IsZero() {
		beforeTime, beforeID = micros(page.After.Time), page.After.ID
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE webhook_id = :webhook AND webhook_id <> '' AND project_id = :project
			AND (create_time, id) < (:before_time, :before_id)
			AND (:state = '' OR state = :state)
		ORDER BY create_time DESC, id DESC LIMIT :limit`,
		sql.Named("webhook", webhookID), sql.Named("project", projectID),
		sql.Named("before_time", beforeTime), sql.Named("before_id", beforeID),
		sql.Named("state", string(state)), sql.Named("limit", limit(page)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list webhook deliveries: %w", err)
	}
	return collect(rows, scanDelivery, "list webhook deliveries")
}

// ListBacklog counts a project's pending deliveries by URI and webhook. It
// walks deliveries_due, which holds the pending rows only.
func (s *Store) ListBacklog(ctx context.Context, projectID string) ([]webhookd.Backlog, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT uri, webhook_id, count(*), min(create_time) FROM deliveries
		WHERE state = 'pending' AND project_id = ?
		GROUP BY uri, webhook_id ORDER BY uri, webhook_id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list backlog: %w", err)
	}
	return collect(rows, func(sc scanner) (webhookd.Backlog, error) {
		var b webhookd.Backlog
		var oldest int64
		err := sc.Scan(&b.URI, &b.WebhookID, &b.Pending, &oldest)
		b.OldestCreateTime = fromMicros(oldest)
		return b, err
	}, "list backlog")
}

const attemptColumns = `id, delivery_id, number, time, status_code, latency_ns, error, response_body, error_stage, response_headers`

func scanAttempt(sc scanner) (*webhookd.Attempt, error) {
	var a webhookd.Attempt
	var at, latency int64
	if err := sc.Scan(&a.ID, &a.DeliveryID, &a.Number, &at, &a.StatusCode, &latency, &a.Error, &a.ResponseBody,
		&a.ErrorStage, &a.ResponseHeaders); err != nil {
		return nil, err
	}
	a.Time = fromMicros(at)
	a.Latency = time.Duration(latency)
	return &a, nil
}

// sqlListAttempts reads a delivery's attempts: those in attempts, and the
// last one, which its row holds (migration 0005), numbered after them.
const sqlListAttempts = `SELECT ` + attemptColumns + ` FROM attempts WHERE delivery_id = ?1
UNION ALL
SELECT last_attempt_id, id, (SELECT count(*) FROM attempts WHERE delivery_id = ?1) + 1,
    last_attempt_time, last_status_code, last_latency_ns, last_attempt_error, last_response_body,
    last_error_stage, last_response_headers
FROM deliveries WHERE id = ?1 AND last_attempt_id <> ''
ORDER BY number`

// ListAttempts returns a delivery's attempts, oldest first.
func (s *Store) ListAttempts(ctx context.Context, projectID, deliveryID string) ([]*webhookd.Attempt, error) {
	var as []*webhookd.Attempt
	err := s.read(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM deliveries WHERE project_id = ? AND id = ?`, projectID, deliveryID).Scan(&one)
		if err != nil {
			return mapErr(err, "list attempts", "Delivery")
		}
		rows, err := tx.QueryContext(ctx, sqlListAttempts, deliveryID)
		if err != nil {
			return fmt.Errorf("sqlite: list attempts: %w", err)
		}
		as, err = collect(rows, scanAttempt, "list attempts")
		return err
	})
	if err != nil {
		return nil, err
	}
	return as, nil
}

// sqlRetry makes deliveries pending and due now under a new retry window:
// attempt_count and first_attempt_time start over (the retry policy counts
// from them), the attempt log and the last outcome stay, and the cleared
// lease token voids the result of any claim still in flight.
const sqlRetry = `UPDATE deliveries SET
    state = 'pending', next_attempt_time = :now, lease_token = '',
    attempt_count = 0, first_attempt_time = NULL, update_time = :now`

// sqlRecover retries a webhook's failed deliveries since a time; see
// sqlFailWebhookDeliveries for its redundant check of webhook_id.
const sqlRecover = sqlRetry + ` WHERE webhook_id = :webhook AND webhook_id <> '' AND create_time >= :since AND state = 'failed'`

// RetryDelivery implements webhookd.Store.
func (s *Store) RetryDelivery(ctx context.Context, projectID, deliveryID string) (*webhookd.Delivery, error) {
	var d *webhookd.Delivery
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDelivery(tx.QueryRowContext(ctx, sqlRetry+` WHERE project_id = :project AND id = :id RETURNING `+deliveryColumns,
			sql.Named("now", micros(s.now())), sql.Named("project", projectID), sql.Named("id", deliveryID)))
		return mapErr(err, "retry delivery", "Delivery")
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	return d, nil
}

// RecoverDeliveries retries every failed delivery of a webhook created at or
// after since.
func (s *Store) RecoverDeliveries(ctx context.Context, projectID, webhookID string, since time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhooks WHERE project_id = ? AND id = ?`, projectID, webhookID).Scan(&one)
		if err != nil {
			return mapErr(err, "recover deliveries", "Webhook")
		}
		res, err := tx.ExecContext(ctx, sqlRecover,
			sql.Named("now", micros(s.now())), sql.Named("webhook", webhookID), sql.Named("since", micros(since)))
		if err != nil {
			return fmt.Errorf("sqlite: recover deliveries: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.wake()
	}
	return int(n), nil
}
