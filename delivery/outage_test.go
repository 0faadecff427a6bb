package delivery_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/dberr"
)

// downStore is the harness's store, unavailable — as PostgreSQL is while it
// restarts — when down is set: claims and result writes fail with the
// error the PostgreSQL store returns then.
type downStore struct {
	*observedStore
	down          atomic.Bool
	failedRecords atomic.Int64
	heldThree     chan struct{} // closed at the third failed write
	once          sync.Once
}

var errDown = dberr.Map("postgres", &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"},
	dberr.Unavailable, "record results", "Delivery")

func (s *downStore) RecordResults(ctx context.Context, results []webhookd.Result) error {
	if s.down.Load() {
		if s.failedRecords.Add(1) == 3 {
			s.once.Do(func() { close(s.heldThree) })
		}
		return errDown
	}
	return s.observedStore.RecordResults(ctx, results)
}

func (s *downStore) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]*webhookd.Claim, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.observedStore.ClaimDeliveries(ctx, limit, lease)
}

// TestResultsSurviveAnOutage: deliveries sent while the store became
// unavailable are recorded once it is back — not sent again, and not left
// pending until their lease (a minute) ends.
func TestResultsSurviveAnOutage(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	store := &downStore{observedStore: h.store, heldThree: make(chan struct{})}
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		store.down.Store(true) // the database goes away while the attempts are in flight
		w.WriteHeader(http.StatusNoContent)
	})
	wh, _ := h.webhook(rc.URL)
	var events []*webhookd.Event
	for range 5 {
		events = append(events, h.publish(wh.ID))
	}
	cfg := h.config()
	cfg.Store = store
	cfg.Lease = time.Minute // longer than waitLimit: a result left to its lease fails the test
	h.start(cfg)

	select {
	case <-store.heldThree:
	case <-time.After(waitLimit):
		t.Fatal("the engine never tried to record its results")
	}
	store.down.Store(false)
	for _, ev := range events {
		if d := h.waitDone(ev.ID); d.State != webhookd.DeliverySucceeded || d.AttemptCount != 1 {
			t.Errorf("delivery %s: %s after %d attempts, want succeeded after 1", d.ID, d.State, d.AttemptCount)
		}
	}
	if n := len(rc.seen()); n != len(events) {
		t.Errorf("the receiver got %d requests for %d events: results held through the outage must not be sent again", n, len(events))
	}
}
