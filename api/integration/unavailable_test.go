package integration_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/internal/dberr"
	"github.com/webhookd/webhookd/internal/logtest"
)

// downStore is a store whose publishes fail as PostgreSQL's do while it
// restarts, when down is set.
type downStore struct {
	webhookd.Store
	down atomic.Bool
}

// errRestarting is what the PostgreSQL store returns for a publish on a
// connection the server ended.
var errRestarting = dberr.Map("postgres", &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"},
	dberr.Unavailable, "publish event", "Event")

func (s *downStore) PublishEvent(ctx context.Context, ne webhookd.NewEvent) (*webhookd.Event, bool, error) {
	if s.down.Load() {
		return nil, false, errRestarting
	}
	return s.Store.PublishEvent(ctx, ne)
}

func (s *downStore) Ping(ctx context.Context) error {
	if s.down.Load() {
		return errRestarting
	}
	return nil
}

// TestUnavailableStoreAnswers503: while the store cannot reach its database,
// publishes and /readyz answer 503 UNAVAILABLE with Retry-After, the outage
// is logged once at WARN (not each request at ERROR), and once it is back
// both answer 200 and the log says so, once.
func TestUnavailableStoreAnswers503(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	var store *downStore
	b := setup(t, func(c *api.Config) {
		store = &downStore{Store: c.Store}
		c.Store = store
		c.Ready = store.Ping
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	if webhookd.ErrorCode(errRestarting) != webhookd.EUNAVAILABLE {
		t.Fatalf("the store's error %v has code %q", errRestarting, webhookd.ErrorCode(errRestarting))
	}
	publish := `{"type":"batch.succeeded","data":{"id":"batches/b1"}}`

	store.down.Store(true)
	for range 5 {
		res := b.call(t, "POST", "/v1/events", publish)
		res.fails(t, 503, "UNAVAILABLE", "temporarily unavailable")
		if got := res.header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After = %q, want 1", got)
		}
	}
	ready := b.callKey(t, "", "GET", "/readyz", "")
	ready.fails(t, 503, "UNAVAILABLE", "not ready")
	if ready.header.Get("Retry-After") == "" {
		t.Error("/readyz answered 503 without Retry-After")
	}

	store.down.Store(false)
	b.callKey(t, "", "GET", "/readyz", "").ok(t, nil)
	b.call(t, "POST", "/v1/events", publish).ok(t, nil)

	out := logs.String()
	if n := strings.Count(out, "level=ERROR"); n != 0 {
		t.Errorf("logged %d lines at ERROR:\n%s", n, out)
	}
	if n := strings.Count(out, `level=WARN msg="the store is unavailable`); n != 1 {
		t.Errorf("logged the outage %d times at WARN, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "SQLSTATE 57P01") {
		t.Errorf("the WARN line does not give the cause:\n%s", out)
	}
	if n := strings.Count(out, `msg="the store is available again" failures=6`); n != 1 {
		t.Errorf("logged the end of the outage %d times (with failures=6), want once:\n%s", n, out)
	}
}
