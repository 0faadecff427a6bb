package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/handoff"
)

const eventColumns = `id, project_id, type, payload, webhook_config, idempotency_key, source, create_time, delivery_count`

func scanEvent(sc scanner) (*webhookd.Event, error) {
	var e webhookd.Event
	var cfg sql.NullString
	var created int64
	if err := sc.Scan(&e.ID, &e.ProjectID, &e.Type, &e.Payload, &cfg, &e.IdempotencyKey, &e.Source, &created, &e.DeliveryCount); err != nil {
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

// destination is one delivery that routing picked.
type destination struct {
	kind      webhookd.DeliveryKind
	webhookID string
	uri       string
}

// publishTx is PublishEvent inside tx, for every transaction that publishes
// (PublishEvent's batches, and operation changes).
func (s *Store) publishTx(ctx context.Context, tx *sql.Tx, ne webhookd.NewEvent, now time.Time) (*webhookd.Event, bool, error) {
	pub, first, err := s.planPublish(ctx, tx, ne, now, nil, nil)
	if err != nil || first != nil {
		return first, false, err
	}
	if err := s.writePublish(ctx, tx, nil, pub); err != nil {
		return nil, false, err
	}
	return pub.ev, true, nil
}

// publication is a new event and its destinations, checked and ready to be
// written.
type publication struct {
	ev       *webhookd.Event
	config   any // the webhook_config column: JSON text or NULL
	dests    []destination
	audience string // the project's, for the claims handed off
}

// planPublish does everything of a publish that can fail because of the
// caller — validation, the project, idempotency, routing — and writes
// nothing, so that a batch of publishes can drop one bad event without a
// savepoint (which would cost a sub-journal write per page). With an
// idempotency key already used in the window, or planned by an earlier event
// of the same request (planned, which may be nil), it returns that first
// event. cache, if not nil, holds what earlier plans of the same
// transaction read.
func (s *Store) planPublish(ctx context.Context, tx *sql.Tx, ne webhookd.NewEvent, now time.Time, planned plannedKeys, cache *planCache) (*publication, *webhookd.Event, error) {
	if ne.ProjectID == "" {
		return nil, nil, webhookd.FieldErrorf("project_id", "project_id is required.")
	}
	if ne.Type == "" {
		return nil, nil, webhookd.FieldErrorf("type", "type is required.")
	}
	var cfg any // NULL unless the event carries a webhook config
	if ne.WebhookConfig != nil {
		b, err := json.Marshal(ne.WebhookConfig)
		if err != nil {
			return nil, nil, webhookd.FieldErrorf("webhook_config", "webhook_config: %v", err)
		}
		cfg = string(b)
	}
	ev, err := ne.Event(now)
	if err != nil {
		return nil, nil, err
	}

	audience, known := cache.audience(ne.ProjectID)
	if !known {
		if err := tx.StmtContext(ctx, s.stmts.projectAudience).QueryRowContext(ctx, ne.ProjectID).Scan(&audience); err != nil {
			return nil, nil, notFound(err, "Project", "publish event")
		}
		cache.addProject(ne.ProjectID, audience)
	}
	if ne.IdempotencyKey != "" {
		if first := planned[idempotencyKey{ne.ProjectID, ne.IdempotencyKey}]; first != nil {
			return nil, first, nil
		}
		first, err := scanEvent(tx.StmtContext(ctx, s.stmts.findIdempotent).QueryRowContext(ctx,
			ne.ProjectID, ne.IdempotencyKey, micros(now.Add(-webhookd.IdempotencyWindow))))
		switch {
		case err == nil:
			return nil, first, nil
		case !errors.Is(err, sql.ErrNoRows):
			return nil, nil, fmt.Errorf("sqlite: publish event: idempotency: %w", err)
		}
	}

	dests, err := s.route(ctx, tx, ne, cache)
	if err != nil {
		return nil, nil, err
	}
	ev.DeliveryCount = len(dests)
	return &publication{
		ev:       ev,
		config:   cfg,
		dests:    dests,
		audience: audience,
	}, nil, nil
}

// writePublish inserts planned events and their deliveries, the rows of
// each table in a few statements (see multiRow). With a hand-off, each
// delivery is written as its HandOff admits it: leased (and kept in
// ho.Claims, without its webhook's state and secrets yet; see fillHandOff),
// put off, or due at once. It fails only when the database does, and then
// the whole transaction must roll back.
func (s *Store) writePublish(ctx context.Context, tx *sql.Tx, ho *handoff.Tx, pubs ...*publication) error {
	i := 0
	err := execRows(ctx, tx, s.stmts.events, len(pubs), func(args []any) []any {
		pub := pubs[i]
		i++
		ev := pub.ev
		t := micros(ev.CreateTime)
		return append(args, ev.ID, ev.ProjectID, ev.Type, ev.Payload, pub.config, ev.IdempotencyKey, ev.Source, t, ev.DeliveryCount)
	})
	if err != nil {
		return fmt.Errorf("sqlite: publish event: %w", err)
	}
	n := 0
	for _, pub := range pubs {
		n += len(pub.dests)
	}
	p, d := 0, 0 // the next delivery: pubs[p].dests[d]
	err = execRows(ctx, tx, s.stmts.deliveries, n, func(args []any) []any {
		for d == len(pubs[p].dests) {
			p, d = p+1, 0
		}
		ev, dest := pubs[p].ev, pubs[p].dests[d]
		d++
		id, t := webhookd.NewSortableID(webhookd.PrefixDelivery, ev.CreateTime), micros(ev.CreateTime)
		due := t
		token, at := ho.Admit(dest.uri)
		if !at.IsZero() {
			due = micros(at)
		}
		if token != "" {
			created := fromMicros(t)
			ho.Claims = append(ho.Claims, &webhookd.Claim{
				Delivery: &webhookd.Delivery{
					ID: id, EventID: ev.ID, ProjectID: ev.ProjectID, Kind: dest.kind, WebhookID: dest.webhookID, URI: dest.uri,
					State: webhookd.DeliveryPending, NextAttemptTime: fromMicros(due), LeaseToken: token,
					CreateTime: created, UpdateTime: created,
				},
				EventType: ev.Type, Payload: ev.Payload, Audience: pubs[p].audience,
			})
		}
		return append(args, id, ev.ID, ev.ProjectID, string(dest.kind), dest.webhookID, dest.uri, due, token, t, t)
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

// route picks the destinations of a new event.
func (s *Store) route(ctx context.Context, tx *sql.Tx, ne webhookd.NewEvent, cache *planCache) ([]destination, error) {
	switch {
	case ne.OnlyWebhookID != "":
		var uri string
		err := tx.StmtContext(ctx, s.stmts.webhookURI).QueryRowContext(ctx, ne.ProjectID, ne.OnlyWebhookID).Scan(&uri)
		if err != nil {
			return nil, notFound(err, "Webhook", "publish event: route")
		}
		return []destination{{kind: webhookd.DeliveryStatic, webhookID: ne.OnlyWebhookID, uri: uri}}, nil

	case ne.WebhookConfig.Dynamic():
		var ds []destination
		seen := make([]string, 0, len(ne.WebhookConfig.URIs))
		for _, u := range ne.WebhookConfig.URIs {
			if !slices.Contains(seen, u) { // one delivery per distinct URI
				seen = append(seen, u)
				ds = append(ds, destination{kind: webhookd.DeliveryDynamic, uri: u})
			}
		}
		return ds, nil

	default:
		key := routeKey{ne.ProjectID, ne.Type}
		if ds, ok := cache.route(key); ok {
			return ds, nil
		}
		rows, err := tx.StmtContext(ctx, s.stmts.routeStatic).QueryContext(ctx, ne.ProjectID, ne.Type)
		if err != nil {
			return nil, fmt.Errorf("sqlite: publish event: route: %w", err)
		}
		ds, err := collect(rows, func(sc scanner) (destination, error) {
			d := destination{kind: webhookd.DeliveryStatic}
			return d, sc.Scan(&d.webhookID, &d.uri)
		}, "publish event: route")
		if err == nil {
			cache.addRoute(key, ds)
		}
		return ds, err
	}
}

// planCache holds what the plans of one publish transaction have read: the
// projects found, and the static routes of (project, event type). Nothing a
// publish transaction writes changes either, so a batch of events of one
// type — a batchPublish request, or single publishes that share a group
// commit — costs one project lookup and one routing query, not one of each
// per event (together about a third of a publish's time in the writer,
// measured in webhookd bench's profile). A nil cache remembers nothing.
type planCache struct {
	projects map[string]string // audience by project id
	routes   map[routeKey][]destination
}

type routeKey struct{ projectID, eventType string }

// audience returns the audience of a project found earlier, and whether
// it was.
func (c *planCache) audience(id string) (string, bool) {
	if c == nil {
		return "", false
	}
	a, ok := c.projects[id]
	return a, ok
}

func (c *planCache) addProject(id, audience string) {
	if c == nil {
		return
	}
	if c.projects == nil {
		c.projects = map[string]string{}
	}
	c.projects[id] = audience
}

// route returns the cached destinations of k; they are shared, and must
// not be changed.
func (c *planCache) route(k routeKey) ([]destination, bool) {
	if c == nil {
		return nil, false
	}
	ds, ok := c.routes[k]
	return ds, ok
}

func (c *planCache) addRoute(k routeKey, ds []destination) {
	if c == nil {
		return
	}
	if c.routes == nil {
		c.routes = map[routeKey][]destination{}
	}
	c.routes[k] = ds
}

func (s *Store) GetEvent(ctx context.Context, projectID, id string) (*webhookd.Event, error) {
	e, err := scanEvent(s.reader.QueryRowContext(ctx,
		`SELECT `+eventColumns+` FROM events WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil {
		return nil, notFound(err, "Event", "get event")
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
			return notFound(err, "Event", "list deliveries")
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

func (s *Store) GetDelivery(ctx context.Context, projectID, id string) (*webhookd.Delivery, error) {
	d, err := scanDelivery(s.reader.QueryRowContext(ctx,
		`SELECT `+deliveryColumns+` FROM deliveries WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil {
		return nil, notFound(err, "Delivery", "get delivery")
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
			return notFound(err, "Delivery", "list attempts")
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

func (s *Store) RetryDelivery(ctx context.Context, projectID, deliveryID string) (*webhookd.Delivery, error) {
	var d *webhookd.Delivery
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDelivery(tx.QueryRowContext(ctx, sqlRetry+` WHERE project_id = :project AND id = :id RETURNING `+deliveryColumns,
			sql.Named("now", micros(s.now())), sql.Named("project", projectID), sql.Named("id", deliveryID)))
		return notFoundOrNil(err, "Delivery", "retry delivery")
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
			return notFound(err, "Webhook", "recover deliveries")
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

// notFoundOrNil is notFound that lets nil through.
func notFoundOrNil(err error, resource, op string) error {
	if err == nil {
		return nil
	}
	return notFound(err, resource, op)
}
