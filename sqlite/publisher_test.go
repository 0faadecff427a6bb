package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/webhookd/webhookd"
)

// openWithWebhook opens a store in t.TempDir() with a project and one
// enabled webhook subscribed to batch.succeeded.
func openWithWebhook(t *testing.T) (*Store, *webhookd.Project) {
	t.Helper()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "pub.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	p := &webhookd.Project{Name: "p"}
	if err := s.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateWebhook(ctx, &webhookd.Webhook{ProjectID: p.ID, URI: "https://example.com/h", State: webhookd.WebhookEnabled,
		SubscribedEvents: []string{webhookd.EventBatchSucceeded}}); err != nil {
		t.Fatal(err)
	}
	return s, p
}

// TestPublisherBatchesAndIsolatesFailures publishes from many goroutines at
// once, every other event invalid: calls share transactions, and each bad
// event fails alone while the good ones of its batch are stored.
func TestPublisherBatchesAndIsolatesFailures(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, p := openWithWebhook(t)

	const publishers, rounds = 16, 10
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, publishers*rounds)
	for i := range publishers {
		bad := i%2 == 1
		wg.Go(func() {
			<-start
			for range rounds {
				data := json.RawMessage(`{"id":"batches/1"}`)
				if bad {
					data = json.RawMessage(`{not json`)
				}
				ev, _, err := s.PublishEvent(ctx, webhookd.NewEvent{ProjectID: p.ID, Type: webhookd.EventBatchSucceeded, Data: data})
				switch {
				case bad && webhookd.ErrorCode(err) != webhookd.EINVALID:
					errs <- errors.New("a bad event did not fail with EINVALID: " + webhookd.ErrorCode(err))
				case !bad && err != nil:
					errs <- err
				case !bad && ev.DeliveryCount != 1:
					errs <- errors.New("a good event lost its delivery")
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	evs, err := s.ListEvents(ctx, p.ID, webhookd.EventFilter{}, webhookd.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if want := publishers / 2 * rounds; len(evs) != want {
		t.Errorf("events stored = %d, want %d", len(evs), want)
	}
	st, err := s.QueueStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != len(evs) {
		t.Errorf("pending deliveries = %d, want one per event (%d)", st.Pending, len(evs))
	}
	if n := s.pub.largest.Load(); n < 2 {
		t.Errorf("largest batch = %d: concurrent publishes never shared a transaction", n)
	}
}

// TestPublisherIsolatesFailingBatches mixes single publishes, good batches
// and batches whose last event fails, from many goroutines at once: calls
// share transactions, a failing batch stores nothing and fails alone, and
// everything beside it is stored.
func TestPublisherIsolatesFailingBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, p := openWithWebhook(t)
	good := webhookd.NewEvent{ProjectID: p.ID, Type: webhookd.EventBatchSucceeded, Data: json.RawMessage(`{"id":"batches/1"}`)}
	bad := good
	bad.Data = json.RawMessage(`{not json`)

	const publishers, rounds = 12, 10
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, publishers*rounds)
	for i := range publishers {
		wg.Go(func() {
			<-start
			for range rounds {
				switch i % 3 {
				case 0:
					if _, _, err := s.PublishEvent(ctx, good); err != nil {
						errs <- err
					}
				case 1:
					if got, err := s.PublishEvents(ctx, []webhookd.NewEvent{good, good, good}); err != nil || len(got) != 3 {
						errs <- fmt.Errorf("good batch: %d events, %w", len(got), err)
					}
				case 2:
					_, err := s.PublishEvents(ctx, []webhookd.NewEvent{good, good, bad})
					var e *webhookd.Error
					if !errors.As(err, &e) || e.Code != webhookd.EINVALID || e.Field != "events[2].data" {
						errs <- fmt.Errorf("failing batch: %w, want EINVALID of events[2].data", err)
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	want := publishers / 3 * rounds * (1 + 3)
	evs, err := s.ListEvents(ctx, p.ID, webhookd.EventFilter{}, webhookd.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != want {
		t.Errorf("events stored = %d, want %d", len(evs), want)
	}
	st, err := s.QueueStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != want {
		t.Errorf("pending deliveries = %d, want one per event (%d)", st.Pending, want)
	}
	if n := s.pub.largest.Load(); n < 2 {
		t.Errorf("largest batch = %d: concurrent publishes never shared a transaction", n)
	}

	// A request larger than maxPublishBatch is published whole.
	many := make([]webhookd.NewEvent, maxPublishBatch+10)
	for i := range many {
		many[i] = good
	}
	got, err := s.PublishEvents(ctx, many)
	if err != nil || len(got) != len(many) {
		t.Fatalf("PublishEvents of %d events = %d, %v", len(many), len(got), err)
	}
}

func TestPublishAfterCloseOrCancel(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "pub.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ne := webhookd.NewEvent{ProjectID: "prj_x", Type: webhookd.EventBatchSucceeded}

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := s.PublishEvent(cancelled, ne); !errors.Is(err, context.Canceled) {
		t.Errorf("publish with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := s.PublishEvents(cancelled, []webhookd.NewEvent{ne}); !errors.Is(err, context.Canceled) {
		t.Errorf("batch publish with a cancelled context: %v, want context.Canceled", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PublishEvent(t.Context(), ne); !errors.Is(err, errClosed) {
		t.Errorf("publish after Close: %v, want errClosed", err)
	}
	if _, err := s.PublishEvents(t.Context(), []webhookd.NewEvent{ne}); !errors.Is(err, errClosed) {
		t.Errorf("batch publish after Close: %v, want errClosed", err)
	}
}

func TestListenReturnsOnClose(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "listen.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Listen(context.Background(), func() {}) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Listen after Close = %v, want nil", err)
	}
}
