package postgres

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/storetest"
)

// openInternal opens a store on a fresh schema, dropped when tb ends.
func openInternal(tb testing.TB, clock webhookd.Clock) *Store {
	tb.Helper()
	return openInternalWith(tb, Options{Clock: clock})
}

// openInternalWith is openInternal with options (the schema is made here).
func openInternalWith(tb testing.TB, opts Options) *Store {
	tb.Helper()
	url := os.Getenv("WEBHOOKD_TEST_POSTGRES_URL")
	if url == "" {
		tb.Skip("WEBHOOKD_TEST_POSTGRES_URL not set: skipping PostgreSQL tests")
	}
	ctx := context.Background()
	schema := "test_internal_" + webhookd.NewID("")
	opts.Schema = schema
	s, err := Open(ctx, url, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = s.Close()
		if conn, err := pgx.Connect(ctx, url); err == nil {
			_, _ = conn.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			_ = conn.Close(ctx)
		}
	})
	return s
}

// seedHistory writes n events named prefix1…prefixN, each with one delivery
// in state (and one attempt when finished) last updated at start + i*step,
// then ANALYZEs so that plans see the data.
func seedHistory(tb testing.TB, s *Store, prefix string, n int, state string, start time.Time, step time.Duration) {
	tb.Helper()
	ctx := tb.Context()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO projects (id, name, create_time) VALUES ('p', 'p', $1) ON CONFLICT DO NOTHING`, []any{start}},
		{`INSERT INTO events (id, project_id, type, payload, create_time, delivery_count)
			SELECT $1 || g, 'p', 'batch.succeeded', '{"type":"batch.succeeded","data":{}}', $2::timestamptz + g * $3::bigint * interval '1 microsecond', 1
			FROM generate_series(1, $4::int) g`, []any{prefix, start, step.Microseconds(), n}},
		{`INSERT INTO deliveries (id, event_id, project_id, kind, uri, state, attempt_count, next_attempt_time, create_time, update_time)
			SELECT 'd' || id, id, 'p', 'dynamic', 'https://example.com/h', $2, 1, create_time, create_time, create_time
			FROM events WHERE id LIKE $1 || '%'`, []any{prefix, state}},
		{`INSERT INTO attempts (id, delivery_id, number, time, status_code, response_body)
			SELECT 'a' || id, id, 1, create_time, 200, 'ok'
			FROM deliveries WHERE event_id LIKE $1 || '%' AND state <> 'pending'`, []any{prefix}},
		{`ANALYZE`, nil},
	} {
		if _, err := s.pool.Exec(ctx, q.sql, q.args...); err != nil {
			tb.Fatalf("seed: %v\n%s", err, q.sql)
		}
	}
}

// TestPrunePlans checks that retention walks its partial indexes instead of
// scanning the history, on a table that looks like production: mostly
// recent finished deliveries, a few old ones, a few pending.
func TestPrunePlans(t *testing.T) {
	t.Parallel()
	s := openInternal(t, nil)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// 100 days of history, 9,000 finished events: a cutoff at day 5 matches 5%.
	seedHistory(t, s, "s", 8000, "succeeded", now.Add(-100*24*time.Hour), 18*time.Minute)
	seedHistory(t, s, "f", 1000, "failed", now.Add(-100*24*time.Hour), 144*time.Minute)
	seedHistory(t, s, "q", 100, "pending", now.Add(-time.Hour), time.Second)
	cutoff := now.Add(-95 * 24 * time.Hour)
	since := now.Add(-webhookd.IdempotencyWindow)
	ids := []string{"s1", "s2"}

	tests := []struct {
		name  string
		query string
		args  []any
		want  string
	}{
		{"succeeded", pruneSucceededQuery, []any{cutoff, since, 500}, "deliveries_succeeded"},
		{"failed", pruneFailedQuery, []any{cutoff, since, 500}, "deliveries_failed"},
		{"undelivered", pruneUndeliveredQuery, []any{cutoff, since, 500}, "events_undelivered"},
		{"lock", pruneLockQuery, []any{ids}, "deliveries_event"},
		{"check", pruneCheckQuery, []any{ids, ids, cutoff, cutoff, since}, "deliveries_event"},
		{"delete attempts", pruneAttemptsQuery, []any{ids}, "attempts_delivery"},
		{"delete deliveries", pruneDeliveriesQuery, []any{ids}, "deliveries_event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p := explain(t, s, tt.query, tt.args...); !strings.Contains(p, tt.want) || strings.Contains(p, "Seq Scan on deliveries") ||
				strings.Contains(p, "Seq Scan on events") || strings.Contains(p, "Seq Scan on attempts") {
				t.Errorf("plan does not use %s, or scans a whole table:\n%s", tt.want, p)
			}
		})
	}
}

// TestPruneSkipsLockedDeliveries checks that a prune neither waits for nor
// deletes a delivery another transaction holds (a retry being written, say):
// its event is left for a later batch.
func TestPruneSkipsLockedDeliveries(t *testing.T) {
	t.Parallel()
	s := openInternal(t, nil)
	old := time.Now().Add(-40 * 24 * time.Hour)
	seedHistory(t, s, "e", 2, "succeeded", old, time.Second)
	p := webhookd.PruneParams{SucceededBefore: old.Add(24 * time.Hour), FailedBefore: old.Add(24 * time.Hour), Limit: 10}

	tx, err := s.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(t.Context(), `SELECT FROM deliveries WHERE id = 'de1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if n, err := s.PruneEvents(ctx, p); err != nil || n != 1 {
		t.Fatalf("PruneEvents beside a locked delivery = %d, %v; want 1 (only the unlocked event)", n, err)
	}
	var left string
	if err := s.pool.QueryRow(t.Context(), `SELECT string_agg(id, ',') FROM events`).Scan(&left); err != nil || left != "e1" {
		t.Fatalf("events left: %q, %v; want e1, whose delivery is locked", left, err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneEvents(ctx, p); err != nil || n != 1 {
		t.Fatalf("PruneEvents after the lock ended = %d, %v; want 1", n, err)
	}
}

// BenchmarkPruneBesideClaims prunes a large history (old succeeded events,
// each with a delivery and an attempt) in batches of 500 while a claim loop
// runs, and reports what the claims saw:
//
//	WEBHOOKD_TEST_POSTGRES_URL=… go test -run '^$' -bench PruneBesideClaims -benchtime 1x ./postgres
func BenchmarkPruneBesideClaims(b *testing.B) {
	storetest.BenchmarkPruneBesideClaims(b, "PostgreSQL", func(b *testing.B, history, queue int, old time.Time) storetest.PruneLoad {
		s := openInternal(b, nil)
		seedHistory(b, s, "e", history, "succeeded", old, time.Microsecond)
		seedHistory(b, s, "q", queue, "pending", time.Now().Add(-time.Minute), time.Microsecond)
		return storetest.PruneLoad{Store: s, Left: func(ctx context.Context) (left int, err error) {
			err = s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM attempts)`).Scan(&left)
			return left, err
		}}
	})
}
