package outage_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/internal/outage"
)

func TestLogOncePerOutage(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := outage.New(slog.New(slog.NewTextHandler(&buf, nil)), clock, "db down", "db back")
	ctx := context.Background()
	boom := errors.New("connection refused")

	l.Succeeded(ctx) // no outage: nothing
	for range 100 {
		l.Failed(ctx, boom)
	}
	if !l.Down() {
		t.Fatal("Down() = false after failures")
	}
	clock.Advance(5 * time.Second)
	l.Succeeded(ctx)
	l.Succeeded(ctx)
	l.Failed(ctx, boom) // a second outage
	l.Succeeded(ctx)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("logged %d lines, want 4 (two outages, a start and an end each):\n%s", len(lines), buf.String())
	}
	for i, want := range []string{
		`level=WARN msg="db down" err="connection refused"`,
		`level=INFO msg="db back" failures=100 down_for=5s`,
		`level=WARN msg="db down"`,
		`level=INFO msg="db back" failures=1 down_for=0s`,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], want)
		}
	}
}
