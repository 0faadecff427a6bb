package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/webhookd/webhookd"
)

// TestPublishGroups publishes single events from many goroutines at once,
// every third for a project that does not exist and every third with
// invalid data: publishes share commits, each bad one fails alone with its
// own error, and every good one is stored with its delivery.
func TestPublishGroups(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openInternal(t, nil)
	p := &webhookd.Project{Name: "p"}
	if err := s.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateWebhook(ctx, &webhookd.Webhook{ProjectID: p.ID, URI: "https://example.com/h", State: webhookd.WebhookEnabled,
		SubscribedEvents: []string{webhookd.EventBatchSucceeded}}); err != nil {
		t.Fatal(err)
	}
	good := webhookd.NewEvent{ProjectID: p.ID, Type: webhookd.EventBatchSucceeded, Data: json.RawMessage(`{"id":"batches/1"}`)}
	noProject := good
	noProject.ProjectID = "prj_missing"
	invalid := good
	invalid.Data = json.RawMessage(`{not json`)

	const publishers, rounds = 24, 10
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, publishers*rounds)
	for i := range publishers {
		wg.Go(func() {
			<-start
			for range rounds {
				switch i % 3 {
				case 0:
					ev, created, err := s.PublishEvent(ctx, good)
					switch {
					case err != nil:
						errs <- err
					case !created || ev.DeliveryCount != 1:
						errs <- errors.New("a good event was not created with its delivery")
					}
				case 1:
					if _, _, err := s.PublishEvent(ctx, noProject); webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
						errs <- errors.New("an event of a missing project did not fail with ENOTFOUND: " + webhookd.ErrorCode(err))
					}
				case 2:
					if _, _, err := s.PublishEvent(ctx, invalid); webhookd.ErrorCode(err) != webhookd.EINVALID {
						errs <- errors.New("an invalid event did not fail with EINVALID: " + webhookd.ErrorCode(err))
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
	evs, err := s.ListEvents(ctx, p.ID, webhookd.EventFilter{}, webhookd.Page{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if want := publishers / 3 * rounds; len(evs) != want {
		t.Errorf("events stored = %d, want %d", len(evs), want)
	}
	st, err := s.QueueStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != len(evs) {
		t.Errorf("pending deliveries = %d, want one per event (%d)", st.Pending, len(evs))
	}
	if n := s.groups.largest.Load(); n < 2 {
		t.Errorf("largest group = %d: concurrent publishes never shared a commit", n)
	}
}

// TestPublishGroupsLeave: a publish whose caller left before a group took
// it is never written.
func TestPublishGroupsLeave(t *testing.T) {
	t.Parallel()
	s := openInternal(t, nil)
	for range maxGroupLeaders { // every group busy
		s.groups.leaders <- struct{}{}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, _, err := s.PublishEvent(ctx, webhookd.NewEvent{ProjectID: "prj_x", Type: webhookd.EventBatchSucceeded})
		done <- err
	}()
	for waiting := 0; waiting == 0; {
		s.groups.mu.Lock()
		waiting = len(s.groups.waiting)
		s.groups.mu.Unlock()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("PublishEvent after its caller left = %v, want context.Canceled", err)
	}
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	if len(s.groups.waiting) != 0 {
		t.Errorf("%d requests still waiting after their callers left", len(s.groups.waiting))
	}
}
