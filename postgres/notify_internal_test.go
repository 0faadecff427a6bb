package postgres

import (
	"strings"
	"testing"
	"time"
)

func TestParseNotifyPayload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		payload, scope, sender string
	}{
		{notifyPayload("bench_1", "abc"), "bench_1", "abc"},
		{notifyPayload("", "abc"), "", "abc"},
		{"public", "public", ""}, // a version before senders: every listener acts on it
		{"", "", ""},
	} {
		scope, sender := parseNotifyPayload(tc.payload)
		if scope != tc.scope || sender != tc.sender {
			t.Errorf("parseNotifyPayload(%q) = %q, %q; want %q, %q", tc.payload, scope, sender, tc.scope, tc.sender)
		}
	}
}

// TestPoolKeepsMinConns: without pool_min_conns in the URL, the pool opens
// DefaultMinConns connections by itself, before any query needs them.
func TestPoolKeepsMinConns(t *testing.T) {
	t.Parallel()
	s := openInternal(t, nil)
	deadline := time.Now().Add(10 * time.Second)
	for s.pool.Stat().TotalConns() < DefaultMinConns {
		if time.Now().After(deadline) {
			t.Fatalf("pool holds %d connections 10s after Open, want %d", s.pool.Stat().TotalConns(), DefaultMinConns)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FuzzNotifyPayload: any payload parses without panicking, and what a store
// sends (a sender is an ID, without spaces) parses back to its parts.
func FuzzNotifyPayload(f *testing.F) {
	f.Add("bench_1", "abc")
	f.Add("\"$user\", public", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, scope, sender string) {
		_, _ = parseNotifyPayload(scope) // any text a client may send
		if strings.ContainsRune(sender, ' ') {
			return
		}
		gotScope, gotSender := parseNotifyPayload(notifyPayload(scope, sender))
		if gotScope != scope || gotSender != sender {
			t.Errorf("parseNotifyPayload(notifyPayload(%q, %q)) = %q, %q", scope, sender, gotScope, gotSender)
		}
	})
}
