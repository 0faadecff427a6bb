package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/handoff"
)

const eventColumns = `id, project_id, type, payload, webhook_config, COALESCE(idempotency_key, ''), source, create_time, delivery_count`

func scanEvent(row pgx.CollectableRow) (*webhookd.Event, error) {
	var (
		e  webhookd.Event
		wc *string
	)
	if err := row.Scan(&e.ID, &e.ProjectID, &e.Type, &e.Payload, &wc, &e.IdempotencyKey, &e.Source, &e.CreateTime, &e.DeliveryCount); err != nil {
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

// target is one destination routing picked. A static target carries its
// webhook's state and live secrets, read with the route, so that a delivery
// the publish hands off is a complete claim without another read.
type target struct {
	kind      webhookd.DeliveryKind
	webhookID *string
	uri       string
	state     webhookd.WebhookState
	secrets   []webhookd.SigningSecret
}

// PublishEvent writes the event and one delivery per routed destination in
// one transaction (the outbox), and wakes the delivery engines after commit.
//
// An idempotency key is serialised with a transaction-scoped advisory lock on
// (project, key): a second publisher with the same key waits for the first
// to commit, then finds its event, instead of both inserting.
func (s *Store) PublishEvent(ctx context.Context, ne webhookd.NewEvent) (*webhookd.Event, bool, error) {
	if ne.IdempotencyKey == "" {
		return s.publishPipelined(ctx, ne)
	}
	var (
		ev      *webhookd.Event
		created bool
		ho      *handoff.Tx
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		now := s.now()
		ho = s.handOff.Begin(now)
		if ev, created, err = s.publishTx(ctx, tx, ne, now, nil, ho); err != nil {
			return err
		}
		return s.readAudiences(ctx, tx, ho)
	})
	ho.Settle(err == nil)
	if err != nil {
		return nil, false, mapErr(err, "publish event", "Event")
	}
	if created && ev.DeliveryCount > 0 {
		s.wakeFor(ho)
	}
	return ev, created, nil
}

// PublishEvents writes every event and its deliveries in one transaction,
// each as PublishEvent does, and wakes the engines once after commit. An
// event whose idempotency key an earlier event of the call used finds that
// event, which the transaction has already written. The keys' locks are
// taken first, all in one order, so that two calls sharing keys in
// different orders wait for each other instead of deadlocking.
//
// The events without a key are written together, one insert per table for
// all of them (see queueEventWrites), instead of a round trip each. When
// such a write fails, the database does not say which event was at fault:
// the call is then made again, one event at a time, to name it.
func (s *Store) PublishEvents(ctx context.Context, events []webhookd.NewEvent) ([]webhookd.PublishedEvent, error) {
	if len(events) == 0 {
		return nil, webhookd.FieldErrorf("events", "events must list at least one event.")
	}
	out, err := s.publishEvents(ctx, events, true)
	if _, ok := errors.AsType[*groupError](err); ok {
		out, err = s.publishEvents(ctx, events, false)
	}
	return out, err
}

// groupError is the failure of a write of several events together.
type groupError struct{ err error }

func (e *groupError) Error() string { return e.err.Error() }
func (e *groupError) Unwrap() error { return e.err }

// publishEvents is PublishEvents, with the events without a key written
// together if grouped, or one by one.
func (s *Store) publishEvents(ctx context.Context, events []webhookd.NewEvent, grouped bool) ([]webhookd.PublishedEvent, error) {
	out := make([]webhookd.PublishedEvent, len(events))
	var failed error // the error of one event, already mapped
	fail := func(i int, err error) error {
		failed = webhookd.ElementError("events", i, mapErr(err, "publish events", "Event"))
		return failed
	}
	var ho *handoff.Tx
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.lockIdempotencyKeys(ctx, tx, events); err != nil {
			return err
		}
		now := s.now()
		ho = s.handOff.Begin(now)
		routes := routeCache{} // the transaction writes no webhook: one routing query per (project, type)
		var (
			group   []pending
			groupAt []int // the index in events of each of group
		)
		flush := func() error {
			if len(group) == 0 {
				return nil
			}
			err := s.writeEvents(ctx, tx, group, ho)
			switch {
			case err != nil && len(group) > 1:
				return &groupError{err}
			case err != nil:
				return fail(groupAt[0], err)
			}
			group, groupAt = group[:0], groupAt[:0]
			return nil
		}
		for i, ne := range events {
			// A key's lookup must see the events before it, and the
			// events after it must see it.
			keyed := ne.IdempotencyKey != ""
			if keyed {
				if err := flush(); err != nil {
					return err
				}
			}
			p, first, err := s.prepare(ctx, tx, ne, now, routes)
			if err != nil {
				return fail(i, err)
			}
			if first != nil {
				out[i] = webhookd.PublishedEvent{Event: first}
				continue
			}
			group, groupAt = append(group, p), append(groupAt, i)
			out[i] = webhookd.PublishedEvent{Event: p.ev, Created: true}
			if keyed || !grouped {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		return s.readAudiences(ctx, tx, ho)
	})
	ho.Settle(err == nil)
	switch {
	case failed != nil:
		return nil, failed
	case err != nil:
		return nil, mapErr(err, "publish events", "Event")
	}
	for _, p := range out {
		if p.Created && p.Event.DeliveryCount > 0 {
			s.wakeFor(ho)
			break
		}
	}
	return out, nil
}

// lockIdempotencyKeys takes, in sorted order, the lock of every key that
// events use when they use more than one; publishTx takes each again, which
// a transaction's advisory locks allow.
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

// publishTx writes ne and its deliveries in tx, each as ho admits it (see
// queueEventWrites); the caller settles ho and notifies the listeners. routes,
// if not nil, keeps the static routes found earlier in the same transaction.
func (s *Store) publishTx(ctx context.Context, tx pgx.Tx, ne webhookd.NewEvent, now time.Time, routes routeCache, ho *handoff.Tx) (*webhookd.Event, bool, error) {
	p, first, err := s.prepare(ctx, tx, ne, now, routes)
	if err != nil || first != nil {
		return first, false, err
	}
	if err := s.writeEvents(ctx, tx, []pending{p}, ho); err != nil {
		return nil, false, err
	}
	return p.ev, true, nil
}

// prepare checks ne and routes it, in tx, or returns the event that already
// used its idempotency key (see lockIdempotencyKey).
func (s *Store) prepare(ctx context.Context, tx pgx.Tx, ne webhookd.NewEvent, now time.Time, routes routeCache) (pending, *webhookd.Event, error) {
	ev, wcJSON, err := newEventRow(ne, now)
	if err != nil {
		return pending{}, nil, err
	}
	if ne.IdempotencyKey != "" {
		first, err := s.lockIdempotencyKey(ctx, tx, ne.ProjectID, ne.IdempotencyKey, now)
		if err != nil || first != nil {
			return pending{}, first, err
		}
	}
	targets, err := s.route(ctx, tx, ne, now, routes)
	if err != nil {
		return pending{}, nil, err
	}
	ev.DeliveryCount = len(targets)
	return pending{ev, wcJSON, targets}, nil, nil
}

// writeEvents writes the events of ps and their deliveries in tx, in one
// round trip (see queueEventWrites).
func (s *Store) writeEvents(ctx context.Context, tx pgx.Tx, ps []pending, ho *handoff.Tx) error {
	b := &pgx.Batch{}
	n := queueEventWrites(b, ps, ho)
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
	now := s.now()
	ev, wcJSON, err := newEventRow(ne, now)
	if err != nil {
		return nil, false, err
	}
	targets, err := s.route(ctx, s.pool, ne, now, nil)
	if err != nil {
		return nil, false, mapErr(err, "publish event", "Event")
	}
	ev.DeliveryCount = len(targets)
	ho := s.handOff.Begin(now)
	b := &pgx.Batch{}
	queueEventWrites(b, []pending{{ev, wcJSON, targets}}, ho)
	// The audience of the claims handed off is read in the same round trip
	// as the inserts.
	read := queueReadAudience(b, ho, ne.ProjectID)
	err = execEventWrites(s.pool.SendBatch(ctx, b), len(targets) > 0, read)
	ho.Settle(err == nil)
	if err != nil {
		return nil, false, mapErr(err, "publish event", "Event")
	}
	if ev.DeliveryCount > 0 {
		s.wakeFor(ho)
	}
	return ev, true, nil
}

// newEventRow checks ne and returns its event and webhook_config column.
func newEventRow(ne webhookd.NewEvent, now time.Time) (*webhookd.Event, *string, error) {
	if ne.ProjectID == "" {
		return nil, nil, webhookd.FieldErrorf("project_id", "project_id is required.")
	}
	if ne.Type == "" {
		return nil, nil, webhookd.FieldErrorf("type", "type is required.")
	}
	var wcJSON *string
	if ne.WebhookConfig != nil {
		b, err := json.Marshal(ne.WebhookConfig)
		if err != nil {
			return nil, nil, webhookd.FieldErrorf("webhook_config", "webhook_config: %v", err)
		}
		str := string(b)
		wcJSON = &str
	}
	ev, err := ne.Event(now)
	return ev, wcJSON, err
}

// pending is an event on its way to the database: its row, its
// webhook_config column and its targets.
type pending struct {
	ev      *webhookd.Event
	wcJSON  *string
	targets []target
}

// queueEventWrites queues the inserts of the events of ps and of their
// deliveries, one per target: each table's rows as arrays of their varying
// columns, unnested server-side, so that one statement per table writes
// them whatever the number of events and the fan-out. Each delivery is
// written as ho admits it: leased (its claim kept in ho.Claims, complete
// but for the audience; see readAudiences), put off, or due at once; a nil
// ho leaves them all due at once. It returns the number of deliveries.
func queueEventWrites(b *pgx.Batch, ps []pending, ho *handoff.Tx) int {
	var (
		evIDs, projects, types, keys, sources = make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps))
		payloads                              = make([][]byte, len(ps))
		configs                               = make([]*string, len(ps))
		created                               = make([]time.Time, len(ps))
		counts                                = make([]int32, len(ps))
		n                                     int
	)
	for i, p := range ps {
		ev := p.ev
		evIDs[i], projects[i], types[i], keys[i], sources[i] = ev.ID, ev.ProjectID, ev.Type, ev.IdempotencyKey, ev.Source
		payloads[i], configs[i], created[i], counts[i] = ev.Payload, p.wcJSON, ev.CreateTime, int32(ev.DeliveryCount)
		n += len(p.targets)
	}
	b.Queue(`INSERT INTO events
		(id, project_id, type, payload, webhook_config, idempotency_key, source, create_time, delivery_count)
		SELECT e.id, e.project_id, e.type, e.payload, e.config, NULLIF(e.key, ''), e.source, e.created, e.count
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::integer[])
			WITH ORDINALITY AS e (id, project_id, type, payload, config, key, source, created, count, n)
		ORDER BY e.n`,
		evIDs, projects, types, payloads, configs, keys, sources, created, counts)
	if n == 0 {
		return 0
	}
	var (
		ids, events, dProjects, kinds, uris, tokens = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		webhookIDs                                  = make([]*string, 0, n)
		dues, dCreated                              = make([]time.Time, 0, n), make([]time.Time, 0, n)
	)
	for _, p := range ps {
		ev := p.ev
		for _, t := range p.targets {
			id := webhookd.NewSortableID(webhookd.PrefixDelivery, ev.CreateTime)
			token, due := ho.Admit(t.uri)
			if due.IsZero() {
				due = ev.CreateTime
			}
			if token != "" {
				ho.Claims = append(ho.Claims, handedClaim(ev, t, id, due, token))
			}
			ids, events, dProjects, kinds = append(ids, id), append(events, ev.ID), append(dProjects, ev.ProjectID), append(kinds, string(t.kind))
			webhookIDs, uris, tokens = append(webhookIDs, t.webhookID), append(uris, t.uri), append(tokens, token)
			dues, dCreated = append(dues, due), append(dCreated, ev.CreateTime)
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

// handedClaim is the claim of a delivery a publish writes leased: the row
// as the insert writes it, with what the route read of its webhook.
func handedClaim(ev *webhookd.Event, t target, id string, due time.Time, token string) *webhookd.Claim {
	d := &webhookd.Delivery{
		ID: id, EventID: ev.ID, ProjectID: ev.ProjectID, Kind: t.kind, URI: t.uri,
		State: webhookd.DeliveryPending, NextAttemptTime: due, LeaseToken: token,
		CreateTime: ev.CreateTime, UpdateTime: ev.CreateTime,
	}
	if t.webhookID != nil {
		d.WebhookID = *t.webhookID
	}
	return &webhookd.Claim{Delivery: d, EventType: ev.Type, Payload: ev.Payload, WebhookState: t.state, Secrets: t.secrets}
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
	if _, err := br.Exec(); isForeignKeyViolation(err) {
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
		setAudience(read, read.Claims[0].Delivery.ProjectID, audience)
	}
	return nil
}

// lockIdempotencyKey takes the key's lock for the rest of tx and returns the
// event that already used the key within the window, if any.
func (s *Store) lockIdempotencyKey(ctx context.Context, tx pgx.Tx, projectID, key string, now time.Time) (*webhookd.Event, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
		lockKey(s.scope, "idempotency", projectID, key)); err != nil {
		return nil, err
	}
	rows, _ := tx.Query(ctx, `SELECT `+eventColumns+` FROM events
		WHERE project_id = $1 AND idempotency_key = $2 AND create_time > $3
		ORDER BY create_time DESC LIMIT 1`, projectID, key, now.Add(-webhookd.IdempotencyWindow))
	ev, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return ev, err
}

// routeQuerier is what route needs: a transaction, or the pool.
type routeQuerier interface {
	querier
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// routeCache holds static routes by (project, event type) within one
// transaction; its targets are shared and must not be changed.
type routeCache map[[2]string][]target

// route returns the destinations of ne, in a stable order.
func (s *Store) route(ctx context.Context, tx routeQuerier, ne webhookd.NewEvent, now time.Time, routes routeCache) ([]target, error) {
	switch {
	case ne.OnlyWebhookID != "":
		rows, _ := tx.Query(ctx, targetSelect+`
			WHERE w.project_id = $1 AND w.id = $2`, ne.ProjectID, ne.OnlyWebhookID, now)
		t, err := pgx.CollectExactlyOneRow(rows, scanTarget)
		if err != nil {
			return nil, mapErr(err, "route", "Webhook")
		}
		return []target{t}, nil
	case ne.WebhookConfig.Dynamic():
		// One delivery per distinct URI: a receiver listed twice gets the
		// event once.
		var out []target
		seen := make(map[string]bool, len(ne.WebhookConfig.URIs))
		for _, uri := range ne.WebhookConfig.URIs {
			if !seen[uri] {
				seen[uri] = true
				out = append(out, target{kind: webhookd.DeliveryDynamic, uri: uri})
			}
		}
		return out, nil
	default:
		key := [2]string{ne.ProjectID, ne.Type}
		if ts, ok := routes[key]; ok {
			return ts, nil
		}
		rows, _ := tx.Query(ctx, targetSelect+`
			WHERE w.project_id = $1 AND w.state = 'enabled' AND $2 = ANY (w.subscribed_events)
			ORDER BY w.create_time, w.id`, ne.ProjectID, ne.Type, now)
		ts, err := pgx.CollectRows(rows, scanTarget)
		if err == nil && routes != nil {
			routes[key] = ts
		}
		return ts, err
	}
}

// targetSelect reads static targets (see scanTarget), with the secrets live
// at $3; the caller adds the WHERE clause, with $1 and $2.
var targetSelect = `SELECT w.id, w.uri, w.state, ` + secretsColumns + `
	FROM webhooks w ` + secretsJoin("$3")

// scanTarget reads a static target: id, uri, state and secretsColumns.
func scanTarget(row pgx.CollectableRow) (target, error) {
	var (
		t   = target{kind: webhookd.DeliveryStatic}
		id  string
		sec secretArrays
	)
	if err := row.Scan(append([]any{&id, &t.uri, &t.state}, sec.dest()...)...); err != nil {
		return t, err
	}
	t.webhookID, t.secrets = &id, sec.secrets(id)
	return t, nil
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
