package postgres

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// warnings is a slog handler that keeps the messages of warnings.
type warnings struct {
	mu   *sync.Mutex
	msgs *[]string
}

func (w warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w warnings) WithAttrs([]slog.Attr) slog.Handler           { return w }
func (w warnings) WithGroup(string) slog.Handler                { return w }

func (w warnings) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "message" {
			msg += ": " + a.Value.String()
		}
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	*w.msgs = append(*w.msgs, msg)
	return nil
}

func (w warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	msgs := *w.msgs
	*w.msgs = nil
	return msgs
}

// TestClaimRaisesNoServerWarning checks that the claim's SET LOCAL takes
// effect. PostgreSQL 15 ignores SET LOCAL in a pipeline's implicit
// transaction and only says so in a warning, which the store logs: the claim
// used to run without its planner setting, silently.
func TestClaimRaisesNoServerWarning(t *testing.T) {
	t.Parallel()
	w := warnings{mu: &sync.Mutex{}, msgs: new([]string)}
	s := openInternalWith(t, Options{Logger: slog.New(w)})
	ctx := t.Context()

	// The log does carry the server's warnings.
	if _, err := s.pool.Exec(ctx, claimSettings); err != nil {
		t.Fatal(err)
	}
	if got := w.take(); len(got) != 1 {
		t.Fatalf("a SET LOCAL outside a transaction logged %q, want one server warning", got)
	}

	for range 3 {
		if _, err := s.ClaimDeliveries(ctx, 10, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.take(); len(got) != 0 {
		t.Errorf("claims logged %q, want no warning", got)
	}
}
