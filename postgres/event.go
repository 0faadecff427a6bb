package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/dberr"
	"github.com/webhookd/webhookd/internal/handoff"
)

const eventColumns = `id, project_id, type, payload, webhook_config, COALESCE(idempotency_key, ''), source, traceparent, create_time, delivery_count`

func scanEvent(row pgx.CollectableRow) (*webhookd.Event, error) {
	var (
		e  webhookd.Event
		wc *string
	)
	if err := row.Scan(&e.ID, &e.ProjectID, &e.Type, &e.Payload, &wc, &e.IdempotencyKey, &e.Source, &e.TraceParent, &e.CreateTime, &e.DeliveryCount); err != nil {
		return nil, err
	}
	if wc != nil {
		e.WebhookConfig = new(webhookd.WebhookConfig)
		if err := json.Unmarshal([]byte(*wc), e.WebhookConfig); err != nil {
			return nil, fmt.Errorf("event %s: webhook_config: %w", e.ID, err)
		}
	}
	return &e, nil
}

// PublishEvent writes the event and one delivery per destination in one
// transaction (the outbox), and wakes the delivery engines after commit.
//
// An idempotency key is serialised with a transaction-scoped advisory lock on
// (project, key): a second publisher with the same key waits for the first
// to commit, then finds its event, instead of both inserting. An event
// without one shares its commit with concurrent publishes (publishGroups).
func (s *Store) PublishEvent(ctx context.Context, ne webhookd.NewEvent) (*webhookd.Event, bool, error) {
	if ne.IdempotencyKey == "" {
		ev, err := s.publishGrouped(ctx, ne)
		if err != nil {
			return nil, false, err
		}
		return ev, true, nil
	}
	planned, _, err := s.publish(ctx, []webhookd.NewEvent{ne}, true)
	if err != nil {
		return nil, false, err
	}
	return planned[0].Event, planned[0].Created, nil
}

// PublishEvents writes every event and its deliveries in one transaction,
// each as PublishEvent does, and wakes the engines once after commit.
//
// The new events are written together, one insert per table for all of
// them (see queueEventWrites), instead of a round trip each. When that
// write fails, the database does not say which event was at fault: the call
// is then made again, one event at a time, to name it.
func (s *Store) PublishEvents(ctx context.Context, events []webhookd.NewEvent) ([]webhookd.PublishedEvent, error) {
	if len(events) == 0 {
		return nil, webhookd.FieldErrorf("events", "events must list at least one event.")
	}
	planned, failed, err := s.publish(ctx, events, true)
	if _, ok := errors.AsType[*groupError](err); ok {
		planned, failed, err = s.publish(ctx, events, false)
	}
	switch {
	case err != nil && failed >= 0:
		return nil, webhookd.ElementError("events", failed, err)
	case err != nil:
		return nil, err
	}
	out := make([]webhookd.PublishedEvent, len(planned))
	for i, p := range planned {
		out[i] = webhookd.PublishedEvent{Event: p.Event, Created: p.Created}
	}
	return out, nil
}

// groupError is the failure of a write of several events together.
type groupError struct{ err error }

func (e *groupError) Error() string { return e.err.Error() }
func (e *groupError) Unwrap() error { return e.err }

// publish publishes events in one transaction (see publishTx), hands the
// deliveries taken to the hand-off target and wakes the engines after the
// commit. Its errors are mapped; failed is the index of the event an error
// is about, or -1.
func (s *Store) publish(ctx context.Context, events []webhookd.NewEvent, grouped bool) (planned []webhookd.PlannedEvent, failed int, err error) {
	var ho *handoff.Tx
	failed = -1
	err = retryUnavailable(ctx, func() error {
		ho.Settle(false) // a first try's takes, if it failed (see retryUnavailable)
		ho = nil
		return s.inTx(ctx, func(tx pgx.Tx) error {
			if err := s.lockIdempotencyKeys(ctx, tx, events); err != nil {
				return err
			}
			now := s.now()
			ho = s.handOff.Begin(now)
			var err error
			if planned, failed, err = s.publishTx(ctx, tx, ho, now, events, grouped); err != nil {
				return err
			}
			return s.readAudiences(ctx, tx, ho)
		})
	})
	ho.Settle(err == nil)
	if err != nil {
		if _, ok := errors.AsType[*groupError](err); ok {
			return nil, -1, err
		}
		return nil, failed, mapErr(err, "publish events", "Event")
	}
	if webhookd.NewDeliveries(planned) > 0 {
		s.wakeFor(ho)
	}
	return planned, -1, nil
}

// lockIdempotencyKeys takes, in sorted order, the lock of every key that
// events use when they use more than one; planReader.IdempotentEvent takes
// each again, which a transaction's advisory locks allow. Taken in one
// order, they make two calls that share keys in different orders wait for
// each other instead of deadlocking.
func (s *Store) lockIdempotencyKeys(ctx context.Context, tx pgx.Tx, events []webhookd.NewEvent) error {
	var keys []string
	for _, ne := range events {
		if ne.IdempotencyKey != "" {
			keys = append(keys, lockKey(s.scope, "idempotency", ne.ProjectID, ne.IdempotencyKey))
		}
	}
	slices.Sort(keys)
	if keys = slices.Compact(keys); len(keys) < 2 {
		return nil
	}
	// unnest yields the array's elements in order, so the locks are taken
	// in that order.
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k`, keys)
	return err
}

// publishTx plans events at now and writes the new ones and their
// deliveries in tx, each delivery as ho admits it (see queueEventWrites),
// for every transaction that publishes: PublishEvents, PublishEvent with a
// key, and operation changes. When an event fails, failed is its index (-1
// when err is the transaction's). grouped writes the new events together;
// when that fails with more than one, err is a *groupError: the database
// does not say which one was at fault.
func (s *Store) publishTx(ctx context.Context, tx pgx.Tx, ho *handoff.Tx, now time.Time, events []webhookd.NewEvent, grouped bool) (
	planned []webhookd.PlannedEvent, failed int, err error,
) {
	if planned, failed, err = webhookd.NewPlanner(planReader{tx, s.scope, now}, s.filters, now).Plan(ctx, events); err != nil {
		return nil, failed, err
	}
	var created []int // the indexes of the new events
	for i, p := range planned {
		if p.Created {
			created = append(created, i)
		}
	}
	if grouped && len(created) > 1 {
		if err := s.writeEvents(ctx, tx, ho, planned); err != nil {
			return nil, -1, &groupError{err}
		}
		return planned, -1, nil
	}
	for _, i := range created {
		if err := s.writeEvents(ctx, tx, ho, planned[i:i+1]); err != nil {
			return nil, i, err
		}
	}
	return planned, -1, nil
}

// writeEvents writes the new events of planned and their deliveries in tx,
// in one round trip (see queueEventWrites).
func (s *Store) writeEvents(ctx context.Context, tx pgx.Tx, ho *handoff.Tx, planned []webhookd.PlannedEvent) error {
	b := &pgx.Batch{}
	n := queueEventWrites(b, ho, planned)
	return execEventWrites(tx.SendBatch(ctx, b), n > 0, nil)
}

// publishPipelined publishes an event without an idempotency key in two
// round trips instead of five (begin, route, two inserts, commit): the
// routing query, then both inserts in one batch, which PostgreSQL runs as
// one implicit transaction — all or nothing, like the explicit one. The
// routes are read before the inserts' transaction begins, which changes
// nothing a caller can tell: with read committed, each statement of the
// explicit transaction saw the webhooks as of its own start too.
func (s *Store) publishPipelined(ctx context.Context, ne webhookd.NewEvent) (*webhookd.Event, bool, error) {
	var ev *webhookd.Event
	err := retryUnavailable(ctx, func() error {
		var err error
		ev, err = s.publishPipelinedOnce(ctx, ne)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return ev, true, nil
}

// publishPipelinedOnce is one try of publishPipelined. The batch's
// statements are one implicit transaction, committed after the last: an
// error the server sent for one of them, or a failure to send, means nothing
// committed; any other failure of the connection may have come after the
// commit, and is a *commitError, never tried again.
func (s *Store) publishPipelinedOnce(ctx context.Context, ne webhookd.NewEvent) (*webhookd.Event, error) {
	now := s.now()
	planned, _, err := webhookd.NewPlanner(planReader{s.pool, s.scope, now}, s.filters, now).Plan(ctx, []webhookd.NewEvent{ne})
	if err != nil {
		return nil, mapErr(err, "publish event", "Event")
	}
	ev := planned[0].Event
	ho := s.handOff.Begin(now)
	b := &pgx.Batch{}
	n := queueEventWrites(b, ho, planned)
	// The audience of the claims handed off is read in the same round trip
	// as the inserts.
	read := queueReadAudience(b, ho, ne.ProjectID)
	err = execEventWrites(s.pool.SendBatch(ctx, b), n > 0, read)
	ho.Settle(err == nil)
	if err != nil {
		if _, serverSaid := errors.AsType[*pgconn.PgError](err); !serverSaid && !pgconn.SafeToRetry(err) {
			err = &commitError{err}
		}
		return nil, mapErr(err, "publish event", "Event")
	}
	if n > 0 {
		s.wakeFor(ho)
	}
	return ev, nil
}

// queueEventWrites queues the inserts of the new events of planned and of
// their deliveries: each table's rows as arrays of their varying columns,
// unnested server-side, so that one statement per table writes them
// whatever the number of events and the fan-out. Each delivery is written
// as ho admits it: leased (its claim kept in ho, complete but for the
// audience; see readAudiences), put off, or due at once; a nil ho leaves
// them all due at once. It returns the number of deliveries.
func queueEventWrites(b *pgx.Batch, ho *handoff.Tx, planned []webhookd.PlannedEvent) int {
	var (
		evIDs, projects, types, keys, sources, traces []string
		payloads                                      [][]byte
		configs                                       []*string
		created                                       []time.Time
		counts                                        []int32
		n                                             int
	)
	for _, p := range planned {
		if !p.Created {
			continue
		}
		ev := p.Event
		evIDs, projects, types, keys, sources = append(evIDs, ev.ID), append(projects, ev.ProjectID), append(types, ev.Type), append(keys, ev.IdempotencyKey), append(sources, ev.Source)
		payloads, configs, created, counts = append(payloads, ev.Payload), append(configs, nullText(p.Config)), append(created, ev.CreateTime), append(counts, int32(ev.DeliveryCount))
		traces = append(traces, ev.TraceParent)
		n += len(p.Destinations)
	}
	b.Queue(`INSERT INTO events
		(id, project_id, type, payload, webhook_config, idempotency_key, source, create_time, delivery_count, traceparent)
		SELECT e.id, e.project_id, e.type, e.payload, e.config, NULLIF(e.key, ''), e.source, e.created, e.count, e.trace
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::integer[], $10::text[])
			WITH ORDINALITY AS e (id, project_id, type, payload, config, key, source, created, count, trace, n)
		ORDER BY e.n`,
		evIDs, projects, types, payloads, configs, keys, sources, created, counts, traces)
	if n == 0 {
		return 0
	}
	var (
		ids, events, dProjects, kinds, uris, tokens = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		webhookIDs                                  = make([]*string, 0, n)
		dues, dCreated                              = make([]time.Time, 0, n), make([]time.Time, 0, n)
	)
	for _, p := range planned {
		if !p.Created {
			continue
		}
		for _, dest := range p.Destinations {
			d := p.Event.NewDelivery(dest)
			ho.Admit(p.Event, dest, &d)
			ids, events, dProjects, kinds = append(ids, d.ID), append(events, d.EventID), append(dProjects, d.ProjectID), append(kinds, string(d.Kind))
			webhookIDs, uris, tokens = append(webhookIDs, nullString(d.WebhookID)), append(uris, d.URI), append(tokens, d.LeaseToken)
			dues, dCreated = append(dues, d.NextAttemptTime), append(dCreated, d.CreateTime)
		}
	}
	b.Queue(`INSERT INTO deliveries
		(id, event_id, project_id, kind, webhook_id, uri, state, next_attempt_time, lease_token, create_time, update_time)
		SELECT d.id, d.event_id, d.project_id, d.kind, d.webhook_id, d.uri, 'pending', d.due, d.token, d.created, d.created
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::timestamptz[])
			WITH ORDINALITY AS d (id, event_id, project_id, kind, webhook_id, uri, due, token, created, n)
		ORDER BY d.n`,
		ids, events, dProjects, kinds, webhookIDs, uris, dues, tokens, dCreated)
	return n
}

// nullText is the column value of optional text: NULL when empty.
func nullText(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

// nullString is the column value of an optional reference: NULL when "".
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// execEventWrites reads the results of queueEventWrites's batch (with a
// deliveries insert if deliveries), and of queueReadAudience's when read is
// not nil, and closes it. An unknown project fails the events' insert.
func execEventWrites(br pgx.BatchResults, deliveries bool, read *handoff.Tx) (err error) {
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); errKind(err) == dberr.ForeignKey {
		return webhookd.NotFound("Project")
	} else if err != nil {
		return err
	}
	if deliveries {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	if read != nil {
		var audience string
		if err := br.QueryRow().Scan(&audience); err != nil {
			return err
		}
		return read.SetAudiences(func(string) (string, error) { return audience, nil })
	}
	return nil
}

// planReader is what planning a publish reads (see
// webhookd.PublishReader), in a transaction or, for an event without an
// idempotency key, on the pool; now is the time of the secrets it reads
// with the webhooks, for the claims a publish hands off.
type planReader struct {
	q     routeQuerier
	scope string
	now   time.Time
}

// routeQuerier is what planReader needs: a transaction, or the pool.
type routeQuerier interface {
	querier
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// routeSelect reads what routing needs of webhooks (see scanRouteWebhook):
// what webhookd.Route decides by, and for the claims a publish hands off,
// their headers and their secrets live at $2. The caller adds the WHERE clause, with $1 the
// project.
var routeSelect = `SELECT w.id, w.uri, w.state, w.subscribed_events, w.headers, w.filter, ` + secretsColumns + `
	FROM webhooks w ` + secretsJoin("$2")

// scanRouteWebhook scans routeSelect.
func scanRouteWebhook(row pgx.CollectableRow) (*webhookd.Webhook, error) {
	var (
		w   webhookd.Webhook
		sec secretArrays
	)
	if err := row.Scan(append([]any{&w.ID, &w.URI, &w.State, &w.SubscribedEvents, &w.Headers, &w.Filter}, sec.dest()...)...); err != nil {
		return nil, err
	}
	w.Secrets = sec.secrets(w.ID)
	return &w, nil
}

func (r planReader) Webhook(ctx context.Context, projectID, id string) (*webhookd.Webhook, error) {
	rows, _ := r.q.Query(ctx, routeSelect+` WHERE w.project_id = $1 AND w.id = $3`, projectID, r.now, id)
	w, err := pgx.CollectExactlyOneRow(rows, scanRouteWebhook)
	return w, mapErr(err, "publish event: route", "Webhook")
}

func (r planReader) Webhooks(ctx context.Context, projectID string) ([]*webhookd.Webhook, error) {
	rows, _ := r.q.Query(ctx, routeSelect+` WHERE w.project_id = $1 ORDER BY w.create_time, w.id`, projectID, r.now)
	ws, err := pgx.CollectRows(rows, scanRouteWebhook)
	return ws, mapErr(err, "publish event: route", "Webhook")
}

// IdempotentEvent takes the key's lock for the rest of the transaction and
// returns the event that used the key after since, if any.
func (r planReader) IdempotentEvent(ctx context.Context, projectID, key string, since time.Time) (*webhookd.Event, error) {
	if _, err := r.q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
		lockKey(r.scope, "idempotency", projectID, key)); err != nil {
		return nil, err
	}
	rows, _ := r.q.Query(ctx, `SELECT `+eventColumns+` FROM events
		WHERE project_id = $1 AND idempotency_key = $2 AND create_time > $3
		ORDER BY create_time DESC LIMIT 1`, projectID, key, since)
	ev, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return ev, err
}

// GetEvent returns one event of the project.
func (s *Store) GetEvent(ctx context.Context, projectID, id string) (*webhookd.Event, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE project_id = $1 AND id = $2`, projectID, id)
	ev, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	return ev, mapErr(err, "get event", "Event")
}

// ListEvents returns a page of a project's events that f keeps, newest
// first, along events_project; the filter's conditions need no index of
// their own (see the SQLite store).
func (s *Store) ListEvents(ctx context.Context, projectID string, f webhookd.EventFilter, page webhookd.Page) ([]*webhookd.Event, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events e
		WHERE project_id = $1 AND ($2 OR (create_time, id) < ($3, $4))
			AND ($6::timestamptz IS NULL OR create_time >= $6)
			AND ($7::timestamptz IS NULL OR create_time < $7)
			AND ($8 = '' OR type = $8)
			AND ($9 = '' OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.state = $9))
		ORDER BY create_time DESC, id DESC
		LIMIT $5`, projectID, page.After.IsZero(), page.After.Time, page.After.ID, limitOf(page.Size),
		zeroNull(f.StartTime), zeroNull(f.EndTime), f.Type, string(f.DeliveryState))
	evs, err := pgx.CollectRows(rows, scanEvent)
	return evs, mapErr(err, "list events", "Event")
}

// zeroNull is t, or NULL for the zero time.
func zeroNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

const deliveryColumns = `d.id, d.event_id, d.project_id, d.kind, COALESCE(d.webhook_id, ''), d.uri, d.state,
	d.attempt_count, d.next_attempt_time, d.lease_token, d.first_attempt_time, d.last_attempt_time,
	d.last_status_code, d.last_error, d.create_time, d.update_time`

func deliveryDest(d *webhookd.Delivery) []any {
	return []any{&d.ID, &d.EventID, &d.ProjectID, &d.Kind, &d.WebhookID, &d.URI, &d.State,
		&d.AttemptCount, &d.NextAttemptTime, &d.LeaseToken, &d.FirstAttemptTime, &d.LastAttemptTime,
		&d.LastStatusCode, &d.LastError, &d.CreateTime, &d.UpdateTime}
}

func scanDelivery(row pgx.CollectableRow) (*webhookd.Delivery, error) {
	var d webhookd.Delivery
	err := row.Scan(deliveryDest(&d)...)
	return &d, err
}

// ListDeliveries returns an event's deliveries in routing order; an event of
// another project is not found.
func (s *Store) ListDeliveries(ctx context.Context, projectID, eventID string) ([]*webhookd.Delivery, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries d
		WHERE d.project_id = $1 AND d.event_id = $2 ORDER BY d.seq`, projectID, eventID)
	ds, err := pgx.CollectRows(rows, scanDelivery)
	if err != nil {
		return nil, mapErr(err, "list deliveries", "Event")
	}
	if len(ds) == 0 {
		// Tell an event that routed nowhere from one that does not exist.
		if err := exists(ctx, s.pool, "Event", eventExists, projectID, eventID); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// Existence checks, for listings that must tell "none" from "not found".
const (
	eventExists    = `SELECT EXISTS (SELECT 1 FROM events WHERE project_id = $1 AND id = $2)`
	deliveryExists = `SELECT EXISTS (SELECT 1 FROM deliveries WHERE project_id = $1 AND id = $2)`
	webhookExists  = `SELECT EXISTS (SELECT 1 FROM webhooks WHERE project_id = $1 AND id = $2)`
)

// querier is what a pool and a transaction have in common.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// exists runs an EXISTS query and answers not found, naming resource, when
// it is false.
func exists(ctx context.Context, q querier, resource, query string, args ...any) error {
	var ok bool
	if err := q.QueryRow(ctx, query, args...).Scan(&ok); err != nil {
		return fmt.Errorf("postgres: find %s: %w", resource, err)
	}
	if !ok {
		return webhookd.NotFound(resource)
	}
	return nil
}

// GetDelivery returns one delivery of the project.
func (s *Store) GetDelivery(ctx context.Context, projectID, id string) (*webhookd.Delivery, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries d WHERE d.project_id = $1 AND d.id = $2`, projectID, id)
	d, err := pgx.CollectExactlyOneRow(rows, scanDelivery)
	return d, mapErr(err, "get delivery", "Delivery")
}

// ListWebhookDeliveries returns a page of a webhook's deliveries, newest
// first.
func (s *Store) ListWebhookDeliveries(ctx context.Context, projectID, webhookID string, state webhookd.DeliveryState, page webhookd.Page) ([]*webhookd.Delivery, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries d
		WHERE d.webhook_id = $1 AND d.project_id = $2 AND ($3 OR (d.create_time, d.id) < ($4, $5))
			AND ($6 = '' OR d.state = $6)
		ORDER BY d.create_time DESC, d.id DESC
		LIMIT $7`, webhookID, projectID, page.After.IsZero(), page.After.Time, page.After.ID, string(state), limitOf(page.Size))
	ds, err := pgx.CollectRows(rows, scanDelivery)
	return ds, mapErr(err, "list webhook deliveries", "Delivery")
}

// ListBacklog counts a project's pending deliveries by URI and webhook,
// from the pending rows of deliveries_due.
func (s *Store) ListBacklog(ctx context.Context, projectID string) ([]webhookd.Backlog, error) {
	rows, _ := s.pool.Query(ctx, `SELECT uri, COALESCE(webhook_id, ''), count(*), min(create_time) FROM deliveries
		WHERE state = 'pending' AND project_id = $1
		GROUP BY uri, webhook_id ORDER BY uri, COALESCE(webhook_id, '')`, projectID)
	bs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (webhookd.Backlog, error) {
		var b webhookd.Backlog
		err := row.Scan(&b.URI, &b.WebhookID, &b.Pending, &b.OldestCreateTime)
		return b, err
	})
	return bs, mapErr(err, "list backlog", "Delivery")
}

// ListAttempts returns a delivery's attempts, oldest first; a delivery of
// another project is not found.
func (s *Store) ListAttempts(ctx context.Context, projectID, deliveryID string) ([]*webhookd.Attempt, error) {
	if err := exists(ctx, s.pool, "Delivery", deliveryExists, projectID, deliveryID); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, delivery_id, number, time, status_code, latency_ns, error, response_body,
			error_stage, response_headers
		FROM attempts WHERE delivery_id = $1 ORDER BY number, time, id`, deliveryID)
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*webhookd.Attempt, error) {
		var (
			a         webhookd.Attempt
			latencyNS int64
			body      []byte
		)
		err := row.Scan(&a.ID, &a.DeliveryID, &a.Number, &a.Time, &a.StatusCode, &latencyNS, &a.Error, &body,
			&a.ErrorStage, &a.ResponseHeaders)
		a.Latency = time.Duration(latencyNS)
		a.ResponseBody = string(body)
		return &a, err
	})
	return as, mapErr(err, "list attempts", "Delivery")
}

// RetryDelivery makes a delivery pending and due now, whatever its state. It
// clears the lease, so a result still in flight for an older claim is
// ignored, and starts a new retry window (attempt count and first attempt
// time start over); the attempt log and the last outcome are kept.
func (s *Store) RetryDelivery(ctx context.Context, projectID, deliveryID string) (*webhookd.Delivery, error) {
	rows, _ := s.pool.Query(ctx, `UPDATE deliveries d
		SET state = 'pending', next_attempt_time = $3, lease_token = '', attempt_count = 0, first_attempt_time = NULL, update_time = $3
		WHERE d.project_id = $1 AND d.id = $2
		RETURNING `+deliveryColumns, projectID, deliveryID, s.now())
	d, err := pgx.CollectExactlyOneRow(rows, scanDelivery)
	if err != nil {
		return nil, mapErr(err, "retry delivery", "Delivery")
	}
	s.wakeAll()
	return d, nil
}

// RecoverDeliveries retries every failed delivery of the webhook created at
// or after since.
func (s *Store) RecoverDeliveries(ctx context.Context, projectID, webhookID string, since time.Time) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, "Webhook", webhookExists, projectID, webhookID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE deliveries
			SET state = 'pending', next_attempt_time = $4, lease_token = '', attempt_count = 0, first_attempt_time = NULL, update_time = $4
			WHERE webhook_id = $2 AND project_id = $1 AND state = 'failed' AND create_time >= $3`,
			projectID, webhookID, since, s.now())
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, mapErr(err, "recover deliveries", "Webhook")
	}
	if n > 0 {
		s.wakeAll()
	}
	return int(n), nil
}
