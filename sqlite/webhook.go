package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/webhookd/webhookd"
)

const webhookColumns = `id, project_id, name, uri, subscribed_events, state, create_time, update_time, failing_since, headers, filter`

func scanWebhook(sc scanner) (*webhookd.Webhook, error) {
	var w webhookd.Webhook
	var events string
	var created, updated int64
	var failing sql.NullInt64
	var headers string
	if err := sc.Scan(&w.ID, &w.ProjectID, &w.Name, &w.URI, &events, &w.State, &created, &updated, &failing, &headers, &w.Filter); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &w.SubscribedEvents); err != nil {
		return nil, fmt.Errorf("webhook %s: subscribed_events: %w", w.ID, err)
	}
	var err error
	if w.Headers, err = decodeHeaders(headers); err != nil {
		return nil, fmt.Errorf("webhook %s: headers: %w", w.ID, err)
	}
	if w.Headers == nil {
		w.Headers = map[string]string{}
	}
	w.CreateTime = fromMicros(created)
	w.UpdateTime = fromMicros(updated)
	w.FailingSince = timePtr(failing)
	return &w, nil
}

// secretColumnsS are the signing_secrets columns under the alias s.
const secretColumnsS = `s.id, s.webhook_id, s.sealed, s.truncated, s.create_time, s.expire_time`

// scanSecret scans secretColumnsS; ok is false for the NULLs of a LEFT JOIN
// that found no secret.
func scanSecret(sc scanner, prefix ...any) (sec webhookd.SigningSecret, ok bool, err error) {
	var id, webhookID, truncated sql.NullString
	var created, expires sql.NullInt64
	err = sc.Scan(append(prefix, &id, &webhookID, &sec.Sealed, &truncated, &created, &expires)...)
	if err != nil || !id.Valid {
		return sec, false, err
	}
	sec.ID, sec.WebhookID, sec.Truncated = id.String, webhookID.String, truncated.String
	sec.CreateTime = fromMicros(created.Int64)
	sec.ExpireTime = timePtr(expires)
	return sec, true, nil
}

// headersJSON is a headers column: a JSON object, "{}" for none.
func headersJSON(h map[string]string) (string, error) {
	if len(h) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(h)
	return string(b), err
}

// decodeHeaders reads a headers column; most webhooks have none, and their
// "{}" costs no decoder (claims read it for every static delivery).
func decodeHeaders(s string) (map[string]string, error) {
	if s == "{}" || s == "" {
		return nil, nil
	}
	var h map[string]string
	err := json.Unmarshal([]byte(s), &h)
	return h, err
}

func eventsJSON(events []string) (string, error) {
	if events == nil {
		events = []string{}
	}
	b, err := json.Marshal(events)
	return string(b), err
}

// CreateWebhook stores w and its secrets, assigning the IDs and times that
// are unset (the secrets' WebhookID is always w's).
func (s *Store) CreateWebhook(ctx context.Context, w *webhookd.Webhook) error {
	w.SetDefaults(s.now())
	events, err := eventsJSON(w.SubscribedEvents)
	if err != nil {
		return fmt.Errorf("sqlite: create webhook: %w", err)
	}
	headers, err := headersJSON(w.Headers)
	if err != nil {
		return fmt.Errorf("sqlite: create webhook: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			w.ID, w.ProjectID, w.Name, w.URI, events, string(w.State), micros(w.CreateTime), micros(w.UpdateTime), nullMicros(w.FailingSince),
			headers, w.Filter)
		if err == nil {
			err = insertSecrets(ctx, tx, w.Secrets...)
		}
		return err
	})
	return mapCreateErr(err, "create webhook", "Webhook")
}

// insertSecrets writes secrets, each as insertSecret.
func insertSecrets(ctx context.Context, tx *sql.Tx, secrets ...webhookd.SigningSecret) error {
	for _, sec := range secrets {
		if err := insertSecret(ctx, tx, sec); err != nil {
			return err
		}
	}
	return nil
}

func insertSecret(ctx context.Context, tx *sql.Tx, sec webhookd.SigningSecret) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO signing_secrets (id, webhook_id, sealed, truncated, create_time, expire_time) VALUES (?, ?, ?, ?, ?, ?)`,
		sec.ID, sec.WebhookID, sec.Sealed, sec.Truncated, micros(sec.CreateTime), nullMicros(sec.ExpireTime))
	return err
}

// GetWebhook returns the webhook with its live secrets, newest first.
func (s *Store) GetWebhook(ctx context.Context, projectID, id string) (*webhookd.Webhook, error) {
	var w *webhookd.Webhook
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		w, err = scanWebhook(tx.QueryRowContext(ctx,
			`SELECT `+webhookColumns+` FROM webhooks WHERE project_id = ? AND id = ?`, projectID, id))
		if err != nil {
			return mapErr(err, "get webhook", "Webhook")
		}
		return s.attachSecrets(ctx, tx, []*webhookd.Webhook{w})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// ListWebhooks returns a page of a project's webhooks, oldest first, each
// with its live secrets.
func (s *Store) ListWebhooks(ctx context.Context, projectID string, page webhookd.Page) ([]*webhookd.Webhook, error) {
	// The zero cursor is the position before every row.
	afterTime, afterID := int64(math.MinInt64), ""
	if !page.After.IsZero() {
		afterTime, afterID = micros(page.After.Time), page.After.ID
	}
	var ws []*webhookd.Webhook
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks
			WHERE project_id = ? AND (create_time, id) > (?, ?)
			ORDER BY create_time, id LIMIT ?`, projectID, afterTime, afterID, limit(page))
		if err != nil {
			return fmt.Errorf("sqlite: list webhooks: %w", err)
		}
		if ws, err = collect(rows, scanWebhook, "list webhooks"); err != nil {
			return err
		}
		return s.attachSecrets(ctx, tx, ws)
	})
	if err != nil {
		return nil, err
	}
	return ws, nil
}

// attachSecrets loads the live secrets of ws in one query.
func (s *Store) attachSecrets(ctx context.Context, tx *sql.Tx, ws []*webhookd.Webhook) error {
	if len(ws) == 0 {
		return nil
	}
	byID := make(map[string]*webhookd.Webhook, len(ws))
	ids := make([]string, len(ws))
	for i, w := range ws {
		byID[w.ID], ids[i] = w, w.ID
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("sqlite: load secrets: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+secretColumnsS+` FROM signing_secrets s
		WHERE s.webhook_id IN (SELECT value FROM json_each(?)) AND (s.expire_time IS NULL OR s.expire_time > ?)
		ORDER BY s.webhook_id, s.create_time DESC, s.rowid DESC`, string(idsJSON), micros(s.now()))
	if err != nil {
		return fmt.Errorf("sqlite: load secrets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		sec, _, err := scanSecret(rows)
		if err != nil {
			return fmt.Errorf("sqlite: load secrets: %w", err)
		}
		w := byID[sec.WebhookID]
		w.Secrets = append(w.Secrets, sec)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: load secrets: %w", err)
	}
	return nil
}

// UpdateWebhook writes Name, URI, SubscribedEvents, Headers, Filter, State,
// UpdateTime and FailingSince.
func (s *Store) UpdateWebhook(ctx context.Context, w *webhookd.Webhook) error {
	events, err := eventsJSON(w.SubscribedEvents)
	if err != nil {
		return fmt.Errorf("sqlite: update webhook: %w", err)
	}
	headers, err := headersJSON(w.Headers)
	if err != nil {
		return fmt.Errorf("sqlite: update webhook: %w", err)
	}
	published := false
	err = s.write(ctx, func(tx *sql.Tx) error {
		var from webhookd.WebhookState
		err := tx.QueryRowContext(ctx, `SELECT state FROM webhooks WHERE project_id = ? AND id = ?`, w.ProjectID, w.ID).Scan(&from)
		if err != nil {
			return mapErr(err, "update webhook", "Webhook")
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhooks
			SET name = ?, uri = ?, subscribed_events = ?, headers = ?, filter = ?, state = ?, update_time = ?, failing_since = ?
			WHERE project_id = ? AND id = ?`,
			w.Name, w.URI, events, headers, w.Filter, string(w.State), micros(w.UpdateTime), nullMicros(w.FailingSince), w.ProjectID, w.ID)
		if err := affectedOne(res, err, "update webhook", "Webhook"); err != nil {
			return err
		}
		ne, ok := webhookd.StateChangeEvent(w, from)
		if !ok {
			return nil
		}
		published, err = s.publishOperational(ctx, tx, ne)
		return err
	})
	if err == nil && published {
		s.wake()
	}
	return err
}

// publishOperational publishes the service's own events in tx, and
// reports whether they created deliveries (then the engines are to be
// woken after the commit).
func (s *Store) publishOperational(ctx context.Context, tx *sql.Tx, events ...webhookd.NewEvent) (bool, error) {
	planned, _, err := s.publishTx(ctx, tx, nil, webhookd.NewPlanner(planReader{s, tx}, s.filters, s.now()), audiences{}, events)
	if err != nil {
		return false, fmt.Errorf("sqlite: publish %s: %w", events[0].Type, err)
	}
	return webhookd.NewDeliveries(planned) > 0, nil
}

// sqlFailWebhookDeliveries fails a webhook's pending deliveries. Its
// redundant check that webhook_id is not empty lets SQLite use the partial
// index deliveries_webhook: the planner cannot prove that of a bound parameter.
const sqlFailWebhookDeliveries = `UPDATE deliveries
SET state = 'failed', lease_token = '', last_error = ?, update_time = ?
WHERE webhook_id = ? AND webhook_id <> '' AND state = 'pending'`

// deliveryErrWebhookDeleted is the LastError of the deliveries a webhook's
// deletion fails.
const deliveryErrWebhookDeleted = "webhook deleted"

// DeleteWebhook removes the webhook (its secrets go with it by ON DELETE
// CASCADE) and fails its pending deliveries, leased ones included: clearing
// their lease token makes the holder's late result a no-op.
func (s *Store) DeleteWebhook(ctx context.Context, projectID, id string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE project_id = ? AND id = ?`, projectID, id)
		if err := affectedOne(res, err, "delete webhook", "Webhook"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlFailWebhookDeliveries, deliveryErrWebhookDeleted, micros(s.now()), id)
		if err != nil {
			return fmt.Errorf("sqlite: delete webhook: fail deliveries: %w", err)
		}
		return nil
	})
}

// RotateSecret adds next as the current secret and brings every other live
// secret's expiry forward to expireOthers; secrets already expired are pruned.
func (s *Store) RotateSecret(ctx context.Context, projectID, webhookID string, next webhookd.SigningSecret, expireOthers time.Time) error {
	now := s.now()
	next.SetDefaults(webhookID, now)
	published := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		w := webhookd.Webhook{ID: webhookID, ProjectID: projectID}
		err := tx.QueryRowContext(ctx, `UPDATE webhooks SET update_time = ? WHERE project_id = ? AND id = ? RETURNING uri`,
			micros(next.CreateTime), projectID, webhookID).Scan(&w.URI)
		if err != nil {
			return mapErr(err, "rotate secret", "Webhook")
		}
		exp := micros(expireOthers)
		if _, err := tx.ExecContext(ctx, `UPDATE signing_secrets SET expire_time = ?
			WHERE webhook_id = ? AND (expire_time IS NULL OR expire_time > ?)`, exp, webhookID, exp); err != nil {
			return fmt.Errorf("sqlite: rotate secret: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM signing_secrets WHERE webhook_id = ? AND expire_time <= ?`,
			webhookID, micros(now)); err != nil {
			return fmt.Errorf("sqlite: rotate secret: prune: %w", err)
		}
		if err := insertSecret(ctx, tx, next); err != nil {
			return fmt.Errorf("sqlite: rotate secret: %w", err)
		}
		published, err = s.publishOperational(ctx, tx, webhookd.SecretRotatedEvent(&w, expireOthers))
		return err
	})
	if err == nil && published {
		s.wake()
	}
	return err
}
