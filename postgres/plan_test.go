package postgres

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestHotPathPlans checks that the queue's statements use their indexes on a
// table that looks like production: mostly finished deliveries, a few
// pending. A change to a WHERE clause that no longer matches the partial
// index would turn every claim into a scan of the whole history.
func TestHotPathPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t, nil)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO projects (id, name, create_time) VALUES ('p', 'p', $1)`,
		`INSERT INTO events (id, project_id, type, payload, create_time, delivery_count)
			SELECT 'e' || g, 'p', 't', '{}', $1, 1 FROM generate_series(1, 10000) g`,
		`INSERT INTO deliveries (id, event_id, project_id, kind, uri, state, next_attempt_time, create_time, update_time)
			SELECT 'd' || g, 'e' || g, 'p', 'dynamic', 'https://x',
				CASE WHEN g % 100 = 0 THEN 'pending' ELSE 'succeeded' END, $1::timestamptz - g * interval '1 second', $1, $1
			FROM generate_series(1, 10000) g`,
	} {
		if _, err := s.pool.Exec(ctx, q, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}

	ids := make([]string, 100)
	for i := range ids {
		ids[i] = "d" + strconv.Itoa(100*(i+1))
	}
	tests := []struct {
		name  string
		plan  func(t *testing.T) string
		wants []string
	}{
		{
			name: "claim",
			plan: func(t *testing.T) string {
				return explainWith(t, s, claimSettings, claimQuery, now, 100, now.Add(time.Minute), "token")
			},
			wants: []string{"Index Scan using deliveries_due"},
		},
		{
			name: "record",
			plan: func(t *testing.T) string {
				n := len(ids)
				return explain(t, s, recordQuery, ids, make([]string, n), make([]string, n), make([]time.Time, n), make([]string, n),
					make([]bool, n), make([]string, n), make([]time.Time, n), make([]int32, n), make([]int64, n),
					make([]string, n), make([][]byte, n), now, make([]string, n), make([]string, n))
			},
			wants: []string{"deliveries_pkey"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := tt.plan(t)
			if strings.Contains(plan, "Seq Scan on deliveries") {
				t.Errorf("plan scans the whole deliveries table:\n%s", plan)
			}
			for _, want := range tt.wants {
				if !strings.Contains(plan, want) {
					t.Errorf("plan does not use %s:\n%s", want, plan)
				}
			}
		})
	}
}

// TestClaimPlanUnknownBacklog: with no statistics yet (a fresh table, as
// after a deploy; or statistics from before a retry storm), the claim still
// scans deliveries_due in order and stops after its limit. Without
// claimSettings the planner, taking the due rows for a handful, reads all
// 5,000 with a bitmap scan and sorts them.
func TestClaimPlanUnknownBacklog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openInternal(t, nil)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`ALTER TABLE deliveries SET (autovacuum_enabled = off)`, // no statistics during the test
		`INSERT INTO projects (id, name, create_time) VALUES ('p', 'p', $1)`,
		`INSERT INTO events (id, project_id, type, payload, create_time, delivery_count)
			SELECT 'e' || g, 'p', 't', '{}', $1, 1 FROM generate_series(1, 5000) g`,
		`INSERT INTO deliveries (id, event_id, project_id, kind, uri, state, next_attempt_time, create_time, update_time)
			SELECT 'd' || g, 'e' || g, 'p', 'dynamic', 'https://x', 'pending', $1::timestamptz - g * interval '1 second', $1, $1
			FROM generate_series(1, 5000) g`,
	} {
		if _, err := s.pool.Exec(ctx, strings.ReplaceAll(q, "$1", "'"+now.Format(time.RFC3339)+"'")); err != nil {
			t.Fatal(err)
		}
	}
	plan := explainWith(t, s, claimSettings, claimQuery, now, 100, now.Add(time.Minute), "token")
	if !strings.Contains(plan, "Index Scan using deliveries_due") || strings.Contains(plan, "Bitmap Heap Scan on deliveries ") {
		t.Errorf("claim does not scan deliveries_due in order:\n%s", plan)
	}
}

// explain returns PostgreSQL's plan of query with args.
func explain(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	return explainWith(t, s, "", query, args...)
}

// explainWith returns the plan of query with args when it is sent after
// settings, as one batch (as ClaimDeliveries sends claimSettings).
func explainWith(t *testing.T, s *Store, settings, query string, args ...any) string {
	t.Helper()
	var plan strings.Builder
	// As ClaimDeliveries sends them: settings and query in one explicit
	// transaction (SET LOCAL has no effect outside one).
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if settings != "" {
		b.Queue(settings)
	}
	b.Queue("EXPLAIN "+query, args...)
	b.Queue("COMMIT")
	br := s.pool.SendBatch(t.Context(), b)
	defer br.Close()
	execs := 1 // BEGIN
	if settings != "" {
		execs++
	}
	for range execs {
		if _, err := br.Exec(); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := br.Query()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := br.Exec(); err != nil { // COMMIT
		t.Fatal(err)
	}
	return plan.String()
}
