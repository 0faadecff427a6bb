package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/storetest"
)

// TestPrunePlans checks that retention walks its indexes in order instead of
// scanning the history, which is the largest table the store has.
func TestPrunePlans(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	args := named("before", "idempotent_since", "limit")
	tests := []struct {
		name, query string
		args        []any
		want        []string
	}{
		{"succeeded", sqlPruneSucceeded, args, []string{"INDEX deliveries_succeeded", "INDEX deliveries_event"}},
		{"failed", sqlPruneFailed, args, []string{"INDEX deliveries_failed", "INDEX deliveries_event"}},
		{"undelivered", sqlPruneUndelivered, args, []string{"INDEX events_undelivered", "INDEX deliveries_event"}},
		{"check", sqlPruneCheck, named("ids", "idempotent_since", "succeeded_before", "failed_before"),
			[]string{"INDEX deliveries_event", "sqlite_autoindex_events_1"}},
		{"attempts", sqlPruneAttempts, []any{"[]"}, []string{"INDEX attempts_delivery", "INDEX deliveries_event"}},
		{"deliveries", sqlPruneDeliveries, []any{"[]"}, []string{"INDEX deliveries_event"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan := queryPlan(t, s, tt.query, tt.args...)
			for _, want := range tt.want {
				if !strings.Contains(plan, want) {
					t.Errorf("plan lacks %q:\n%s", want, plan)
				}
			}
			for _, line := range strings.Split(plan, "\n") {
				if strings.HasPrefix(line, "SCAN deliveries") || strings.HasPrefix(line, "SCAN events") ||
					strings.HasPrefix(line, "SCAN attempts") || strings.Contains(line, "TEMP B-TREE FOR ORDER BY") {
					t.Errorf("plan scans or sorts: %q\n%s", line, plan)
				}
			}
		})
	}
}

func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.writer.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// BenchmarkPruneBesideClaims prunes a large history (old succeeded events,
// each with a delivery and an attempt) in batches of 500 while a claim loop
// runs on the same single writer, and reports what the claims saw:
//
//	go test -run '^$' -bench PruneBesideClaims -benchtime 1x ./sqlite
func BenchmarkPruneBesideClaims(b *testing.B) {
	storetest.BenchmarkPruneBesideClaims(b, "SQLite", func(b *testing.B, history, queue int, old time.Time) storetest.PruneLoad {
		s, err := Open(b.Context(), filepath.Join(b.TempDir(), "prune.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		seedPruneLoad(b, s, history, queue, old)
		return storetest.PruneLoad{Store: s, Left: func(ctx context.Context) (left int, err error) {
			err = s.reader.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM attempts)`).Scan(&left)
			return left, err
		}}
	})
}

// seedPruneLoad writes, in one transaction, history events finished at old
// (one succeeded delivery and one attempt each) and queue events whose one
// delivery is pending and due.
func seedPruneLoad(b *testing.B, s *Store, history, queue int, old time.Time) {
	b.Helper()
	now := time.Now()
	tx, err := s.writer.BeginTx(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO projects (id, name, create_time) VALUES ('p', 'p', ?)`, []any{micros(old)}},
		{`WITH RECURSIVE g(n) AS (SELECT 1 WHERE :n > 0 UNION ALL SELECT n + 1 FROM g WHERE n < :n)
			INSERT INTO events (id, project_id, type, payload, create_time, delivery_count)
			SELECT 'e' || n, 'p', 'batch.succeeded', CAST('{"type":"batch.succeeded","data":{}}' AS BLOB), :t + n, 1 FROM g`,
			[]any{sql.Named("n", history), sql.Named("t", micros(old))}},
		{`INSERT INTO deliveries (id, event_id, project_id, kind, uri, state, next_attempt_time, attempt_count, create_time, update_time)
			SELECT 'd' || substr(id, 2), id, 'p', 'dynamic', 'https://example.com/h', 'succeeded', create_time, 1, create_time, create_time FROM events`, nil},
		{`INSERT INTO attempts (id, delivery_id, number, time, status_code, response_body)
			SELECT 'a' || substr(id, 2), id, 1, create_time, 200, 'ok' FROM deliveries`, nil},
		{`WITH RECURSIVE g(n) AS (SELECT 1 WHERE :n > 0 UNION ALL SELECT n + 1 FROM g WHERE n < :n)
			INSERT INTO events (id, project_id, type, payload, create_time, delivery_count)
			SELECT 'q' || n, 'p', 'batch.succeeded', CAST('{"type":"batch.succeeded","data":{}}' AS BLOB), :t, 1 FROM g`,
			[]any{sql.Named("n", queue), sql.Named("t", micros(now))}},
		{`INSERT INTO deliveries (id, event_id, project_id, kind, uri, state, next_attempt_time, create_time, update_time)
			SELECT 'dq' || substr(id, 2), id, 'p', 'dynamic', 'https://example.com/h', 'pending', create_time, create_time, create_time
			FROM events WHERE id LIKE 'q%'`, nil},
	} {
		if _, err := tx.ExecContext(b.Context(), q.sql, q.args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, q.sql)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := s.writer.ExecContext(b.Context(), `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPruneHead measures the worst case of the search: nothing is
// prunable, but the succeeded stream must step over the succeeded
// deliveries of events that also have a failed one (kept for the longer
// failed retention) before it can say so. The search runs on the read pool,
// so the claim loop beside it should barely notice:
//
//	go test -run '^$' -bench PruneHead -benchtime 1x ./sqlite
func BenchmarkPruneHead(b *testing.B) {
	const mixed, queue = 50_000, 1_000
	for b.Loop() {
		b.StopTimer()
		s, err := Open(b.Context(), filepath.Join(b.TempDir(), "head.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		finished := time.Now().Add(-40 * 24 * time.Hour)
		seedPruneLoad(b, s, 0, queue, finished)
		tx, err := s.writer.BeginTx(b.Context(), nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{
			`WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)
			INSERT INTO events (id, project_id, type, payload, create_time, delivery_count)
			SELECT 'm' || n, 'p', 'batch.succeeded', CAST('{}' AS BLOB), ? + n, 2 FROM g`,
			`INSERT INTO deliveries (id, event_id, project_id, kind, uri, state, next_attempt_time, create_time, update_time)
			SELECT 'ds' || id, id, 'p', 'dynamic', 'https://example.com/ok', 'succeeded', create_time, create_time, create_time FROM events WHERE id LIKE 'm%'`,
			`INSERT INTO deliveries (id, event_id, project_id, kind, uri, state, next_attempt_time, create_time, update_time)
			SELECT 'df' || id, id, 'p', 'dynamic', 'https://example.com/dead', 'failed', create_time, create_time, create_time FROM events WHERE id LIKE 'm%'`,
			`ANALYZE`,
		} {
			if _, err := tx.ExecContext(b.Context(), q, mixed, micros(finished)); err != nil && !strings.Contains(q, "ANALYZE") {
				b.Fatalf("seed: %v\n%s", err, q)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		r := storetest.MeasurePruneBesideClaims(b, s, webhookd.PruneParams{
			SucceededBefore: time.Now().Add(-30 * 24 * time.Hour), FailedBefore: time.Now().Add(-90 * 24 * time.Hour), Limit: 500}, 0, 200)
		b.StopTimer()
		if r.Pruned != 0 {
			b.Fatalf("pruned %d events, want none: every one has a failed delivery inside its retention", r.Pruned)
		}
		b.Logf("SQLite, a search over %d kept events beside %d due deliveries:\n%v", mixed, queue, r)
		b.ReportMetric(float64(r.PruneTime.Microseconds())/1000, "search-ms")
		b.ReportMetric(float64(r.During.P99.Microseconds())/1000, "claim-p99-ms")
		b.ReportMetric(float64(r.Baseline.P99.Microseconds())/1000, "alone-p99-ms")
		_ = s.Close()
		b.StartTimer()
	}
}

// TestPruneCheck checks the rule applied under the write lock on its own:
// the search proposes candidates from a snapshot, and by the time the
// writer checks them a delivery may be pending again.
func TestPruneCheck(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "check.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	now := time.Now()
	old, young := micros(now.Add(-40*24*time.Hour)), micros(now.Add(-time.Hour))
	for _, q := range []string{
		`INSERT INTO projects (id, name, create_time) VALUES ('p', 'p', :old)`,
		`INSERT INTO events (id, project_id, type, payload, idempotency_key, create_time, delivery_count) VALUES
			('succeeded', 'p', 't', x'7b7d', '', :old, 1),
			('pending', 'p', 't', x'7b7d', '', :old, 1),
			('failed', 'p', 't', x'7b7d', '', :old, 2),
			('undelivered', 'p', 't', x'7b7d', '', :old, 0),
			('keyed', 'p', 't', x'7b7d', 'k', :young, 0)`,
		`INSERT INTO deliveries (id, event_id, project_id, kind, uri, state, next_attempt_time, create_time, update_time) VALUES
			('d1', 'succeeded', 'p', 'dynamic', 'u', 'succeeded', :old, :old, :old),
			('d2', 'pending', 'p', 'dynamic', 'u', 'pending', :young, :old, :old),
			('d3', 'failed', 'p', 'dynamic', 'u', 'succeeded', :old, :old, :old),
			('d4', 'failed', 'p', 'dynamic', 'u', 'failed', :old, :old, :old)`,
	} {
		if _, err := s.writer.ExecContext(t.Context(), q, sql.Named("old", old), sql.Named("young", young)); err != nil {
			t.Fatalf("seed: %v\n%s", err, q)
		}
	}
	rows, err := s.reader.QueryContext(t.Context(), sqlPruneCheck,
		sql.Named("ids", `["succeeded","pending","failed","undelivered","keyed"]`),
		sql.Named("idempotent_since", micros(now.Add(-webhookd.IdempotencyWindow))),
		sql.Named("succeeded_before", micros(now.Add(-30*24*time.Hour))),
		sql.Named("failed_before", micros(now.Add(-90*24*time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(rows, func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	}, "check")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"succeeded", "undelivered"}; !slices.Equal(got, want) {
		t.Errorf("check kept %v of the candidates, want %v", got, want)
	}
}
