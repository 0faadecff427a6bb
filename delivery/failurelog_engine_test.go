package delivery_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/fakeclock"
)

// TestFailedAttemptsAreLogged: failed attempts show at WARN (they were
// logged at DEBUG only, unseen at the default level), one line per
// destination per FailureLogInterval, with the count since its last line.
func TestFailedAttemptsAreLogged(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	h := setup(t, clock)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	wh, _ := h.webhook(rc.URL)
	logs := &syncBuffer{}
	cfg := h.config()
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.FailureLogInterval = time.Minute
	cfg.Breaker.FailureThreshold = 100                                                // no circuit: every delivery is attempted
	cfg.Policy.Schedule, cfg.Policy.Window = []time.Duration{time.Hour}, 24*time.Hour // no retry within the test
	h.start(cfg)

	failed := func(n int) {
		t.Helper()
		var evs []string
		for range n {
			evs = append(evs, h.publish(wh.ID).ID)
		}
		for _, ev := range evs {
			h.waitFor("a failed attempt", func() bool { return h.delivery(ev).AttemptCount == 1 })
		}
	}
	failed(3)
	lines := logs.warnings(t)
	if len(lines) != 1 || lines[0]["failed"] != 1.0 || lines[0]["status"] != 503.0 || lines[0]["stage"] != "status" {
		t.Fatalf("after 3 failed attempts: WARN lines %v; want one, for the first (failed=1, stage status, status 503)", lines)
	}
	clock.Advance(time.Minute)
	failed(1)
	lines = logs.warnings(t)
	if len(lines) != 2 || lines[1]["failed"] != 3.0 || lines[1]["destination"] != lines[0]["destination"] {
		t.Fatalf("an interval later: WARN lines %v; want a second one counting the 2 left and the new one (failed=3)", lines)
	}
}

// syncBuffer is a log sink that tests read while the engine writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// warnings returns the JSON log lines at WARN or above so far.
func (b *syncBuffer) warnings(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["level"] == "WARN" || m["level"] == "ERROR" {
			out = append(out, m)
		}
	}
	return out
}
