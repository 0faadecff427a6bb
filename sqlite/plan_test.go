package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestHotPathUsesIndexes guards the plans the throughput depends on: the
// claim must walk the partial index of pending deliveries instead of scanning
// the table, which grows with every delivery ever made.
func TestHotPathUsesIndexes(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	tests := []struct {
		name  string
		query string
		args  []any
		want  string
	}{
		{"claim", sqlClaim, named("now", "lease_end", "limit"), "USING COVERING INDEX deliveries_due"},
		{"record", sqlRecordHead + sqlRecordRow + sqlRecordTail, make([]any, 14), "SEARCH deliveries USING INDEX sqlite_autoindex_deliveries_1"},
		{"list attempts", sqlListAttempts, []any{"d"}, "USING INDEX attempts_delivery"},
		{"attempt number", `SELECT count(*) FROM attempts WHERE delivery_id = ?`, []any{"d"}, "USING COVERING INDEX attempts_delivery"},
		{"due count", `SELECT count(*) FROM deliveries WHERE state = 'pending' AND next_attempt_time <= ?`, []any{int64(0)}, "deliveries_due"},
		{"delete webhook", sqlFailWebhookDeliveries, []any{"e", int64(0), "w"}, "USING INDEX deliveries_webhook"},
		{"idempotency", sqlIdempotentEvent, []any{"p", "k", int64(0)}, "USING INDEX events_idempotency"},
		{"route", sqlRouteWebhooks, []any{"p"}, "USING INDEX webhooks_project"},
		{"list events", `SELECT id FROM events WHERE project_id = ? AND (create_time, id) < (?, ?) ORDER BY create_time DESC, id DESC LIMIT ?`,
			[]any{"p", int64(0), "", 10}, "USING COVERING INDEX events_project"},
		{"claim secrets", sqlClaimWebhooks, []any{int64(0), "[]"}, "USING INDEX signing_secrets_webhook"},
		{"due operations", sqlDueOperations, []any{int64(0), 10}, "INDEX operations_due"},
		{"recover", sqlRecover, named("now", "webhook", "since"), "USING INDEX deliveries_webhook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			joined := queryPlan(t, s, tt.query, tt.args...)
			if !strings.Contains(joined, tt.want) {
				t.Errorf("plan of %s lacks %q:\n%s", tt.name, tt.want, joined)
			}
			// The index must also give the order: sorting would read every
			// matching row before returning the first.
			if strings.Contains(joined, "TEMP B-TREE") && tt.name != "claim secrets" {
				t.Errorf("plan of %s sorts:\n%s", tt.name, joined)
			}
		})
	}
}

// named returns NULL arguments for the named parameters of a statement.
func named(names ...string) []any {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = sql.Named(n, nil)
	}
	return args
}
