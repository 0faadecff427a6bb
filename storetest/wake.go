package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd"
)

// listener is a store that wakes delivery engines after its commits: the
// one way an engine learns of new deliveries before its next poll.
type listener interface {
	Listen(ctx context.Context, wake func()) error
}

// listen starts the store's Listen, waits for the wake-up it makes once it
// listens, and returns the count of the wake-ups after it, and stop, which
// ends Listen and requires that it returns nil. It skips t when the store
// has no Listen.
func (b *bundle) listen(t *testing.T) (woken *atomic.Int64, stop func()) {
	t.Helper()
	l, ok := b.store.(listener)
	if !ok {
		t.Skip("the store does not wake listeners")
	}
	var n atomic.Int64
	listening := make(chan struct{})
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() {
		first := true
		done <- l.Listen(ctx, func() {
			if first {
				first = false
				close(listening)
				return
			}
			n.Add(1)
		})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Listen returned %v after its context ended, want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not call wake within 10s of starting")
	}
	return &n, stop
}

// wakes checks the wake-ups of the store's Listen: a commit that leaves a
// delivery due for a claim wakes each listener once, before the call that
// committed returns, and a call that commits no such delivery wakes none.
// This is what lets a delivery engine start at once after any commit,
// whoever made it (the API, an operation, a retry), without anyone else
// telling it.
func (s suite) wakes(t *testing.T) {
	s.test(t, "Publish", func(t *testing.T, b *bundle) {
		woken, stop := b.listen(t)
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		first := b.publish(t, webhookd.NewEvent{IdempotencyKey: "k"})
		if n := woken.Swap(0); n != 1 {
			t.Fatalf("a publish with a delivery woke %d times, want 1", n)
		}
		if _, created, err := b.store.PublishEvent(b.ctx, b.event(webhookd.NewEvent{IdempotencyKey: "k"})); err != nil || created {
			t.Fatalf("repeated publish: created = %v, err = %v", created, err)
		}
		b.publish(t, webhookd.NewEvent{Type: webhookd.EventBatchExpired}) // no destination
		if n := woken.Load(); n != 0 {
			t.Fatalf("an idempotent repeat and an event without destination woke %d times, want 0", n)
		}
		ds := b.deliveries(t, b.project.ID, first.ID)
		if _, err := b.store.RetryDelivery(b.ctx, b.project.ID, ds[0].ID); err != nil {
			t.Fatal(err)
		}
		if n := woken.Swap(0); n != 1 {
			t.Fatalf("RetryDelivery woke %d times, want 1", n)
		}
		stop()
		b.publish(t, webhookd.NewEvent{})
		if n := woken.Load(); n != 0 {
			t.Fatalf("a publish after Listen returned woke it %d times, want 0", n)
		}
	})

	s.test(t, "PublishEvents", func(t *testing.T, b *bundle) {
		woken, _ := b.listen(t)
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		ok := b.event(webhookd.NewEvent{})
		bad := b.event(webhookd.NewEvent{Type: webhookd.EventWebhookPing, OnlyWebhookID: webhookd.NewID(webhookd.PrefixWebhook)})
		if _, err := b.store.PublishEvents(b.ctx, []webhookd.NewEvent{ok, bad}); err == nil {
			t.Fatal("a batch with an unknown webhook was published")
		}
		if n := woken.Load(); n != 0 {
			t.Fatalf("a rejected batch woke %d times, want 0", n)
		}
		if _, err := b.store.PublishEvents(b.ctx, []webhookd.NewEvent{ok, ok, ok}); err != nil {
			t.Fatal(err)
		}
		if n := woken.Load(); n != 1 {
			t.Fatalf("a batch of 3 events woke %d times, want once", n)
		}
	})

	s.test(t, "OperationChange", func(t *testing.T, b *bundle) {
		woken, _ := b.listen(t)
		b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		must(t, b.store.CommitOperationChange(b.ctx, webhookd.OperationChange{Events: []webhookd.NewEvent{b.event(webhookd.NewEvent{Source: "operation:batches/b1"})}}))
		if n := woken.Load(); n != 1 {
			t.Fatalf("an operation change with an event woke %d times, want 1", n)
		}
	})

	s.test(t, "RecoverDeliveries", func(t *testing.T, b *bundle) {
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		d := b.publishTo(t, w)
		c := b.claimOne(t, d, time.Minute)
		b.record(t, webhookd.Result{DeliveryID: d.ID, LeaseToken: c.Delivery.LeaseToken, Outcome: webhookd.OutcomeFailed, Attempt: b.attempt(500, "")})
		woken, _ := b.listen(t)
		if n, err := b.store.RecoverDeliveries(b.ctx, b.project.ID, w.ID, epoch); err != nil || n != 1 {
			t.Fatalf("RecoverDeliveries = %d, %v; want 1", n, err)
		}
		if n := woken.Swap(0); n != 1 {
			t.Fatalf("a recovery woke %d times, want 1", n)
		}
		if n, err := b.store.RecoverDeliveries(b.ctx, b.project.ID, w.ID, epoch); err != nil || n != 0 {
			t.Fatalf("RecoverDeliveries again = %d, %v; want 0", n, err)
		}
		if n := woken.Load(); n != 0 {
			t.Fatalf("a recovery of nothing woke %d times, want 0", n)
		}
	})

	s.test(t, "NoneWhenAllHandedOff", func(t *testing.T, b *bundle) {
		// The engine that took every new delivery has them: a wake-up
		// would only make it look for them in vain.
		w := b.newWebhook(t, b.project.ID, webhookd.EventBatchSucceeded)
		h := newHandOff(time.Minute)
		b.handOffTo(t, h)
		woken, _ := b.listen(t)
		b.publishTo(t, w)
		h.next(t)
		if n := woken.Load(); n != 0 {
			t.Fatalf("a publish whose delivery was handed off woke %d times, want 0", n)
		}
		h.decide[w.URI] = admission{take: false}
		b.publishTo(t, w)
		if n := woken.Load(); n != 1 {
			t.Fatalf("a publish whose delivery was left to claim woke %d times, want 1", n)
		}
	})
}
