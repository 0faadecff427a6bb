package delivery

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/fakeclock"
)

// TestFailureLog: the first failure to a destination is logged at once; the
// next ones are counted and logged with their count once the destination's
// last line is an interval old, at the next failure, by the flush, or when
// the engine stops. Destinations are counted apart.
func TestFailureLog(t *testing.T) {
	t.Parallel()
	const a, b = "https://a.example:443", "https://b.example:443"
	status := &AttemptError{Stage: StageStatus, StatusCode: 503, Message: "receiver answered 503"}
	timeout := &AttemptError{Stage: StageTimeout, Message: "no response from a.example within 10s"}
	const trace1, trace2 = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	logs := &capture{}
	f := newFailureLog(slog.New(logs), clock, time.Minute)
	t.Cleanup(f.stop)

	f.note(a, status, false, trace1)
	logs.want(t, "the first failure, with its trace id", line{a, 1, 0, "status", 503, trace1})
	f.note(a, status, false, "")
	f.note(a, timeout, true, "")
	f.note(b, status, false, "")
	logs.want(t, "more failures within the interval; another destination's first", line{b, 1, 0, "status", 503, ""})

	clock.Advance(59 * time.Second)
	f.flush()
	logs.want(t, "a flush before the interval")

	clock.Advance(time.Second)
	f.note(a, status, false, trace2)
	logs.want(t, "a failure an interval after the last line, with the latest's trace id", line{a, 3, 1, "status", 503, trace2})

	f.note(b, timeout, false, "")
	clock.Advance(time.Minute)
	f.flush()
	logs.want(t, "the flush an interval later", line{b, 1, 0, "timeout", 0, ""})
	f.flush()
	logs.want(t, "nothing left")
	clock.Advance(time.Minute)
	f.flush() // nothing failed for an interval: forgotten
	if n := len(f.dests); n != 0 {
		t.Errorf("%d destinations remembered after an interval without failures", n)
	}
	f.note(a, timeout, false, "")
	logs.want(t, "a forgotten destination's first failure", line{a, 1, 0, "timeout", 0, ""})
	f.note(a, timeout, false, "")
	f.stop()
	logs.want(t, "the stop", line{a, 1, 0, "timeout", 0, ""})
}

// line is what a failure line must say.
type line struct {
	dest           string
	failed, gaveUp int
	stage          string
	status         int
	traceID        string
}

// capture is a slog.Handler that keeps the WARN records.
type capture struct {
	mu    sync.Mutex
	lines []line
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler           { return c }
func (c *capture) WithGroup(string) slog.Handler                { return c }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "delivery attempts failed" {
		return nil
	}
	var l line
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "destination":
			l.dest = a.Value.String()
		case "failed":
			l.failed = int(a.Value.Int64())
		case "gave_up":
			l.gaveUp = int(a.Value.Int64())
		case "stage":
			l.stage = a.Value.String()
		case "status":
			l.status = int(a.Value.Int64())
		case "trace_id":
			l.traceID = a.Value.String()
		}
		return true
	})
	c.mu.Lock()
	c.lines = append(c.lines, l)
	c.mu.Unlock()
	return nil
}

// take returns the lines written since the last take.
func (c *capture) take() []line {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.lines
	c.lines = nil
	return l
}

// want checks the lines written since the last check.
func (c *capture) want(t *testing.T, when string, want ...line) {
	t.Helper()
	got := c.take()
	if len(got) != len(want) {
		t.Fatalf("%s: lines %+v, want %+v", when, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: lines %+v, want %+v", when, got, want)
		}
	}
}
