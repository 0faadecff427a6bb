package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The hot path's SQL: publish, claim and record. These are prepared once when
// the store opens. The writer has a single connection, so a statement
// prepared on the writer *sql.DB is prepared on that connection, and
// tx.StmtContext reuses it inside every transaction instead of compiling the
// SQL again.
const (
	// A publish's project: that it exists, and its audience for the
	// claims it hands off.
	sqlProjectAudience = `SELECT audience FROM projects WHERE id = ?`

	// The event published with a key within the idempotency window.
	sqlIdempotentEvent = `SELECT ` + eventColumns + ` FROM events
WHERE project_id = ? AND idempotency_key = ? AND idempotency_key <> '' AND create_time > ?
ORDER BY create_time DESC LIMIT 1`

	// Routing's candidates (see webhookd.Route): one webhook (a ping), or
	// all of a project's, which routing chooses among.
	sqlRouteWebhook  = `SELECT ` + routeColumns + ` FROM webhooks WHERE project_id = ? AND id = ?`
	sqlRouteWebhooks = `SELECT ` + routeColumns + ` FROM webhooks WHERE project_id = ? ORDER BY create_time, id`

	// The publish: events and their deliveries, several rows at once (see
	// multiRow).
	sqlInsertEventsHead     = `INSERT INTO events (id, project_id, type, payload, webhook_config, idempotency_key, source, traceparent, create_time, delivery_count) VALUES `
	sqlInsertEventsRow      = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlInsertDeliveriesHead = `INSERT INTO deliveries (id, event_id, project_id, kind, webhook_id, uri, state, next_attempt_time, lease_token, create_time, update_time) VALUES `
	sqlInsertDeliveriesRow  = `(?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`

	// sqlClaim leases the oldest due deliveries in one statement: the
	// subquery walks deliveries_due (the partial index of pending rows by due
	// time) and stops at the limit. Moving next_attempt_time to the end of
	// the lease is what hides a claimed row from the next claim, and what
	// brings it back if its holder dies. Each row gets its own random token.
	// Rows are picked by rowid, which the index holds: the subquery reads
	// the index alone, and the update finds each row without a search of
	// the primary-key index.
	sqlClaim = `
UPDATE deliveries
SET lease_token = lower(hex(randomblob(16))), next_attempt_time = :lease_end
WHERE rowid IN (
    SELECT rowid FROM deliveries
    WHERE state = 'pending' AND next_attempt_time <= :now
    ORDER BY next_attempt_time
    LIMIT :limit
)
RETURNING ` + deliveryColumns

	// sqlRecord* apply a batch of results, its rows bound as parameters
	// (see multiRow), each only under the lease it was claimed with: a
	// result whose lease ended (and was claimed again), or whose delivery
	// was retried, failed by a webhook deletion or already recorded, matches
	// no row. NULL values leave a column as it is. ?1 is the time of the
	// update; a row is (id, token, state, attempted, next, at, status, error,
	// attempt_id, latency, body, stage, headers). With an attempt_id the row now holds that
	// attempt (see migration 0005: the one it held before moves to attempts
	// by trigger), whose time, status and error are at, status and error.
	sqlRecordHead = `
UPDATE deliveries SET
    state              = r.state,
    attempt_count      = attempt_count + r.attempted,
    next_attempt_time  = coalesce(r.next, next_attempt_time),
    lease_token        = '',
    first_attempt_time = coalesce(first_attempt_time, r.at),
    last_attempt_time  = coalesce(r.at, last_attempt_time),
    last_status_code   = coalesce(r.status, last_status_code),
    last_error         = coalesce(r.error, last_error),
    last_attempt_id    = coalesce(r.attempt_id, last_attempt_id),
    last_latency_ns    = coalesce(r.latency, last_latency_ns),
    last_attempt_error = iif(r.attempt_id IS NULL, last_attempt_error, r.error),
    last_response_body = coalesce(r.body, last_response_body),
    last_error_stage   = coalesce(r.stage, last_error_stage),
    last_response_headers = coalesce(r.headers, last_response_headers),
    update_time        = ?1
FROM (
    SELECT column1 AS id, column2 AS token, column3 AS state, column4 AS attempted,
        column5 AS next, column6 AS at, column7 AS status, column8 AS error,
        column9 AS attempt_id, column10 AS latency, column11 AS body,
        column12 AS stage, column13 AS headers
    FROM (VALUES `
	sqlRecordRow  = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlRecordTail = `)
) AS r
WHERE deliveries.id = r.id AND deliveries.state = 'pending' AND deliveries.lease_token = r.token AND r.token <> ''
RETURNING deliveries.id, deliveries.kind, deliveries.webhook_id`

	// sqlWebhookFailed starts or continues a webhook's failing run, and
	// disables an enabled webhook whose run has lasted :disable_after.
	// (In an UPDATE every column on the right is the old value.)
	sqlWebhookFailed = `
UPDATE webhooks SET
    failing_since = coalesce(failing_since, :attempt_time),
    state = CASE WHEN state = 'enabled' AND coalesce(failing_since, :attempt_time) <= :attempt_time - :disable_after
        THEN 'disabled_due_to_failed_deliveries' ELSE state END,
    update_time = CASE WHEN state = 'enabled' AND coalesce(failing_since, :attempt_time) <= :attempt_time - :disable_after
        THEN :now ELSE update_time END
WHERE id = :id
RETURNING project_id, uri, state, state = 'disabled_due_to_failed_deliveries' AND update_time = :now`

	sqlWebhookSucceeded = `UPDATE webhooks SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL`

	// The claim's second step, on the read pool: what sending needs, for the
	// whole batch at once (ids passed as one JSON array).
	sqlClaimEvents = `
SELECT e.id, e.type, e.payload, e.traceparent, p.audience
FROM events e JOIN projects p ON p.id = e.project_id
WHERE e.id IN (SELECT value FROM json_each(?))`

	sqlClaimWebhooks = `
SELECT w.id, w.state, w.headers, ` + secretColumnsS + `
FROM webhooks w LEFT JOIN signing_secrets s ON s.webhook_id = w.id AND (s.expire_time IS NULL OR s.expire_time > ?)
WHERE w.id IN (SELECT value FROM json_each(?))
ORDER BY w.id, s.create_time DESC, s.rowid DESC`
)

type statements struct {
	projectAudience, idempotentEvent, routeWebhook, routeWebhooks *sql.Stmt
	claim, webhookFailed, webhookSucceeded                        *sql.Stmt
	claimEvents, claimWebhooks                                    *sql.Stmt
	// handOffWebhooks is claimWebhooks on the writer, for the publish
	// transactions that hand deliveries off (see Store.fillHandOff).
	handOffWebhooks            *sql.Stmt
	record, events, deliveries *multiRow
}

func prepare(ctx context.Context, writer, reader *sql.DB) (*statements, error) {
	st := &statements{}
	for _, m := range []struct {
		dst             **multiRow
		head, row, tail string
	}{
		{&st.record, sqlRecordHead, sqlRecordRow, sqlRecordTail},
		{&st.events, sqlInsertEventsHead, sqlInsertEventsRow, ""},
		{&st.deliveries, sqlInsertDeliveriesHead, sqlInsertDeliveriesRow, ""},
	} {
		var err error
		if *m.dst, err = prepareMultiRow(ctx, writer, m.head, m.row, m.tail); err != nil {
			_ = st.close()
			return nil, err
		}
	}
	for _, p := range []struct {
		db   *sql.DB
		dst  **sql.Stmt
		text string
	}{
		{writer, &st.projectAudience, sqlProjectAudience},
		{writer, &st.idempotentEvent, sqlIdempotentEvent},
		{writer, &st.routeWebhook, sqlRouteWebhook},
		{writer, &st.routeWebhooks, sqlRouteWebhooks},
		{writer, &st.claim, sqlClaim},
		{writer, &st.webhookFailed, sqlWebhookFailed},
		{writer, &st.webhookSucceeded, sqlWebhookSucceeded},
		{reader, &st.claimEvents, sqlClaimEvents},
		{reader, &st.claimWebhooks, sqlClaimWebhooks},
		{writer, &st.handOffWebhooks, sqlClaimWebhooks},
	} {
		stmt, err := p.db.PrepareContext(ctx, p.text)
		if err != nil {
			_ = st.close()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", p.text, err)
		}
		*p.dst = stmt
	}
	return st, nil
}

func (st *statements) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{st.projectAudience, st.idempotentEvent, st.routeWebhook, st.routeWebhooks, st.claim, st.webhookFailed, st.webhookSucceeded, st.claimEvents, st.claimWebhooks, st.handOffWebhooks} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	errs = append(errs, st.record.close(), st.events.close(), st.deliveries.close())
	return errors.Join(errs...)
}
