package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
)

// secretsJoin aggregates the live secrets (unexpired at the time in parameter
// nowParam) of the webhook w into parallel arrays, newest first, so that a
// webhook and its secrets are read in one statement and one snapshot.
// secrets.seq breaks ties between secrets created in the same instant.
func secretsJoin(nowParam string) string {
	const order = `ORDER BY create_time DESC, seq DESC`
	return fmt.Sprintf(`LEFT JOIN LATERAL (
		SELECT array_agg(id %[1]s) AS ids, array_agg(sealed %[1]s) AS sealed,
		       array_agg(truncated %[1]s) AS truncated, array_agg(create_time %[1]s) AS create_times,
		       array_agg(expire_time %[1]s) AS expire_times
		FROM signing_secrets
		WHERE webhook_id = w.id AND (expire_time IS NULL OR expire_time > %[2]s)
	) sec ON true`, order, nowParam)
}

const secretsColumns = `sec.ids, sec.sealed, sec.truncated, sec.create_times, sec.expire_times`

// secretArrays receives the columns of secretsJoin.
type secretArrays struct {
	ids, truncated []string
	sealed         [][]byte
	createTimes    []time.Time
	expireTimes    []*time.Time
}

func (a *secretArrays) dest() []any {
	return []any{&a.ids, &a.sealed, &a.truncated, &a.createTimes, &a.expireTimes}
}

func (a *secretArrays) secrets(webhookID string) []webhookd.SigningSecret {
	if len(a.ids) == 0 {
		return nil
	}
	out := make([]webhookd.SigningSecret, len(a.ids))
	for i := range a.ids {
		out[i] = webhookd.SigningSecret{
			ID:         a.ids[i],
			WebhookID:  webhookID,
			Sealed:     a.sealed[i],
			Truncated:  a.truncated[i],
			CreateTime: a.createTimes[i],
			ExpireTime: a.expireTimes[i],
		}
	}
	return out
}

const webhookColumns = `w.id, w.project_id, w.name, w.uri, w.subscribed_events, w.state, w.create_time, w.update_time, w.failing_since, w.headers, w.filter`

func scanWebhook(row pgx.CollectableRow) (*webhookd.Webhook, error) {
	var (
		w   webhookd.Webhook
		sec secretArrays
	)
	dest := append([]any{&w.ID, &w.ProjectID, &w.Name, &w.URI, &w.SubscribedEvents, &w.State,
		&w.CreateTime, &w.UpdateTime, &w.FailingSince, &w.Headers, &w.Filter}, sec.dest()...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	w.Secrets = sec.secrets(w.ID)
	return &w, nil
}

// headersOf is w's headers as the jsonb column takes them: {} for none,
// where a nil map would be JSON null.
func headersOf(w *webhookd.Webhook) map[string]string {
	if w.Headers == nil {
		return map[string]string{}
	}
	return w.Headers
}

// CreateWebhook stores w and its secrets in one transaction, assigning ids
// and times left empty; a webhook without a State starts enabled.
func (s *Store) CreateWebhook(ctx context.Context, w *webhookd.Webhook) error {
	w.SetDefaults(s.now())
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO webhooks
			(id, project_id, name, uri, subscribed_events, state, create_time, update_time, failing_since, headers, filter)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			w.ID, w.ProjectID, w.Name, w.URI, w.SubscribedEvents, w.State, w.CreateTime, w.UpdateTime, nullTime(w.FailingSince),
			headersOf(w), w.Filter)
		if err == nil {
			err = insertSecrets(ctx, tx, w.Secrets...)
		}
		return err
	})
	return mapCreateErr(err, "create webhook", "Webhook")
}

// insertSecrets writes secrets, each as insertSecret.
func insertSecrets(ctx context.Context, tx pgx.Tx, secrets ...webhookd.SigningSecret) error {
	for _, sec := range secrets {
		if err := insertSecret(ctx, tx, sec); err != nil {
			return err
		}
	}
	return nil
}

func insertSecret(ctx context.Context, tx pgx.Tx, sec webhookd.SigningSecret) error {
	_, err := tx.Exec(ctx, `INSERT INTO signing_secrets (id, webhook_id, sealed, truncated, create_time, expire_time)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		sec.ID, sec.WebhookID, sec.Sealed, sec.Truncated, sec.CreateTime, nullTime(sec.ExpireTime))
	return err
}

// GetWebhook returns the webhook with its live secrets, newest first.
func (s *Store) GetWebhook(ctx context.Context, projectID, id string) (*webhookd.Webhook, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+webhookColumns+`, `+secretsColumns+`
		FROM webhooks w `+secretsJoin("$3")+`
		WHERE w.project_id = $1 AND w.id = $2`, projectID, id, s.now())
	w, err := pgx.CollectExactlyOneRow(rows, scanWebhook)
	return w, mapErr(err, "get webhook", "Webhook")
}

// ListWebhooks returns a page of a project's webhooks by (CreateTime, ID).
// The zero cursor sorts before every row, so it needs no special case.
func (s *Store) ListWebhooks(ctx context.Context, projectID string, page webhookd.Page) ([]*webhookd.Webhook, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+webhookColumns+`, `+secretsColumns+`
		FROM webhooks w `+secretsJoin("$2")+`
		WHERE w.project_id = $1 AND (w.create_time, w.id) > ($3, $4)
		ORDER BY w.create_time, w.id
		LIMIT $5`, projectID, s.now(), page.After.Time, page.After.ID, limitOf(page.Size))
	ws, err := pgx.CollectRows(rows, scanWebhook)
	return ws, mapErr(err, "list webhooks", "Webhook")
}

// UpdateWebhook writes the mutable fields of w; secrets change only through
// RotateSecret.
func (s *Store) UpdateWebhook(ctx context.Context, w *webhookd.Webhook) error {
	events := w.SubscribedEvents
	if events == nil {
		events = []string{}
	}
	published := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var from webhookd.WebhookState
		if err := tx.QueryRow(ctx, `SELECT state FROM webhooks WHERE project_id = $1 AND id = $2 FOR UPDATE`,
			w.ProjectID, w.ID).Scan(&from); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE webhooks
			SET name = $3, uri = $4, subscribed_events = $5, state = $6, update_time = $7, failing_since = $8,
				headers = $9, filter = $10
			WHERE project_id = $1 AND id = $2`,
			w.ProjectID, w.ID, w.Name, w.URI, events, w.State, orNow(w.UpdateTime, s.now()), nullTime(w.FailingSince),
			headersOf(w), w.Filter)
		if err != nil {
			return err
		}
		ne, ok := webhookd.StateChangeEvent(w, from)
		if !ok {
			return nil
		}
		published, err = s.publishOperational(ctx, tx, ne)
		return err
	})
	if err != nil {
		return mapErr(err, "update webhook", "Webhook")
	}
	if published {
		s.wakeAll()
	}
	return nil
}

// publishOperational publishes the service's own events in tx, and
// reports whether they created deliveries (then the engines are to be
// woken after the commit).
func (s *Store) publishOperational(ctx context.Context, tx pgx.Tx, events ...webhookd.NewEvent) (bool, error) {
	planned, _, err := s.publishTx(ctx, tx, nil, s.now(), events, false)
	if err != nil {
		return false, fmt.Errorf("publish %s: %w", events[0].Type, err)
	}
	return webhookd.NewDeliveries(planned) > 0, nil
}

// DeleteWebhook removes the webhook and its secrets, and fails its pending
// deliveries. Deliveries and attempts are history and stay. The leases of
// deliveries in flight are voided, so a late result cannot revive them.
//
// It locks the deliveries (in id order) before the webhook row, the order in
// which RecordResults takes them, so that a delete racing the results of
// the same webhook's deliveries waits instead of deadlocking.
func (s *Store) DeleteWebhook(ctx context.Context, projectID, id string) error {
	now := s.now()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := exists(ctx, tx, "Webhook", webhookExists, projectID, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE deliveries
			SET state = 'failed', last_error = 'webhook deleted', lease_token = '', update_time = $2
			WHERE id IN (
				SELECT id FROM deliveries WHERE webhook_id = $1 AND state = 'pending' ORDER BY id FOR UPDATE
			)`, id, now)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE project_id = $1 AND id = $2`, projectID, id)
		if err != nil {
			return err
		}
		return affectedOne(tag, "Webhook")
	})
	return mapErr(err, "delete webhook", "Webhook")
}

// RotateSecret adds next as the current secret and brings forward the expiry
// of every other live secret to expireOthers. The webhook row is locked, so
// concurrent rotations apply one after the other. Secrets already expired are
// pruned: they can never sign again.
func (s *Store) RotateSecret(ctx context.Context, projectID, webhookID string, next webhookd.SigningSecret, expireOthers time.Time) error {
	now := s.now()
	next.ID = orID(next.ID, webhookd.PrefixSecret)
	next.SetDefaults(webhookID, now)
	published := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		w := webhookd.Webhook{ID: webhookID, ProjectID: projectID}
		err := tx.QueryRow(ctx, `UPDATE webhooks SET update_time = $3 WHERE project_id = $1 AND id = $2 RETURNING uri`,
			projectID, webhookID, next.CreateTime).Scan(&w.URI)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE signing_secrets SET expire_time = $2
			WHERE webhook_id = $1 AND (expire_time IS NULL OR expire_time > $2)`, webhookID, expireOthers)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM signing_secrets WHERE webhook_id = $1 AND expire_time <= $2`, webhookID, now)
		if err != nil {
			return err
		}
		if err := insertSecret(ctx, tx, next); err != nil {
			return err
		}
		published, err = s.publishOperational(ctx, tx, webhookd.SecretRotatedEvent(&w, expireOthers))
		return err
	})
	if err == nil && published {
		s.wakeAll()
	}
	return mapErr(err, "rotate secret", "Webhook")
}
