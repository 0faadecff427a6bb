package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/handoff"
	"github.com/webhookd/webhookd/internal/lease"
)

// claimQuery leases due deliveries and returns them with what sending needs,
// in one statement. SKIP LOCKED lets every process claim at once without
// waiting on each other's rows; the partial index deliveries_due keeps the
// scan on pending rows only. The UPDATE finds the leased rows by = ANY of an
// array, which always plans as primary-key lookups: joined to the CTE, the
// planner prefers scanning the whole table while it is under some 60,000
// rows (TestHotPathPlans). The order of the result is the due order.
var claimQuery = `WITH due AS (
		SELECT id, next_attempt_time AS due_time, seq
		FROM deliveries
		WHERE state = 'pending' AND next_attempt_time <= $1
		ORDER BY next_attempt_time
		LIMIT $2
		FOR UPDATE SKIP LOCKED
	), claimed AS (
		UPDATE deliveries d SET next_attempt_time = $3, lease_token = $4
		WHERE d.id = ANY (ARRAY (SELECT id FROM due))
		RETURNING d.*
	)
	SELECT ` + claimColumns + `
	FROM claimed d
	JOIN due ON due.id = d.id
	JOIN events e ON e.id = d.event_id
	JOIN projects p ON p.id = d.project_id
	LEFT JOIN webhooks w ON w.id = d.webhook_id
	` + secretsJoin("$1") + `
	ORDER BY due.due_time, due.seq`

// claimSettings is sent with claimQuery, in one explicit transaction, so
// that it applies to the claim alone. (Not in the implicit transaction of a
// pipeline: PostgreSQL 15 ignores SET LOCAL there, with a warning.) Without it the planner, when its
// statistics predate a backlog (a fresh table, a retry storm), reads every
// due row with a bitmap scan and sorts them all to take the first hundred:
// each claim then costs as much as the backlog is long, just when the
// backlog needs claims to be fast. The ordered scan of deliveries_due stops
// after the limit (TestHotPathPlans). The claim is also sent after
// customPlans: its generic plan, made while the table was small, would
// find the leased rows by scanning it.
const claimSettings = `SET LOCAL enable_bitmapscan = off`

// claimPrelude is what ClaimDeliveries sends before claimQuery, in the
// same batch.
var claimPrelude = []string{"BEGIN", claimSettings, customPlans}

// ClaimDeliveries leases up to limit due deliveries until now+lease. All the
// deliveries of one claim share one lease token: a token only has to tell
// this claim from any other claim of the same delivery.
func (s *Store) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]*webhookd.Claim, error) {
	if limit <= 0 {
		return nil, nil
	}
	now := s.now()
	token := webhookd.NewID("")
	// One round trip: a failed statement leaves the connection in an
	// aborted transaction, which the pool closes instead of reusing.
	b := &pgx.Batch{}
	for _, q := range claimPrelude {
		b.Queue(q)
	}
	b.Queue(claimQuery, now, limit, now.Add(lease), token)
	b.Queue("COMMIT")
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	for range claimPrelude {
		if _, err := br.Exec(); err != nil {
			return nil, mapErr(err, "claim deliveries", "Delivery")
		}
	}
	rows, _ := br.Query()
	claims, err := pgx.CollectRows(rows, scanClaim)
	if err != nil {
		return nil, mapErr(err, "claim deliveries", "Delivery")
	}
	if _, err := br.Exec(); err != nil {
		return nil, mapErr(err, "claim deliveries", "Delivery")
	}
	return claims, nil
}

// claimColumns are what a claim needs beside its delivery, from the joins
// of claimQuery.
const claimColumns = deliveryColumns + `, e.type, e.payload, e.traceparent, COALESCE(w.state, ''), COALESCE(w.headers, '{}'), p.audience, ` + secretsColumns

// scanClaim reads a row of claimColumns.
func scanClaim(row pgx.CollectableRow) (*webhookd.Claim, error) {
	var (
		d   webhookd.Delivery
		c   = webhookd.Claim{Delivery: &d}
		sec secretArrays
	)
	dest := append(deliveryDest(&d), &c.EventType, &c.Payload, &c.TraceParent, &c.WebhookState, &c.Headers, &c.Audience)
	if err := row.Scan(append(dest, sec.dest()...)...); err != nil {
		return nil, err
	}
	c.Secrets = sec.secrets(d.WebhookID)
	return &c, nil
}

// audienceQuery reads the JWT audience of a project, for the claims a
// publish hands off (see webhookd.Claim.Audience). A primary-key lookup
// with one scalar argument: PostgreSQL plans it once per connection, where
// the join of claimQuery, read for the same claims, was planned afresh at
// every publish and cost more than the publish's inserts.
const audienceQuery = `SELECT audience FROM projects WHERE id = $1`

// queueReadAudience queues, after the inserts of a publish of one event of
// project, the read of its audience when ho took a delivery, and returns ho
// then, or nil (see execEventWrites).
func queueReadAudience(b *pgx.Batch, ho *handoff.Tx, project string) *handoff.Tx {
	if !ho.Taken() {
		return nil
	}
	b.Queue(audienceQuery, project)
	return ho
}

// readAudiences sets, inside a publishing transaction, the audience of the
// projects of the claims ho took.
func (s *Store) readAudiences(ctx context.Context, tx pgx.Tx, ho *handoff.Tx) error {
	return ho.SetAudiences(func(projectID string) (audience string, err error) {
		err = tx.QueryRow(ctx, audienceQuery, projectID).Scan(&audience)
		return audience, err
	})
}

// HandOffTo makes publishes ask h about each new delivery and hand it those
// it takes (see handoff.Target), until remove is called. The events that
// operation changes publish are only claimed.
func (s *Store) HandOffTo(t handoff.Target) (remove func()) { return s.handOff.HandOffTo(t) }

var _ handoff.Store = (*Store)(nil)

// recordQuery applies a batch of results, given as parallel arrays, in one
// statement: it updates the deliveries whose lease still matches, inserts
// the attempts of those, and returns which deliveries it updated. The lease
// token is cleared, so the same result recorded twice applies once. The
// store numbers attempts (the attempt count restarts with a manual retry,
// the attempt log does not), so Attempt.Number is not read.
const recordQuery = `WITH r AS (
		SELECT * FROM unnest(
			$1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
			$6::boolean[], $7::text[], $8::timestamptz[], $9::integer[], $10::bigint[],
			$11::text[], $12::bytea[], $14::text[], $15::text[]
		) AS r (delivery_id, lease_token, outcome, next_attempt_time, error,
			has_attempt, attempt_id, attempt_time, status_code,
			latency_ns, attempt_error, response_body, error_stage, response_headers)
	), upd AS (
		UPDATE deliveries d SET
			state = CASE r.outcome WHEN 'succeeded' THEN 'succeeded' WHEN 'failed' THEN 'failed' ELSE 'pending' END,
			next_attempt_time = CASE WHEN r.outcome IN ('retry', 'deferred') THEN r.next_attempt_time ELSE d.next_attempt_time END,
			lease_token = '',
			attempt_count = d.attempt_count + CASE WHEN r.has_attempt THEN 1 ELSE 0 END,
			first_attempt_time = CASE WHEN r.has_attempt THEN COALESCE(d.first_attempt_time, r.attempt_time) ELSE d.first_attempt_time END,
			last_attempt_time = CASE WHEN r.has_attempt THEN r.attempt_time ELSE d.last_attempt_time END,
			last_status_code = CASE WHEN r.has_attempt THEN r.status_code ELSE d.last_status_code END,
			last_error = CASE WHEN r.has_attempt THEN r.attempt_error WHEN r.error <> '' THEN r.error ELSE d.last_error END,
			update_time = $13
		FROM r
		WHERE d.id = ANY (ARRAY (SELECT delivery_id FROM r)) AND d.id = r.delivery_id
			AND r.lease_token <> '' AND d.lease_token = r.lease_token
		RETURNING d.id, d.attempt_count, d.kind, COALESCE(d.webhook_id, '') AS webhook_id
	), ins AS (
		INSERT INTO attempts (id, delivery_id, number, time, status_code, latency_ns, error, response_body,
			error_stage, response_headers)
		SELECT r.attempt_id, upd.id,
			COALESCE((SELECT max(a.number) FROM attempts a WHERE a.delivery_id = upd.id), 0) + 1,
			r.attempt_time, r.status_code, r.latency_ns, r.attempt_error, r.response_body,
			r.error_stage, r.response_headers
		FROM upd JOIN r ON r.delivery_id = upd.id
		WHERE r.has_attempt
	)
	SELECT id, kind, webhook_id FROM upd`

// failingRunQuery applies auto-disable for the webhooks of a batch, given
// per webhook as: whether the batch holds a success (reset), the first
// failure after the last success, the last failure, and the threshold. Only
// rows that change are locked and written, in id order so that processes
// recording at once cannot deadlock: a healthy webhook's row is never
// written by the hot path.
const failingRunQuery = `WITH u AS (
		SELECT * FROM unnest($1::text[], $2::boolean[], $3::timestamptz[], $4::timestamptz[], $5::bigint[])
			AS u (webhook_id, reset, fail_start, last_fail, disable_after_us)
	), target AS (
		SELECT w.id, run.failing_since, run.disable
		FROM webhooks w
		JOIN u ON u.webhook_id = w.id
		CROSS JOIN LATERAL (
			SELECT CASE WHEN u.reset THEN u.fail_start ELSE COALESCE(w.failing_since, u.fail_start) END AS failing_since
		) since
		CROSS JOIN LATERAL (
			SELECT since.failing_since, w.state = 'enabled' AND u.last_fail IS NOT NULL
				AND since.failing_since <= u.last_fail - u.disable_after_us * interval '1 microsecond' AS disable
		) run
		WHERE run.failing_since IS DISTINCT FROM w.failing_since OR run.disable
		ORDER BY w.id
		FOR UPDATE OF w
	)
	UPDATE webhooks w SET
		failing_since = t.failing_since,
		state = CASE WHEN t.disable THEN 'disabled_due_to_failed_deliveries' ELSE w.state END,
		update_time = CASE WHEN t.disable THEN $6 ELSE w.update_time END
	FROM target t WHERE w.id = t.id
	RETURNING w.id, w.project_id, w.uri, t.disable`

// recordLockQuery locks the deliveries of a batch of results, in id order.
const recordLockQuery = `SELECT FROM deliveries WHERE id = ANY ($1) ORDER BY id FOR UPDATE`

// RecordResults applies a batch of results in one transaction: a statement
// that locks the deliveries, one for the deliveries and attempts, and one
// more only when some result asks for auto-disable. A delivery with results
// of several claims in the batch takes the one holding its lease (see
// lease.OnePerDelivery); that takes one more statement, after the lock.
func (s *Store) RecordResults(ctx context.Context, results []webhookd.Result) error {
	if len(results) == 0 {
		return nil
	}
	published := false // operational events created deliveries
	ids := make([]string, len(results))
	for i, r := range results {
		ids[i] = r.DeliveryID
	}
	// A batch is safe to write twice: it applies only under leases it
	// holds, and a try that failed before its commit applied nothing.
	err := mapErr(retryUnavailable(ctx, func() error {
		return s.inCustomPlanTx(ctx, func(tx pgx.Tx) error {
			// Lock the deliveries in id order first, as DeleteWebhook does: the
			// UPDATE below locks rows in whatever order its plan visits them,
			// and two writers visiting shared rows in different orders deadlock.
			if _, err := tx.Exec(ctx, recordLockQuery, ids); err != nil {
				return err
			}
			batch, err := lease.OnePerDelivery(results, func(ids []string) (map[string]string, error) {
				rows, _ := tx.Query(ctx, `SELECT id, lease_token FROM deliveries WHERE id = ANY ($1)`, ids)
				tokens := make(map[string]string, len(ids))
				var id, token string
				_, err := pgx.ForEachRow(rows, []any{&id, &token}, func() error {
					tokens[id] = token
					return nil
				})
				return tokens, err
			})
			if err != nil {
				return err
			}
			var err2 error
			published, err2 = s.record(ctx, tx, batch) // this try's: a retried one starts over
			return err2
		})
	}), "record results", "Delivery")
	if err == nil && published {
		s.wakeAll()
	}
	return err
}

// record applies a batch with one result per delivery, whose rows are
// locked, in tx.
func (s *Store) record(ctx context.Context, tx pgx.Tx, results []webhookd.Result) (published bool, err error) {
	if len(results) == 0 {
		return false, nil
	}

	now := s.now()
	n := len(results)
	var (
		ids, tokens, outcomes, errs = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		nextTimes                   = make([]time.Time, n)
		hasAttempt                  = make([]bool, n)
		attemptIDs, attemptErrs     = make([]string, n), make([]string, n)
		statuses                    = make([]int32, n)
		attemptTimes                = make([]time.Time, n)
		latencies                   = make([]int64, n)
		bodies                      = make([][]byte, n)
		stages, headers             = make([]string, n), make([]string, n)
		byID                        = make(map[string]*webhookd.Result, n)
	)
	for i := range results {
		r := &results[i]
		byID[r.DeliveryID] = r
		ids[i], tokens[i], outcomes[i], errs[i] = r.DeliveryID, r.LeaseToken, string(r.Outcome), cleanText(r.Error)
		nextTimes[i] = orNow(r.NextAttemptTime, now)
		bodies[i] = []byte{}
		if a := r.Attempt; a != nil {
			hasAttempt[i] = true
			attemptIDs[i] = a.ID
			if a.ID == "" {
				attemptIDs[i] = webhookd.NewSortableID(webhookd.PrefixAttempt, now)
			}
			attemptTimes[i] = orNow(a.Time, now)
			statuses[i] = int32(a.StatusCode)
			latencies[i] = int64(a.Latency)
			attemptErrs[i] = cleanText(a.Error)
			bodies[i] = []byte(a.ResponseBody)
			stages[i], headers[i] = a.ErrorStage, cleanText(a.ResponseHeaders)
		} else {
			attemptTimes[i] = now
		}
	}
	rows, _ := tx.Query(ctx, recordQuery, ids, tokens, outcomes, nextTimes, errs,
		hasAttempt, attemptIDs, attemptTimes, statuses, latencies, attemptErrs, bodies, now, stages, headers)
	var runs failingRuns
	applied, err := pgx.CollectRows(rows, pgx.RowToStructByPos[appliedResult])
	if err != nil {
		return false, err
	}
	gone := map[string]string{} // webhook id → the delivery answered 410
	var exhausted []string
	for _, a := range applied {
		r := byID[a.ID]
		static := a.Kind == string(webhookd.DeliveryStatic) && a.WebhookID != ""
		switch {
		case r.Gone && static:
			gone[a.WebhookID] = a.ID
		case r.Outcome == webhookd.OutcomeFailed && r.Attempt != nil:
			exhausted = append(exhausted, a.ID)
		}
		if r.DisableAfter > 0 && static && !r.Gone {
			runs.add(a.WebhookID, r, now)
		}
	}
	var ops []webhookd.NewEvent
	for _, id := range slices.Sorted(maps.Keys(gone)) { // rows locked in id order, as failingRunQuery locks them
		w := webhookd.Webhook{ID: id, State: webhookd.WebhookDisabled}
		err := tx.QueryRow(ctx, `UPDATE webhooks SET state = 'disabled', update_time = $2
			WHERE id = $1 AND state = 'enabled' RETURNING project_id, uri`, id, now).Scan(&w.ProjectID, &w.URI)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // not enabled (or deleted): nothing changes
		}
		if err != nil {
			return false, err
		}
		ops = append(ops, webhookd.WebhookDisabledEvent(&w, webhookd.DisabledGone, "receiver answered 410 Gone", gone[id]))
	}
	if len(runs) > 0 {
		rows, _ := tx.Query(ctx, failingRunQuery, runs.args(now)...)
		var id, projectID, uri string
		var disabled bool
		_, err := pgx.ForEachRow(rows, []any{&id, &projectID, &uri, &disabled}, func() error {
			if disabled {
				w := webhookd.Webhook{ID: id, ProjectID: projectID, URI: uri, State: webhookd.WebhookDisabledDueToFailedDeliveries}
				ops = append(ops, webhookd.WebhookDisabledEvent(&w, webhookd.DisabledFailedDeliveries,
					"failing continuously for "+runs[id].disableAfter.String(), ""))
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	if len(exhausted) > 0 {
		rows, _ := tx.Query(ctx, `SELECT d.id, d.project_id, d.event_id, e.type, COALESCE(d.webhook_id, ''), d.uri, d.attempt_count,
				COALESCE(d.last_status_code, 0), d.last_error
			FROM deliveries d JOIN events e ON e.id = d.event_id
			WHERE d.id = ANY ($1) ORDER BY d.id`, exhausted)
		var projectID string
		var d webhookd.DeliveryExhaustedData
		_, err := pgx.ForEachRow(rows, []any{&d.DeliveryID, &projectID, &d.EventID, &d.EventType, &d.WebhookID, &d.URI,
			&d.AttemptCount, &d.LastStatusCode, &d.LastError}, func() error {
			if ne, ok := webhookd.DeliveryExhaustedEvent(projectID, d); ok {
				ops = append(ops, ne)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	if len(ops) == 0 {
		return false, nil
	}
	planned, _, err := s.publishTx(ctx, tx, nil, now, ops, false)
	if err != nil {
		return false, fmt.Errorf("operational events: %w", err)
	}
	return webhookd.NewDeliveries(planned) > 0, nil
}

// appliedResult is a delivery that recordQuery updated.
type appliedResult struct {
	ID, Kind, WebhookID string
}

// failingRun folds one batch's attempts at one webhook, in time order, into
// what failingRunQuery needs.
type failingRun struct {
	webhookID    string
	reset        bool
	failStart    *time.Time
	lastFail     *time.Time
	disableAfter time.Duration
	events       []runEvent
}

type runEvent struct {
	at time.Time
	ok bool
}

type failingRuns map[string]*failingRun

// add notes r's effect on its webhook's failing run: a success ends the run,
// a failed attempt starts or extends it; results without an attempt (a
// deferral, a give-up without sending) say nothing about the destination.
func (runs *failingRuns) add(webhookID string, r *webhookd.Result, now time.Time) {
	var ev runEvent
	switch {
	case r.Outcome == webhookd.OutcomeSucceeded:
		ev = runEvent{at: now, ok: true}
		if r.Attempt != nil {
			ev.at = orNow(r.Attempt.Time, now)
		}
	case r.Attempt != nil && (r.Outcome == webhookd.OutcomeRetry || r.Outcome == webhookd.OutcomeFailed):
		ev = runEvent{at: orNow(r.Attempt.Time, now)}
	default:
		return
	}
	if *runs == nil {
		*runs = failingRuns{}
	}
	run := (*runs)[webhookID]
	if run == nil {
		run = &failingRun{webhookID: webhookID}
		(*runs)[webhookID] = run
	}
	run.disableAfter = max(run.disableAfter, r.DisableAfter)
	run.events = append(run.events, ev)
}

// args folds each run's events and returns the parameters of
// failingRunQuery, webhooks in id order.
func (runs failingRuns) args(now time.Time) []any {
	n := len(runs)
	var (
		ids        = make([]string, 0, n)
		resets     = make([]bool, 0, n)
		starts     = make([]*time.Time, 0, n)
		lasts      = make([]*time.Time, 0, n)
		thresholds = make([]int64, 0, n)
	)
	for _, id := range slices.Sorted(maps.Keys(runs)) {
		run := runs[id]
		slices.SortStableFunc(run.events, func(a, b runEvent) int { return a.at.Compare(b.at) })
		for _, ev := range run.events {
			if ev.ok {
				run.reset, run.failStart, run.lastFail = true, nil, nil
				continue
			}
			at := ev.at
			if run.failStart == nil {
				run.failStart = &at
			}
			run.lastFail = &at
		}
		ids = append(ids, id)
		resets = append(resets, run.reset)
		starts = append(starts, run.failStart)
		lasts = append(lasts, run.lastFail)
		thresholds = append(thresholds, run.disableAfter.Microseconds())
	}
	return []any{ids, resets, starts, lasts, thresholds, now}
}

// QueueStats counts pending deliveries and finds the oldest due one.
func (s *Store) QueueStats(ctx context.Context) (webhookd.QueueStats, error) {
	var (
		st        webhookd.QueueStats
		oldestDue *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE next_attempt_time <= $1),
			min(next_attempt_time) FILTER (WHERE next_attempt_time <= $1)
		FROM deliveries WHERE state = 'pending'`, s.now()).Scan(&st.Pending, &st.Due, &oldestDue)
	if err != nil {
		return st, mapErr(err, "queue stats", "Delivery")
	}
	if oldestDue != nil {
		st.OldestDue = *oldestDue
	}
	return st, nil
}

// cleanText makes s storable as PostgreSQL text, which rejects NUL bytes and
// invalid UTF-8; error strings can quote a receiver's bytes.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}
