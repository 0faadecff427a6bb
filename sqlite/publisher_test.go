package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/webhookd/webhookd"
)

// TestPublisherBatchesAndIsolatesFailures publishes from many goroutines at
// once, every other event invalid: calls share transactions, and each bad
// event fails alone while the good ones of its batch are stored.
func TestPublisherBatchesAndIsolatesFailures(t *testing.T) {
	t.Parallel()
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

	evs, err := s.ListEvents(ctx, p.ID, webhookd.Page{})
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

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PublishEvent(t.Context(), ne); !errors.Is(err, errClosed) {
		t.Errorf("publish after Close: %v, want errClosed", err)
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
