package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/internal/fakeclock"
	"github.com/webhookd/webhookd/sqlite"
	"github.com/webhookd/webhookd/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, clock webhookd.Clock) webhookd.Store {
		return open(t, filepath.Join(t.TempDir(), "webhookd.db"), clock)
	})
}

// open opens a store at path and closes it when the test ends.
func open(t *testing.T, path string, clock webhookd.Clock) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{Clock: clock, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if s, err := sqlite.Open(t.Context(), path, sqlite.Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhookd.db")
	ctx := t.Context()

	s, err := sqlite.Open(ctx, path, sqlite.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Migrate(ctx); err != nil || n != 0 {
		t.Errorf("Migrate right after Open = %d, %v; want 0, nil", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, nil)
	if n, err := s.Migrate(ctx); err != nil || n != 0 {
		t.Errorf("Migrate after reopen = %d, %v; want 0, nil", n, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhookd.db")
	ctx := t.Context()
	clock := fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

	s, err := sqlite.Open(ctx, path, sqlite.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	p := &webhookd.Project{Name: "kept", Audience: "aud"}
	if err := s.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	ev, _, err := s.PublishEvent(ctx, webhookd.NewEvent{ProjectID: p.ID, Type: webhookd.EventBatchSucceeded, Data: []byte(`{"id":"batches/1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, clock)
	got, err := s.GetProject(ctx, p.ID)
	if err != nil || got.Name != "kept" || got.Audience != "aud" {
		t.Fatalf("project after reopen = %+v, %v", got, err)
	}
	gotEv, err := s.GetEvent(ctx, p.ID, ev.ID)
	if err != nil || string(gotEv.Payload) != string(ev.Payload) {
		t.Fatalf("event after reopen = %+v, %v; want payload %s", gotEv, err, ev.Payload)
	}
}

// TestConcurrentWritersNeverBusy hammers one store from many goroutines at
// once: the single writer connection serialises their transactions, so none
// may fail with SQLITE_BUSY.
func TestConcurrentWritersNeverBusy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "webhookd.db"), nil)
	p := newProjectWithWebhook(t, s)

	const writers, perWriter = 6, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for range writers {
		wg.Go(func() {
			for range perWriter {
				if _, _, err := s.PublishEvent(ctx, webhookd.NewEvent{ProjectID: p.ID, Type: webhookd.EventBatchSucceeded}); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for range perWriter {
				if err := claimAndSucceed(ctx, s, 5); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	evs, err := s.ListEvents(ctx, p.ID, webhookd.EventFilter{}, webhookd.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != writers*perWriter {
		t.Errorf("events = %d, want %d", len(evs), writers*perWriter)
	}
}

// TestSecondProcessWaitsForTheLock opens a second store on the same file, as
// `webhookd migrate` or a CLI command beside a running server would: its
// writes wait for the first store's (IMMEDIATE transactions, busy timeout)
// instead of failing with SQLITE_BUSY.
func TestSecondProcessWaitsForTheLock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "webhookd.db")
	server := open(t, path, nil)
	cli := open(t, path, nil)
	p := newProjectWithWebhook(t, server)

	const serverEvents, cliEvents = 60, 15
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, w := range []struct {
		s *sqlite.Store
		n int
	}{{server, serverEvents}, {cli, cliEvents}} {
		wg.Go(func() {
			for range w.n {
				if _, _, err := w.s.PublishEvent(ctx, webhookd.NewEvent{ProjectID: p.ID, Type: webhookd.EventBatchSucceeded}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	evs, err := cli.ListEvents(ctx, p.ID, webhookd.EventFilter{}, webhookd.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != serverEvents+cliEvents {
		t.Errorf("events = %d, want %d", len(evs), serverEvents+cliEvents)
	}
}

// newProjectWithWebhook creates a project with one webhook subscribed to
// batch.succeeded.
func newProjectWithWebhook(tb testing.TB, s *sqlite.Store) *webhookd.Project {
	tb.Helper()
	ctx := tb.Context()
	p := &webhookd.Project{Name: "p"}
	if err := s.CreateProject(ctx, p); err != nil {
		tb.Fatal(err)
	}
	w := &webhookd.Webhook{ProjectID: p.ID, URI: "https://example.com/h", State: webhookd.WebhookEnabled,
		SubscribedEvents: []string{webhookd.EventBatchSucceeded},
		Secrets:          []webhookd.SigningSecret{{Sealed: []byte("sealed"), Truncated: "whsec_x..."}}}
	if err := s.CreateWebhook(ctx, w); err != nil {
		tb.Fatal(err)
	}
	return p
}

// claimAndSucceed claims up to limit deliveries and records them delivered.
func claimAndSucceed(ctx context.Context, s *sqlite.Store, limit int) error {
	cs, err := s.ClaimDeliveries(ctx, limit, time.Minute)
	if err != nil {
		return err
	}
	rs := make([]webhookd.Result, len(cs))
	for i, c := range cs {
		rs[i] = webhookd.Result{DeliveryID: c.Delivery.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeSucceeded,
			Attempt: &webhookd.Attempt{Time: time.Now(), StatusCode: 200, Latency: time.Millisecond}}
	}
	return s.RecordResults(ctx, rs)
}
