package postgres

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// TestSetLookupsPlanPerExecution checks that the statements that look
// deliveries up by a set of ids never run a generic plan (see customPlans):
// run more than five times while the tables are small, as on a fresh
// deployment, each would otherwise keep a plan that scans the whole table
// however far it grows.
func TestSetLookupsPlanPerExecution(t *testing.T) {
	t.Parallel()
	// One connection: every statement is prepared on it, and
	// pg_prepared_statements, which shows the session's own, lists them all.
	s := openInternalWith(t, Options{MaxConns: 1})
	ctx := t.Context()
	const rounds = 8 // PostgreSQL considers a generic plan from the sixth execution
	old := time.Now().Add(-40 * 24 * time.Hour)
	seedHistory(t, s, "old", rounds, "succeeded", old, time.Second)
	prune := webhookd.PruneParams{SucceededBefore: old.Add(24 * time.Hour), FailedBefore: old.Add(24 * time.Hour), Limit: 1}

	for range rounds {
		events := make([]webhookd.NewEvent, 3)
		for i := range events {
			events[i] = webhookd.NewEvent{
				ProjectID: "p", Type: webhookd.EventBatchSucceeded, Source: "api",
				Data:          json.RawMessage(`{"id":"batches/b1"}`),
				WebhookConfig: &webhookd.WebhookConfig{URIs: []string{"https://example.com/h"}},
			}
		}
		if _, err := s.PublishEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		claims, err := s.ClaimDeliveries(ctx, 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		results := make([]webhookd.Result, len(claims))
		for i, c := range claims {
			results[i] = webhookd.Result{
				DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded,
				Attempt: &webhookd.Attempt{Time: time.Now(), StatusCode: 204},
			}
		}
		if err := s.RecordResults(ctx, results); err != nil {
			t.Fatal(err)
		}
		if n, err := s.PruneEvents(ctx, prune); err != nil || n != 1 {
			t.Fatalf("PruneEvents = %d, %v; want 1 pruned", n, err)
		}
	}

	plans := map[string][2]int64{} // statement → generic, custom
	rows, err := s.pool.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements`)
	if err != nil {
		t.Fatal(err)
	}
	var (
		statement       string
		generic, custom int64
	)
	for rows.Next() {
		if err := rows.Scan(&statement, &generic, &custom); err != nil {
			t.Fatal(err)
		}
		plans[statement] = [2]int64{generic, custom}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, query string }{
		{"claim", claimQuery},
		{"record lock", recordLockQuery},
		{"record", recordQuery},
		{"prune lock", pruneLockQuery},
		{"prune check", pruneCheckQuery},
		{"prune attempts", pruneAttemptsQuery},
		{"prune deliveries", pruneDeliveriesQuery},
		{"prune events", pruneEventsQuery},
	} {
		p, ok := plans[tt.query]
		switch {
		case !ok:
			t.Errorf("%s: not prepared on the connection", tt.name)
		case p[0] != 0 || p[1] < rounds:
			t.Errorf("%s: %d generic and %d custom plans, want 0 and at least %d", tt.name, p[0], p[1], rounds)
		}
	}
}
